"""An FPN node combines two levels with torch.stack after upsampling the coarser one by 2; for an input whose
stride-2 map is odd (15), the upsampled stride-4 map is 16.
Reported: https://github.com/rwightman/efficientdet-pytorch/issues/57 ("FpnCombine forward stack error":
"stack expects each tensor to be equal size, but got [8, 64, 15, 15] at entry 0 and [8, 64, 16, 16] at entry 1")"""
import torch
from torch import nn
import torch.nn.functional as F

INPUT_SHAPE = "N,3,30,30"
INPUT_DTYPE = None
FAULT_MODULE = "fpn"
EAGER_SIZES = {"N": 2}


class _Combine(nn.Module):
    def __init__(self, to_size):
        super().__init__()
        self.to_size = to_size

    def forward(self, fine, coarse):
        if self.to_size:
            up = F.interpolate(coarse, size=fine.shape[-2:], mode="nearest")
        else:
            up = F.interpolate(coarse, scale_factor=2.0, mode="nearest")
        return torch.stack([fine, up], dim=-1).sum(-1)


class _Det(nn.Module):
    def __init__(self, to_size):
        super().__init__()
        self.p3 = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.p4 = nn.Conv2d(16, 16, 3, stride=2, padding=1)
        self.fpn = _Combine(to_size)

    def forward(self, x):
        p3 = self.p3(x)
        return self.fpn(p3, self.p4(p3))


def build():
    return _Det(False)


def build_clean():
    return _Det(True)
