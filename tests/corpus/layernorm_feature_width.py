"""An input LayerNorm declared for 96 features in front of 76-dimensional acoustic features.
Reported: https://github.com/HappyColor/SpeechFormer/issues/3 ("Given normalized_shape=[96], expected input with
shape [*, 96], but got input of size[1, 101, 76]")"""
import torch
from torch import nn

INPUT_SHAPE = "N,T,76"
INPUT_DTYPE = None
FAULT_MODULE = "input_norm"
EAGER_SIZES = {"N": 1, "T": 101}


class _SpeechFormer(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.input_norm = nn.LayerNorm(width)
        self.proj = nn.Linear(76, 32)

    def forward(self, x):
        return self.proj(self.input_norm(x))


def build():
    return _SpeechFormer(96)


def build_clean():
    return _SpeechFormer(76)
