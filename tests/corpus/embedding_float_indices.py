"""Token ids arrive as a float tensor (from torch.Tensor / a float dataset) at nn.Embedding.
Reported: https://github.com/pytorch/pytorch/issues/116598 ("Expected tensor for argument #1 'indices' to have one
of the following scalar types: Long, Int; but got torch.FloatTensor instead (while checking arguments for
embedding)"); also https://github.com/sksq96/pytorch-summary/issues/64"""
import torch
from torch import nn

INPUT_SHAPE = "N,L"
INPUT_DTYPE = None            # float32: the fault
FAULT_MODULE = "embedding"
EAGER_SIZES = {"N": 2, "L": 7}


class _Net(nn.Module):
    def __init__(self, cast):
        super().__init__()
        self.cast = cast
        self.embedding = nn.Embedding(100, 16)
        self.fc = nn.Linear(16, 2)

    def forward(self, x):
        if self.cast:
            x = x.long().clamp(0, 99)
        return self.fc(self.embedding(x).mean(1))


def build():
    return _Net(False)


def build_clean():
    return _Net(True)
