"""A U-Net encoder's fourth 2x2 max pooling on a feature map only 1 pixel wide (narrow input image).
Reported: https://github.com/milesial/Pytorch-UNet/issues/134 ("Given input size: (512x4x1). Calculated output
size: (512x2x0). Output size is too small")"""
import torch
from torch import nn

INPUT_SHAPE = "N,1,64,8"      # the width is what matters: 8 -> 4 -> 2 -> 1 -> 0
INPUT_DTYPE = None
FAULT_MODULE = "down4.0"
EAGER_SIZES = {"N": 2}


def _down(cin, cout):
    return nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU())


class _Encoder(nn.Module):
    def __init__(self, depth):
        super().__init__()
        self.inc = nn.Conv2d(1, 8, 3, padding=1)
        self.down1 = _down(8, 16)
        self.down2 = _down(16, 32)
        self.down3 = _down(32, 64)
        self.depth = depth
        self.down4 = _down(64, 64)

    def forward(self, x):
        x = self.down3(self.down2(self.down1(self.inc(x))))
        return self.down4(x) if self.depth == 4 else x


def build():
    return _Encoder(4)


def build_clean():
    return _Encoder(3)
