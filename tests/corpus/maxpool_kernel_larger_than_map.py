"""A fixed MaxPool2d(14) head written for 448-pixel inputs, fed the 7x7 map of a 224-pixel image.
Reported: https://github.com/2014gaokao/pedestrian-attribute-recognition-with-GCN/issues/6 ("Given input size:
(2048x7x7). Calculated output size: (2048x0x0). Output size is too small")"""
import torch
from torch import nn

INPUT_SHAPE = "N,256,7,7"
INPUT_DTYPE = None
FAULT_MODULE = "pooling"
EAGER_SIZES = {"N": 2}


class _Head(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.pooling = nn.MaxPool2d(k, k)
        self.fc = nn.Linear(256, 10)

    def forward(self, feature):
        feature = self.pooling(feature)
        return self.fc(feature.flatten(1))


def build():
    return _Head(14)


def build_clean():
    return _Head(7)
