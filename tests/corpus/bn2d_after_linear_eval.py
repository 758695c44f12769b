"""BatchNorm2d after the fully connected layer of a change-detection network, linted in eval mode (inference):
the (N, C) input is 2-D.
Reported: https://github.com/rcdaudt/patch_based_change_detection/issues/1 ("replace the nn.BatchNorm2d with the
nn.BatchNorm1d in the self.fc layer. Or it will raise the ValueError: expected 4D input (got 2D input)")"""
import torch
from torch import nn

INPUT_SHAPE = "N,6,H,W"
INPUT_DTYPE = None
FAULT_MODULE = "fc.1"
EAGER_SIZES = {"N": 2, "H": 16, "W": 16}


class _Net(nn.Module):
    def __init__(self, bn):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(6, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(16, 8), bn(8), nn.ReLU(), nn.Linear(8, 2))

    def forward(self, x):
        return self.fc(self.features(x))


def build():
    return _Net(nn.BatchNorm2d).eval()


def build_clean():
    return _Net(nn.BatchNorm1d).eval()
