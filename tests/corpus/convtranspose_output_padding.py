"""ConvTranspose1d(kernel_size=3, output_padding=1) with the default stride 1: output_padding must be smaller
than the stride or the dilation.
Reported: https://github.com/pytorch/pytorch/issues/56328 ("output padding must be smaller than either stride or
dilation, but got output_padding_height: 0 output_padding_width: 1 stride_height: 1 stride_width: 1")"""
import torch
from torch import nn

INPUT_SHAPE = "N,3,L"
INPUT_DTYPE = None
FAULT_MODULE = "net"
EAGER_SIZES = {"N": 2, "L": 3}


class _Net(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.net = nn.ConvTranspose1d(3, 4, kernel_size=3, stride=stride, output_padding=1)

    def forward(self, x):
        return self.net(x)


def build():
    return _Net(1)


def build_clean():
    return _Net(2)
