"""A U-Net decoder concatenates the upsampled map with the skip connection; for an odd input size the pooled-
then-upsampled map is one pixel short.
Reported: https://github.com/lbktrinh/UNet_scAG/issues/1 ("Sizes of tensors must match except in dimension 2.
Got 70 and 71"); also https://github.com/bigmb/Unet-Segmentation-Pytorch-Nest-of-Unets/issues/55"""
import torch
from torch import nn
import torch.nn.functional as F

INPUT_SHAPE = "N,1,35,35"
INPUT_DTYPE = None
FAULT_MODULE = "up"
EAGER_SIZES = {"N": 2}


class _Up(nn.Module):
    def __init__(self, pad):
        super().__init__()
        self.pad = pad
        self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.conv = nn.Conv2d(16, 8, 3, padding=1)

    def forward(self, x, skip):
        x = self.up(x)
        if self.pad:
            x = F.pad(x, [0, skip.shape[3] - x.shape[3], 0, skip.shape[2] - x.shape[2]])
        return self.conv(torch.cat((skip, x), dim=1))


class _UNet(nn.Module):
    def __init__(self, pad):
        super().__init__()
        self.inc = nn.Conv2d(1, 8, 3, padding=1)
        self.down = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1))
        self.up = _Up(pad)

    def forward(self, x):
        x1 = self.inc(x)
        return self.up(self.down(x1), x1)


def build():
    return _UNet(False)


def build_clean():
    return _UNet(True)
