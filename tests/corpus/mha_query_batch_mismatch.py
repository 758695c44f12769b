"""A learned query of batch 1 attends over keys of batch N with batch_first=True (the query was not expanded).
Reported: https://github.com/pytorch/pytorch/issues/64888 (query (1, 1, 640), key and value (4, 196, 640): "this is
not being cross checked"; PyTorch now refuses)"""
import torch
from torch import nn

INPUT_SHAPE = "4,S,64"
INPUT_DTYPE = None
FAULT_MODULE = "attn"
EAGER_SIZES = {"S": 12}


class _Pool(nn.Module):
    def __init__(self, expand):
        super().__init__()
        self.expand = expand
        self.query = nn.Parameter(torch.zeros(1, 1, 64))
        self.attn = nn.MultiheadAttention(64, 1, batch_first=True)

    def forward(self, feats):
        q = self.query.expand(feats.shape[0], -1, -1) if self.expand else self.query
        return self.attn(q, feats, feats, need_weights=False)[0]


def build():
    return _Pool(False)


def build_clean():
    return _Pool(True)
