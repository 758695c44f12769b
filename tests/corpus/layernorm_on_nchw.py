"""nn.LayerNorm(C) put after a convolution on an NCHW map: LayerNorm normalizes the trailing dims, here W.
Reported: https://github.com/ViTAE-Transformer/ViTDet/issues/25 ("Given normalized_shape=[256], expected input
with shape [*, 256], but got input of size[4, 256, 200, 200]")"""
import torch
from torch import nn

INPUT_SHAPE = "N,3,20,20"
INPUT_DTYPE = None
FAULT_MODULE = "norm"
EAGER_SIZES = {"N": 2}


class _Neck(nn.Module):
    def __init__(self, channels_last):
        super().__init__()
        self.channels_last = channels_last
        self.conv = nn.Conv2d(3, 32, 1)
        self.norm = nn.LayerNorm(32)

    def forward(self, x):
        x = self.conv(x)
        if self.channels_last:
            return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.norm(x)


def build():
    return _Neck(False)


def build_clean():
    return _Neck(True)
