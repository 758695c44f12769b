"""A batched LSTM given a 2-D (batch, hidden) initial state without the layer dimension.
Reported: https://github.com/pytorch/pytorch/pull/3925 (comment: "Expected hidden[0] size (1, 64, 256), got
(64, 256)"); PyTorch now says "For batched 3-D input, hx and cx should also be 3-D\""""
import torch
from torch import nn

INPUT_SHAPE = "N,T,12"
INPUT_DTYPE = None
FAULT_MODULE = "lstm"
EAGER_SIZES = {"N": 4, "T": 7}


class _Net(nn.Module):
    def __init__(self, unsqueeze):
        super().__init__()
        self.unsqueeze = unsqueeze
        self.h0 = nn.Parameter(torch.zeros(1, 16))
        self.lstm = nn.LSTM(12, 16, batch_first=True)

    def forward(self, x):
        h = self.h0.expand(x.size(0), 16)
        if self.unsqueeze:
            h = h.unsqueeze(0).contiguous()
        out, _ = self.lstm(x, (h, h))
        return out


def build():
    return _Net(False)


def build_clean():
    return _Net(True)
