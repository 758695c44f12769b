"""A Fourier-layer einsum 'bix,iox->box' with weights stored (modes, out, in) instead of (in, out, modes).
Reported: https://github.com/pytorch/pytorch/issues/58380 (from the forum: "einsum() operands do not broadcast
with remapped shapes [original->remapped]")"""
import torch
from torch import nn

INPUT_SHAPE = "N,16,8"
INPUT_DTYPE = None
FAULT_MODULE = "spectral"
EAGER_SIZES = {"N": 3}


class _Spectral(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.weights1 = nn.Parameter(torch.randn(*shape))

    def forward(self, x):
        return torch.einsum("bix,iox->box", x, self.weights1)


class _Net(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.spectral = _Spectral(shape)

    def forward(self, x):
        return self.spectral(x)


def build():
    return _Net((8, 16, 16))


def build_clean():
    return _Net((16, 16, 8))
