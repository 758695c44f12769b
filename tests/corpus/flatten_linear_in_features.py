"""TinyVGG: the classifier's Linear takes hidden_units features, but the flattened 7x7 map has hidden_units*7*7.
Reported: https://github.com/mrdbourke/pytorch-deep-learning/issues/763 ("mat1 and mat2 shapes cannot be
multiplied (10x490 and 10x10)")"""
import torch
from torch import nn

INPUT_SHAPE = "N,1,28,28"
INPUT_DTYPE = None
FAULT_MODULE = "classifier.1"
EAGER_SIZES = {"N": 4}


class _TinyVGG(nn.Module):
    def __init__(self, in_features):
        super().__init__()
        h = 10
        self.block_1 = nn.Sequential(nn.Conv2d(1, h, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.block_2 = nn.Sequential(nn.Conv2d(h, h, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(in_features, 10))

    def forward(self, x):
        return self.classifier(self.block_2(self.block_1(x)))


def build():
    return _TinyVGG(10)


def build_clean():
    return _TinyVGG(10 * 7 * 7)
