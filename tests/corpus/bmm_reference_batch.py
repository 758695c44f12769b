"""Feature matching with torch.bmm between a source chunk (batch 1) and reference features kept with batch 2.
Reported: https://github.com/uthree/tinyvc/issues/3 ("Expected size for first two dimensions of batch2 tensor to
be: [1, 768] but got: [2, 768]")"""
import torch
from torch import nn

INPUT_SHAPE = ("1,T,32", "2,R,32")
INPUT_DTYPE = None
FAULT_MODULE = "matcher"
EAGER_SIZES = {"T": 6, "R": 9}


class _Matcher(nn.Module):
    def __init__(self, merge):
        super().__init__()
        self.merge = merge

    def forward(self, source, reference):
        if self.merge:
            reference = reference.reshape(1, -1, reference.shape[-1])
        return torch.bmm(source, reference.transpose(1, 2))


class _Net(nn.Module):
    def __init__(self, merge):
        super().__init__()
        self.matcher = _Matcher(merge)

    def forward(self, source, reference):
        return self.matcher(source, reference)


def build():
    return _Net(False)


def build_clean():
    return _Net(True)
