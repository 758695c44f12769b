"""A depth head's (N, 1, h, w) output indexed with [:, None] before F.interpolate to the 2-D image size: a 5-D
input with a 2-element size.
Reported: https://github.com/spacewalk01/depth-anything-tensorrt/issues/42 ("Input and output must have the same
number of spatial dimensions, but got input with spatial dimensions of [1, 518, 924] and output size of
(1080, 1920)")"""
import torch
from torch import nn
import torch.nn.functional as F

INPUT_SHAPE = "N,3,H,W"
INPUT_DTYPE = None
FAULT_MODULE = ""
EAGER_SIZES = {"N": 1, "H": 16, "W": 16}


class _Depth(nn.Module):
    def __init__(self, squeeze):
        super().__init__()
        self.squeeze = squeeze
        self.head = nn.Conv2d(3, 1, 3, stride=2, padding=1)

    def forward(self, x):
        depth = self.head(x)
        if self.squeeze:
            depth = depth.squeeze(1)
        return F.interpolate(depth[:, None], (32, 32), mode="bilinear", align_corners=True)


def build():
    return _Depth(False)


def build_clean():
    return _Depth(True)
