"""A multi-input network concatenates its CNN branch features along dim 0 (the batch) instead of dim 1, so the
head's Linear(2 * F) gets F features.
Reported: https://github.com/pytorch/pytorch/issues/139037 ("all = torch.cat((c1, c2, c3, c4, c5, c6), 0)":
RuntimeError: mat1 and mat2 shapes cannot be multiplied)"""
import torch
from torch import nn

INPUT_SHAPE = ("N,3,16,16", "N,3,16,16")
INPUT_DTYPE = None
FAULT_MODULE = "sec.0"
EAGER_SIZES = {"N": 2}


class _MultiInputs(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim
        self.cnn = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten())
        self.sec = nn.Sequential(nn.Linear(2 * 4 * 8 * 8, 10))

    def forward(self, input1, input2):
        c1 = self.cnn(input1)
        c2 = self.cnn(input2)
        return self.sec(torch.cat((c1, c2), self.dim))


def build():
    return _MultiInputs(0)


def build_clean():
    return _MultiInputs(1)
