"""Integer token sequences fed straight into an nn.Linear reward head.
Reported: https://github.com/kyegomez/zeta/issues/115 ("mat1 and mat2 must have the same dtype, but got Long and
Float")"""
import torch
from torch import nn

INPUT_SHAPE = "N,16"
INPUT_DTYPE = "int64"
FAULT_MODULE = "policy.0"
EAGER_SIZES = {"N": 2}


class _DPO(nn.Module):
    def __init__(self, cast):
        super().__init__()
        self.cast = cast
        self.policy = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 1))

    def forward(self, seq):
        if self.cast:
            seq = seq.float()
        return self.policy(seq)


def build():
    return _DPO(False)


def build_clean():
    return _DPO(True)
