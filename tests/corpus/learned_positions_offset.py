"""fairseq/ESM-style learned positions: positions start at padding_idx + 1, so a table of max_positions + 2 rows
holds sequences up to max_positions; a longer protein indexes past the table.
Reported: https://github.com/facebookresearch/esm/issues/49 ("Proteins longer than 1024 causes an exception":
IndexError: index out of range in self)"""
import torch
from torch import nn

INPUT_SHAPE = "N,1100"
INPUT_DTYPE = "int64"
FAULT_MODULE = "embed_positions"
EAGER_SIZES = {"N": 1}


class _ESM(nn.Module):
    def __init__(self, max_positions):
        super().__init__()
        self.padding_idx = 1
        self.embed_tokens = nn.Embedding(33, 16, padding_idx=1)
        self.embed_positions = nn.Embedding(max_positions + self.padding_idx + 1, 16, padding_idx=1)

    def forward(self, tokens):
        positions = torch.arange(tokens.shape[1]) + self.padding_idx + 1
        return self.embed_tokens(tokens) + self.embed_positions(positions)


def build():
    return _ESM(1024)


def build_clean():
    return _ESM(2048)
