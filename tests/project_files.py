"""Files of a small user project, shared by the tests of configuration, reports, folders and pre-commit."""

from __future__ import annotations

import os

# A PyTorch model whose head takes 4 channels from a stem that gives 8. The faulty call is on line HEAD_LINE.
NET_PY = '''from torch import nn


class Net(nn.Module):
    def __init__(self, head_channels=4):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Conv2d(head_channels, 2, 1)

    def forward(self, x):
        return self.head(self.stem(x))


def build():
    return Net()


def build_fixed():
    return Net(head_channels=8)
'''
HEAD_LINE = 11


def write(root, rel: str, text: str) -> str:
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path
