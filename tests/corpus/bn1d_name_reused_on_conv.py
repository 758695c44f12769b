"""`self.bn4` is assigned twice in __init__: the BatchNorm1d meant for the fully connected layer replaces the
BatchNorm2d of the fourth convolution, which then gets a 4-D input.
Reported: https://github.com/pytorch/pytorch/issues/6316 ("expected 2D or 3D input (got 4D input)")"""
import torch
from torch import nn

INPUT_SHAPE = "N,1,80,H"
INPUT_DTYPE = None
FAULT_MODULE = "bn4"
EAGER_SIZES = {"N": 2, "H": 16}


class _Encoder(nn.Module):
    def __init__(self, reuse):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, (80, 1))
        self.bn1 = nn.BatchNorm2d(16)
        self.conv4 = nn.Conv2d(16, 16, 1)
        self.bn4 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 8)
        if reuse:
            self.bn4 = nn.BatchNorm1d(8)
        else:
            self.bn_fc = nn.BatchNorm1d(8)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn4(self.conv4(x)))
        x = x.mean(dim=(2, 3))
        return self.bn_fc(self.fc(x)) if hasattr(self, "bn_fc") else self.fc(x)


def build():
    return _Encoder(True)


def build_clean():
    return _Encoder(False)
