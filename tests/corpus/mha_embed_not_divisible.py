"""A transformer encoder layer built with d_model=109 features and 4 heads: MultiheadAttention refuses to build.
Reported: https://github.com/layer6ai-labs/SGG-Seq2Seq/issues/3 (d_model 109, nhead 4); the error as in
https://github.com/facebookresearch/detr/issues/499 ("AssertionError: embed_dim must be divisible by num_heads")"""
import torch
from torch import nn

INPUT_SHAPE = "S,N,109"
INPUT_DTYPE = None
FAULT_MODULE = "encoder"
EAGER_SIZES = {"S": 5, "N": 2}


class _Net(nn.Module):
    def __init__(self, nhead):
        super().__init__()
        self.encoder = nn.TransformerEncoderLayer(d_model=109, nhead=nhead, dim_feedforward=64)

    def forward(self, x):
        return self.encoder(x)


def build():
    return _Net(4)


def build_clean():
    return _Net(1)
