"""F.avg_pool2d(out, 4) at the end of a small ResNet whose last feature map is only 4x3 for the input used.
Reported: https://github.com/ABadCandy/BaiDuBigData19-URFC/issues/4 ("Given input size: (2432x4x3). Calculated
output size: (2432x1x0). Output size is too small")"""
import torch
from torch import nn
import torch.nn.functional as F

INPUT_SHAPE = "N,7,16,12"
INPUT_DTYPE = None
FAULT_MODULE = "visit_model"
EAGER_SIZES = {"N": 2}


class _Visit(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.k = k
        self.conv1 = nn.Conv2d(7, 16, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)

    def forward(self, x):
        out = self.conv2(torch.relu(self.conv1(x)))
        out = F.avg_pool2d(out, self.k)
        return out.flatten(1)


class _Net(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.visit_model = _Visit(k)

    def forward(self, x):
        return self.visit_model(x)


def build():
    return _Net(4)


def build_clean():
    return _Net(3)
