"""nn.Sequential(LSTM, Linear): the LSTM returns (output, (h, c)) and the Linear receives the tuple.
Reported: https://github.com/pytorch/pytorch/issues/3349 ("Sequential does not allow multi-output modules such as
RNN, LSTM"; linear(): argument 'input' must be Tensor, not tuple)"""
import torch
from torch import nn

INPUT_SHAPE = "T,N,8"
INPUT_DTYPE = None
FAULT_MODULE = "1"
EAGER_SIZES = {"T": 5, "N": 3}


class _LastOutput(nn.Module):
    def forward(self, x):
        return x[0]


def build():
    return nn.Sequential(nn.LSTM(8, 16), nn.Linear(16, 4))


def build_clean():
    return nn.Sequential(nn.LSTM(8, 16), _LastOutput(), nn.Linear(16, 4))
