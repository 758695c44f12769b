"""A (N, L, S) padding mask passed to F.scaled_dot_product_attention over (N, heads, L, D) queries: the mask's
batch dim lines up with the heads and does not broadcast.
Reported: https://github.com/pytorch/pytorch/pull/178097 (for issue #177482: "A mask of shape (N, L, S) fails with
RuntimeError when Hq > 1; a mask of shape (N, Hq, L, S) works")"""
import torch
from torch import nn
import torch.nn.functional as F

INPUT_SHAPE = "2,L,64"
INPUT_DTYPE = None
FAULT_MODULE = "attn"
EAGER_SIZES = {"L": 6}


class _SelfAttention(nn.Module):
    def __init__(self, per_head):
        super().__init__()
        self.per_head = per_head
        self.qkv = nn.Linear(64, 3 * 64)

    def forward(self, x):
        n, length, _ = x.shape
        q, k, v = self.qkv(x).reshape(n, length, 3, 4, 16).permute(2, 0, 3, 1, 4)
        mask = torch.ones(n, length, length, dtype=torch.bool)
        if self.per_head:
            mask = mask[:, None]
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


class _Net(nn.Module):
    def __init__(self, per_head):
        super().__init__()
        self.attn = _SelfAttention(per_head)

    def forward(self, x):
        return self.attn(x)


def build():
    return _Net(False)


def build_clean():
    return _Net(True)
