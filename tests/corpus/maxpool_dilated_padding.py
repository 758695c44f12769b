"""A dilated MaxPool2d(3, dilation=2, padding=2) meant to keep the size, as a dilated convolution would; PyTorch
limits pooling padding to half the kernel.
Reported: https://github.com/pytorch/pytorch/issues/44942 ("pad should be smaller than half of kernel size, but
got padW = 2, padH = 2, kW = 3, kH = 3"); also https://github.com/pytorch/pytorch/issues/7541"""
import torch
from torch import nn

INPUT_SHAPE = "N,1,H,W"
INPUT_DTYPE = None
FAULT_MODULE = "pool"
EAGER_SIZES = {"N": 2, "H": 12, "W": 12}


class _Net(nn.Module):
    def __init__(self, pad):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, stride=1, padding=2, dilation=2, bias=False)
        self.pool = nn.MaxPool2d(3, stride=1, padding=pad, dilation=2)

    def forward(self, x):
        return self.pool(self.conv(x))


def build():
    return _Net(2)


def build_clean():
    return _Net(1)
