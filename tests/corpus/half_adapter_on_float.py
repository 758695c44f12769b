"""An adapter kept in float16 applied to float32 hidden states on CPU (the rest of the model in float32).
Reported: https://github.com/zjukg/KoPA/issues/11 ("expected mat1 and mat2 to have the same dtype, but got:
float != c10::Half")"""
import torch
from torch import nn

INPUT_SHAPE = "N,32"
INPUT_DTYPE = None
FAULT_MODULE = "adapter"
EAGER_SIZES = {"N": 2}


class _Net(nn.Module):
    def __init__(self, half):
        super().__init__()
        self.body = nn.Linear(32, 32)
        self.adapter = nn.Linear(32, 16)
        if half:
            self.adapter.half()

    def forward(self, x):
        return self.adapter(self.body(x))


def build():
    return _Net(True)


def build_clean():
    return _Net(False)
