"""A learned position table nn.Embedding(100, d) indexed by torch.arange(L) for sequences longer than 100.
Reported: https://github.com/bentrevett/pytorch-seq2seq/issues/69 and
https://github.com/bentrevett/pytorch-seq2seq/issues/89 ("index out of range: Tried to access index 100 out of
table with 99 rows")"""
import torch
from torch import nn

INPUT_SHAPE = "N,128"
INPUT_DTYPE = "int64"
FAULT_MODULE = "pos_embedding"
EAGER_SIZES = {"N": 2}


class _Encoder(nn.Module):
    def __init__(self, max_length):
        super().__init__()
        self.tok_embedding = nn.Embedding(1000, 32)
        self.pos_embedding = nn.Embedding(max_length, 32)

    def forward(self, src):
        pos = torch.arange(0, src.shape[1]).unsqueeze(0).repeat(src.shape[0], 1)
        return self.tok_embedding(src) + self.pos_embedding(pos)


def build():
    return _Encoder(100)


def build_clean():
    return _Encoder(200)
