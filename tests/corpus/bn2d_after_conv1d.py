"""A Conv1d followed by a 2-D norm layer in an attention branch: BatchNorm2d gets the 3-D (N, C, L) output.
Reported: https://github.com/sunghac/HANet/issues/8 ("batchnorm2d expected 4D input but it seems got 3D input")"""
import torch
from torch import nn

INPUT_SHAPE = "N,32,L"
INPUT_DTYPE = None
FAULT_MODULE = "attention_first.1"
EAGER_SIZES = {"N": 2, "L": 24}


def _net(norm):
    return _Wrap(nn.Sequential(nn.Conv1d(32, 16, kernel_size=1, bias=False), norm(16), nn.ReLU(inplace=True)))


class _Wrap(nn.Module):
    def __init__(self, seq):
        super().__init__()
        self.attention_first = seq

    def forward(self, x):
        return self.attention_first(x)


def build():
    return _net(nn.BatchNorm2d)


def build_clean():
    return _net(nn.BatchNorm1d)
