"""A sub-pixel upsampler whose convolution produces 63 channels for PixelShuffle(4), which needs a multiple of 16.
Reported: https://github.com/Snowfallingplum/SHMT/issues/1 ("pixel_shuffle expects its input's 'channel'
dimension to be divisible by the square of upscale_factor, but input.size(-3)=63 is not divisible by 16")"""
import torch
from torch import nn

INPUT_SHAPE = "N,16,H,W"
INPUT_DTYPE = None
FAULT_MODULE = "upsample.1"
EAGER_SIZES = {"N": 2, "H": 8, "W": 8}


class _Up(nn.Module):
    def __init__(self, cout):
        super().__init__()
        self.upsample = nn.Sequential(nn.Conv2d(16, cout, 3, padding=1), nn.PixelShuffle(4))

    def forward(self, x):
        return self.upsample(x)


def build():
    return _Up(63)


def build_clean():
    return _Up(64)
