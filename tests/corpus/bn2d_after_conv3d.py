"""A 3-D (group) convolution's 5-D output normalized by BatchNorm2d in a ResNet block.
Reported: https://github.com/adambielski/pytorch-gconv-experiments/issues/1 ("expected 4D input (got 5D input)")"""
import torch
from torch import nn

INPUT_SHAPE = "N,3,4,H,W"
INPUT_DTYPE = None
FAULT_MODULE = "bn1"
EAGER_SIZES = {"N": 2, "H": 8, "W": 8}


class _Block(nn.Module):
    def __init__(self, bn):
        super().__init__()
        self.conv1 = nn.Conv3d(3, 8, 3, padding=1)
        self.bn1 = bn(8)

    def forward(self, x):
        return torch.relu(self.bn1(self.conv1(x)))


def build():
    return _Block(nn.BatchNorm2d)


def build_clean():
    return _Block(nn.BatchNorm3d)
