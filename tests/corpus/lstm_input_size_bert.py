"""A BiLSTM over encoder features declared with input_size 1024 (BERT-large) but fed 768-wide BERT-base features.
Reported: https://github.com/ljynlp/W2NER/issues/23 ("input.size(-1) must be equal to input_size. Expected 1024,
got 768")"""
import torch
from torch import nn

INPUT_SHAPE = "N,T,768"
INPUT_DTYPE = None
FAULT_MODULE = "encoder"
EAGER_SIZES = {"N": 2, "T": 9}


class _Net(nn.Module):
    def __init__(self, bert_hid):
        super().__init__()
        self.encoder = nn.LSTM(bert_hid, 64, batch_first=True, bidirectional=True)

    def forward(self, x):
        return self.encoder(x)[0]


def build():
    return _Net(1024)


def build_clean():
    return _Net(768)
