"""A CRF decoder block pads two feature maps to whole windows with the padding worked out from one of them; the other
map, made by a convolution that rounds up where the first rounds down, is one row taller, so its padded height is
no multiple of the window and cutting it into windows fails.
Reported: https://github.com/aliyun/NeWCRFs/issues/40 (a 620×420 image: "the process of padding x or v is based on
the size of x, the size of v may get wrong after padding"), the view in window_partition refusing the shape."""
import torch.nn.functional as F
from torch import nn

INPUT_SHAPE = "N,3,29,28"
INPUT_DTYPE = None
FAULT_MODULE = "block"
EAGER_SIZES = {"N": 2}
WINDOW = 7


def _windows(x):
    b, h, w, c = x.shape
    x = x.view(b, h // WINDOW, WINDOW, w // WINDOW, WINDOW, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, WINDOW * WINDOW, c)


class _CRFBlock(nn.Module):
    def __init__(self, pad_to_x):
        super().__init__()
        self.pad_to_x = pad_to_x
        self.q = nn.Linear(16, 16)
        self.kv = nn.Linear(16, 32)

    def forward(self, x, v):  # (N, H, W, C) each
        _, h, w, _ = x.shape
        pad_r, pad_b = (WINDOW - w % WINDOW) % WINDOW, (WINDOW - h % WINDOW) % WINDOW
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        _, hp, wp, _ = x.shape
        if self.pad_to_x:  # the fix: pad (or crop) v to x's padded size
            v = F.pad(v, (0, 0, 0, wp - v.shape[2], 0, hp - v.shape[1]))
        else:
            v = F.pad(v, (0, 0, 0, pad_r, 0, pad_b))
        q = self.q(_windows(x))
        k, values = self.kv(_windows(v)).chunk(2, dim=-1)
        return (q @ k.transpose(-2, -1)).softmax(dim=-1) @ values


class _Decoder(nn.Module):
    def __init__(self, pad_to_x):
        super().__init__()
        self.to_x = nn.Conv2d(3, 16, 2, stride=2)  # floor(H / 2)
        self.to_v = nn.Conv2d(3, 16, 3, stride=2, padding=1)  # ceil(H / 2)
        self.block = _CRFBlock(pad_to_x)

    def forward(self, image):
        return self.block(self.to_x(image).permute(0, 2, 3, 1), self.to_v(image).permute(0, 2, 3, 1))


def build():
    return _Decoder(False)


def build_clean():
    return _Decoder(True)
