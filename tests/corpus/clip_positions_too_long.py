"""CLIP-style text embeddings add a (1, 77, D) learned position parameter to the token embeddings; a longer
sequence fails only at the addition, with a vague broadcast error.
Reported: https://github.com/huggingface/transformers/issues/32154 ("you don't get errors until the last stage
where you add input_embeds and position_embeddings where you get dimension incompatibility error")"""
import torch
from torch import nn

INPUT_SHAPE = "N,100"
INPUT_DTYPE = "int64"
FAULT_MODULE = "embeddings"
EAGER_SIZES = {"N": 2}


class _Embeddings(nn.Module):
    def __init__(self, max_positions):
        super().__init__()
        self.token_embedding = nn.Embedding(1000, 32)
        self.position_embedding = nn.Parameter(torch.zeros(1, max_positions, 32))

    def forward(self, input_ids):
        return self.token_embedding(input_ids) + self.position_embedding[:, : input_ids.shape[1]]


class _Text(nn.Module):
    def __init__(self, max_positions):
        super().__init__()
        self.embeddings = _Embeddings(max_positions)

    def forward(self, input_ids):
        return self.embeddings(input_ids)


def build():
    return _Text(77)


def build_clean():
    return _Text(128)
