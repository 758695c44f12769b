"""BatchNorm2d applied to the (N, C) output of a Linear in a domain classifier (meant BatchNorm1d).
Reported: https://github.com/hehai131/DANN/issues/3 ("expected 4D input (got 2D input)");
also https://github.com/rcdaudt/patch_based_change_detection/issues/1"""
import torch
from torch import nn

INPUT_SHAPE = "N,64"
INPUT_DTYPE = None
FAULT_MODULE = "domain_classifier.d_bn1"
EAGER_SIZES = {"N": 4}


class _Net(nn.Module):
    def __init__(self, bn):
        super().__init__()
        self.domain_classifier = nn.Sequential()
        self.domain_classifier.add_module("d_fc1", nn.Linear(64, 32))
        self.domain_classifier.add_module("d_bn1", bn(32))
        self.domain_classifier.add_module("d_relu1", nn.ReLU())
        self.domain_classifier.add_module("d_fc2", nn.Linear(32, 2))

    def forward(self, x):
        return self.domain_classifier(x)


def build():
    return _Net(nn.BatchNorm2d)


def build_clean():
    return _Net(nn.BatchNorm1d)
