"""An image-row LSTM fed (batch, rows, cols) without batch_first=True: it takes the 28 rows as the batch, and
the initial state built from x.size(0) no longer matches.
Reported: https://github.com/patrickloeber/pytorch-examples/issues/2 ("Expected hidden size (1, 4, 128), got
[1, 28, 128]")"""
import torch
from torch import nn

INPUT_SHAPE = "4,28,28"
INPUT_DTYPE = None
FAULT_MODULE = "lstm"
EAGER_SIZES = {}


class _RNN(nn.Module):
    def __init__(self, batch_first):
        super().__init__()
        self.lstm = nn.LSTM(28, 128, batch_first=batch_first)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        h0 = torch.zeros(1, x.size(0), 128)
        c0 = torch.zeros(1, x.size(0), 128)
        out, _ = self.lstm(x, (h0, c0))
        return self.fc(out[:, -1, :])


def build():
    return _RNN(False)


def build_clean():
    return _RNN(True)
