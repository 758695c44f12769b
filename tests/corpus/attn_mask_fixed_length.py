"""A causal attention mask registered at construction for 25 tokens, used on 109-token sequences.
Reported: https://github.com/ltttpku/CMD-SE-release/issues/3 ("The shape of the 2D attn_mask is
torch.Size([25, 25]), but should be (109, 109).")"""
import torch
from torch import nn

INPUT_SHAPE = "N,109,32"
INPUT_DTYPE = None
FAULT_MODULE = "hoi_parse_attn"
EAGER_SIZES = {"N": 2}


class _Net(nn.Module):
    def __init__(self, length):
        super().__init__()
        self.hoi_parse_attn = nn.MultiheadAttention(32, 4, batch_first=True)
        self.register_buffer("attn_mask", torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1))

    def forward(self, hoi):
        return self.hoi_parse_attn(hoi, hoi, hoi, attn_mask=self.attn_mask, need_weights=False)[0]


def build():
    return _Net(25)


def build_clean():
    return _Net(109)
