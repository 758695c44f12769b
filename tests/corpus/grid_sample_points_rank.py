"""point_sample: per-point coordinates (N, P, 2) passed to F.grid_sample without the unsqueeze to (N, P, 1, 2).
Reported: https://github.com/czczup/ViT-Adapter/issues/6 ("grid_sampler(): expected 4D or 5D input and grid with
same number of dimensions, but got input with sizes [20, 1, 512, 512, 3] and grid with sizes [20, 12544, 1, 2]")"""
import torch
from torch import nn
import torch.nn.functional as F

INPUT_SHAPE = ("N,8,H,W", "N,P,2")
INPUT_DTYPE = None
FAULT_MODULE = ""
EAGER_SIZES = {"N": 2, "H": 8, "W": 8, "P": 5}


class _PointSample(nn.Module):
    def __init__(self, unsqueeze):
        super().__init__()
        self.unsqueeze = unsqueeze

    def forward(self, feats, points):
        grid = 2.0 * points - 1.0
        if self.unsqueeze:
            grid = grid.unsqueeze(2)
        return F.grid_sample(feats, grid, align_corners=False)


def build():
    return _PointSample(False)


def build_clean():
    return _PointSample(True)
