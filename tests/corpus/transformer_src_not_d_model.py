"""nn.Transformer(d_model=64) fed source features of width 48 (the embedding size) without a projection.
Reported: check added in https://github.com/pytorch/pytorch/pull/20170 ("the feature number of src and tgt must
be equal to d_model"); users hitting it: https://github.com/OpenNMT/OpenNMT-py/issues/1534 (word features widen
the source embedding past the model size)"""
import torch
from torch import nn

INPUT_SHAPE = ("S,N,48", "T,N,64")
INPUT_DTYPE = None
FAULT_MODULE = "transformer"
EAGER_SIZES = {"S": 6, "T": 5, "N": 2}


class _Net(nn.Module):
    def __init__(self, project):
        super().__init__()
        self.proj = nn.Linear(48, 64) if project else nn.Identity()
        self.transformer = nn.Transformer(d_model=64, nhead=4, num_encoder_layers=1, num_decoder_layers=1,
                                          dim_feedforward=32)

    def forward(self, src, tgt):
        return self.transformer(self.proj(src), tgt)


def build():
    return _Net(False)


def build_clean():
    return _Net(True)
