"""A 2-layer bidirectional GRU given an initial state of num_layers rows instead of num_layers * 2.
Reported: https://programmerah.com/runtimeerror-expected-hidden0-size-x-x-x-gotx-x-x-39265/ (h0 of a
bidirectional LSTM: "Expected hidden[0] size ...")"""
import torch
from torch import nn

INPUT_SHAPE = "T,N,16"
INPUT_DTYPE = None
FAULT_MODULE = "gru"
EAGER_SIZES = {"T": 5, "N": 3}


class _Net(nn.Module):
    def __init__(self, directions):
        super().__init__()
        self.directions = directions
        self.gru = nn.GRU(16, 20, num_layers=2, bidirectional=True)

    def forward(self, x):
        h0 = torch.zeros(2 * self.directions, x.size(1), 20)
        out, _ = self.gru(x, h0)
        return out


def build():
    return _Net(1)


def build_clean():
    return _Net(2)
