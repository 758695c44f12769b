"""A TensorFlow port keeps padding='same' on a stride-2 stem convolution; PyTorch refuses 'same' with a stride.
Reported: https://github.com/alvinliu0/HA2G/issues/16 ("ValueError: padding='same' is not supported for strided
convolutions"); also https://github.com/pytorch/pytorch/issues/67551"""
import torch
from torch import nn

INPUT_SHAPE = "N,3,H,W"
INPUT_DTYPE = None
FAULT_MODULE = "stem"
EAGER_SIZES = {"N": 2, "H": 16, "W": 16}


class _Net(nn.Module):
    def __init__(self, padding):
        super().__init__()
        self.stem = nn.Conv2d(3, 64, kernel_size=7, stride=2, dilation=1, groups=1, bias=True, padding=padding)

    def forward(self, x):
        return self.stem(x)


def build():
    return _Net("same")


def build_clean():
    return _Net(3)
