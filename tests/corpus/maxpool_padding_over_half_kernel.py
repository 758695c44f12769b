"""MaxPool2d(kernel_size=2, padding=2): pooling padding may be at most half the kernel.
Reported: https://github.com/pytorch/pytorch/issues/103423 ("pad should be at most half of effective kernel size,
but got pad=2, kernel_size=2 and dilation=1"); also https://github.com/pytorch/pytorch/issues/3298"""
import torch
from torch import nn

INPUT_SHAPE = "N,3,H,W"
INPUT_DTYPE = None
FAULT_MODULE = "pool"
EAGER_SIZES = {"N": 2, "H": 16, "W": 16}


class _LeNet(nn.Module):
    def __init__(self, pad):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, kernel_size=2, padding=2, stride=1)
        self.pool = nn.MaxPool2d(padding=pad, kernel_size=2)

    def forward(self, x):
        return self.pool(self.conv(x))


def build():
    return _LeNet(2)


def build_clean():
    return _LeNet(1)
