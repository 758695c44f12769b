"""A warp whose flow head predicts 4 channels, so the sampling grid ends in 4 instead of 2 coordinates.
Reported: https://github.com/Parskatt/RoMaV2/issues/30 ("grid_sampler(): expected grid to have size 2 in last
dimension, but got grid with sizes [1, 1, 864, 2302, 4]")"""
import torch
from torch import nn
import torch.nn.functional as F

INPUT_SHAPE = "N,3,H,W"
INPUT_DTYPE = None
FAULT_MODULE = ""
EAGER_SIZES = {"N": 1, "H": 8, "W": 8}


class _Warp(nn.Module):
    def __init__(self, coords):
        super().__init__()
        self.flow = nn.Conv2d(3, coords, 3, padding=1)

    def forward(self, im):
        grid = torch.tanh(self.flow(im)).permute(0, 2, 3, 1)
        return F.grid_sample(im, grid, mode="bilinear", align_corners=False)


def build():
    return _Warp(4)


def build_clean():
    return _Warp(2)
