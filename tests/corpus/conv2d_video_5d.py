"""A frame-level 2-D CNN fed a (batch, segments, C, H, W) video clip without folding the segments into the batch.
Reported: https://github.com/RaivoKoot/Video-Dataset-Loading-Pytorch/issues/22 ("Expected 3D (unbatched) or 4D
(batched) input to conv2d, but got input of size: [125, 5, 3, 224, 224]")"""
import torch
from torch import nn

INPUT_SHAPE = "N,5,3,H,W"
INPUT_DTYPE = None
FAULT_MODULE = "backbone.0"
EAGER_SIZES = {"N": 2, "H": 16, "W": 16}


class _Net(nn.Module):
    def __init__(self, fold):
        super().__init__()
        self.fold = fold
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))

    def forward(self, video):
        b, s = video.shape[:2]
        if self.fold:
            video = video.reshape(b * s, *video.shape[2:])
        feats = self.backbone(video)
        return feats.reshape(b, s, -1).mean(1)


def build():
    return _Net(False)


def build_clean():
    return _Net(True)
