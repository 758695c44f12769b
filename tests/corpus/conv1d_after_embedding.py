"""A text CNN feeds the embedding's (N, L, E) output to Conv1d(E, ...) without permuting to (N, E, L).
Reported: https://github.com/ZephyrChenzf/text-classification-pytorch/issues/1 (Conv1d expects
(batch_size, embedding_dim, length); the permute was commented out)"""
import torch
from torch import nn

INPUT_SHAPE = "N,50"
INPUT_DTYPE = "int64"
FAULT_MODULE = "conv"
EAGER_SIZES = {"N": 3}


class _TextCNN(nn.Module):
    def __init__(self, permute):
        super().__init__()
        self.permute = permute
        self.embedding = nn.Embedding(500, 64)
        self.conv = nn.Conv1d(64, 32, 3)

    def forward(self, x):
        x = self.embedding(x)
        if self.permute:
            x = x.permute(0, 2, 1)
        return self.conv(x).amax(-1)


def build():
    return _TextCNN(False)


def build_clean():
    return _TextCNN(True)
