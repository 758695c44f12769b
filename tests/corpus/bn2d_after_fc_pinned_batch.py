"""A lip-reading model's back end normalizes the (N, C) output of its Linear with BatchNorm2d (a typo for
BatchNorm1d); linted with the batch size pinned, as in a training configuration.
Reported: https://github.com/mpc001/end-to-end-lipreading/issues/1 ("Possible typo [ValueError: expected 4D input
(got 2D input)]")"""
import torch
from torch import nn

INPUT_SHAPE = "16,512"
INPUT_DTYPE = None
FAULT_MODULE = "fc.1"
EAGER_SIZES = {}


class _Backend(nn.Module):
    def __init__(self, bn):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(512, 256), bn(256), nn.ReLU(), nn.Linear(256, 500))

    def forward(self, x):
        return self.fc(x)


def build():
    return _Backend(nn.BatchNorm2d)


def build_clean():
    return _Backend(nn.BatchNorm1d)
