"""A KAN layer flattens its input with x.view(-1, in_features); fed a transposed (non-contiguous) tensor, view
cannot merge the dims.
Reported: https://github.com/Blealtan/efficient-kan/issues/36 ("view size is not compatible with input tensor's
size and stride (at least one dimension spans across two contiguous subspaces). Use .reshape(...) instead.")"""
import torch
from torch import nn

INPUT_SHAPE = "N,16,T"
INPUT_DTYPE = None
FAULT_MODULE = "layer"
EAGER_SIZES = {"N": 2, "T": 5}


class _KANLinear(nn.Module):
    def __init__(self, in_features, out_features, use_reshape):
        super().__init__()
        self.in_features = in_features
        self.use_reshape = use_reshape
        self.base = nn.Linear(in_features, out_features)

    def forward(self, x):
        shape = x.shape
        x = x.reshape(-1, self.in_features) if self.use_reshape else x.view(-1, self.in_features)
        return self.base(x).reshape(*shape[:-1], -1)


class _Net(nn.Module):
    def __init__(self, use_reshape):
        super().__init__()
        self.layer = _KANLinear(16, 8, use_reshape)

    def forward(self, x):
        return self.layer(x.transpose(1, 2))


def build():
    return _Net(False)


def build_clean():
    return _Net(True)
