"""MultiheadAttention built without batch_first=True, fed (N, L, E) with an (N, L) key_padding_mask: it takes L as
the batch, so the mask's shape does not fit.
Reported: https://github.com/pytorch/pytorch/issues/122959 ("RuntimeError with PyTorch's MultiheadAttention: How
to resolve shape mismatch?"; answer: "I forgot to set batch_first=True")"""
import torch
from torch import nn

INPUT_SHAPE = "4,10,32"
INPUT_DTYPE = None
FAULT_MODULE = "attn"
EAGER_SIZES = {}


class _Net(nn.Module):
    def __init__(self, batch_first):
        super().__init__()
        self.attn = nn.MultiheadAttention(32, 4, batch_first=batch_first)

    def forward(self, x):
        pad = torch.zeros(x.shape[0], x.shape[1], dtype=torch.bool)
        return self.attn(x, x, x, key_padding_mask=pad, need_weights=False)[0]


def build():
    return _Net(False)


def build_clean():
    return _Net(True)
