"""The initial state carries two layers for a one-layer LSTM.
Reported: https://github.com/ngarneau/understanding-pytorch-batching-lstm/issues/1 ("Expected hidden[0] size
(1, 32, 32), got (2, 32, 32)")"""
import torch
from torch import nn

INPUT_SHAPE = "N,T,8"
INPUT_DTYPE = None
FAULT_MODULE = "lstm"
EAGER_SIZES = {"N": 4, "T": 6}


class _Net(nn.Module):
    def __init__(self, state_layers):
        super().__init__()
        self.state_layers = state_layers
        self.lstm = nn.LSTM(8, 32, num_layers=1, batch_first=True)

    def forward(self, x):
        h = torch.zeros(self.state_layers, x.size(0), 32)
        out, _ = self.lstm(x, (h, h))
        return out


def build():
    return _Net(2)


def build_clean():
    return _Net(1)
