"""A UNet's normalization() helper builds GroupNorm(32, channels) for a width that 32 does not divide.
Reported: https://github.com/atong01/conditional-flow-matching/issues/161 ("ValueError: num_channels must be
divisible by num_groups"); also https://github.com/Seunggu0305/VLCounter/issues/6"""
import torch
from torch import nn

INPUT_SHAPE = "N,3,H,W"
INPUT_DTYPE = None
FAULT_MODULE = "block.1"
EAGER_SIZES = {"N": 2, "H": 8, "W": 8}


class _ResBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.GroupNorm(32, channels), nn.SiLU())

    def forward(self, x):
        return self.block(x)


def build():
    return _ResBlock(48)


def build_clean():
    return _ResBlock(64)
