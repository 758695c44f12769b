"""The LSTM's initial state is built with the training batch size (32), so the last, smaller batch fails.
Reported: https://github.com/miyamotok0105/pytorch_handbook/issues/11 ("Expected hidden[0] size (1, 32, 256),
got [1, 8, 256]"); also https://github.com/gabrielloye/LSTM_Sentiment-Analysis/issues/4"""
import torch
from torch import nn

INPUT_SHAPE = "8,T,16"        # the batch is pinned: the fault is for every batch but 32
INPUT_DTYPE = None
FAULT_MODULE = "lstm"
EAGER_SIZES = {"T": 5}


class _Net(nn.Module):
    def __init__(self, fixed):
        super().__init__()
        self.fixed = fixed
        self.batch_size = 32
        self.lstm = nn.LSTM(16, 24, batch_first=True)
        self.fc = nn.Linear(24, 2)

    def forward(self, x):
        b = self.batch_size if self.fixed else x.size(0)
        h0 = torch.zeros(1, b, 24)
        c0 = torch.zeros(1, b, 24)
        out, _ = self.lstm(x, (h0, c0))
        return self.fc(out[:, -1])


def build():
    return _Net(True)


def build_clean():
    return _Net(False)
