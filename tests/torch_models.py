"""Small versions of common CNNs and transformers, written with torch.nn only, and their ONNX export.

Each :class:`Case` holds a module, its example inputs, the dims the export leaves dynamic (named as a user would:
``N``, ``H``, ``W``, ``T``) and the output dims convlint should derive in those names. Widths are tiny so that
exporting and running all of them takes seconds. torch is imported here only; the ONNX path never sees this module.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F


# --- CNNs ---------------------------------------------------------------------------------------------------------

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 7, 2, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        self.layers = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 16, 2), BasicBlock(16, 32, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.block = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return x + self.block(x) if self.use_res else self.block(x)


class MobileNetV2(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),
            InvertedResidual(8, 8, 1, 1), InvertedResidual(8, 12, 2, 6), InvertedResidual(12, 12, 1, 6),
            InvertedResidual(12, 16, 2, 6))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(16, classes))

    def forward(self, x):
        return self.classifier(self.features(x).mean([2, 3]))


def double_conv(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class UNet(nn.Module):
    """A U-Net: skip connections joined by Concat, upsampling by ConvTranspose and by bilinear Resize."""

    def __init__(self, cin=3, classes=2):
        super().__init__()
        self.inc, self.down1, self.down2 = double_conv(cin, 8), double_conv(8, 16), double_conv(16, 32)
        self.up1, self.conv1 = nn.ConvTranspose2d(32, 16, 2, stride=2), double_conv(32, 16)
        self.up2 = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(16, 8, 1))
        self.conv2 = double_conv(16, 8)
        self.out = nn.Conv2d(8, classes, 1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(F.max_pool2d(x1, 2))
        x3 = self.down2(F.max_pool2d(x2, 2))
        y = self.conv1(torch.cat([x2, self.up1(x3)], dim=1))
        y = self.conv2(torch.cat([x1, self.up2(y)], dim=1))
        return self.out(y)


class VGG(nn.Module):
    """VGG's layout: 3x3 conv stacks and max-pools, then Flatten and Linear layers over a fixed 32x32 image."""

    def __init__(self, classes=10):
        super().__init__()
        layers, cin = [], 3
        for v in (8, "M", 16, 16, "M", 32, 32, "M"):
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Dropout(),
                                        nn.Linear(64, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class AudioNet(nn.Module):
    """A 1-D conv net over raw audio (M5-style): strided Conv1d, BatchNorm1d, MaxPool1d, global average."""

    def __init__(self, classes=5):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(1, 8, 80, stride=16), nn.BatchNorm1d(8), nn.ReLU(), nn.MaxPool1d(4),
            nn.Conv1d(8, 16, 3, padding=1), nn.BatchNorm1d(16), nn.ReLU(), nn.MaxPool1d(4),
            nn.Conv1d(16, 16, 3, dilation=2), nn.ReLU())
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        return F.log_softmax(self.fc(F.adaptive_avg_pool1d(self.net(x), 1).squeeze(-1)), dim=-1)


# --- sequence models ----------------------------------------------------------------------------------------------

class Encoder(nn.Module):
    """``nn.TransformerEncoder`` over token embeddings with a causal mask, and an attention-pooled summary (einsum)."""

    def __init__(self, vocab=50, d=16, heads=2, layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d, heads, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, vocab)
        self.score = nn.Linear(d, 1)

    def forward(self, tokens):
        mask = nn.Transformer.generate_square_subsequent_mask(tokens.shape[1])
        h = self.encoder(self.embed(tokens), mask=mask, is_causal=True)
        weights = F.softmax(self.score(h).squeeze(-1), dim=-1)
        return self.head(h), torch.einsum("nt,ntd->nd", weights, h)


class CausalSelfAttention(nn.Module):
    def __init__(self, d, heads, context):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.register_buffer("bias", torch.tril(torch.ones(context, context)).view(1, 1, context, context))

    def forward(self, x):
        b, t, c = x.size()
        q, k, v = self.qkv(x).split(c, dim=2)
        q = q.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        k = k.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        v = v.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :t, :t] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        return self.proj(y)


class GPTBlock(nn.Module):
    def __init__(self, d, heads, context):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, heads, context)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(approximate="tanh"), nn.Linear(4 * d, d))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """A GPT-2-style decoder: token and position embeddings, causal attention by hand, tied LM head."""

    def __init__(self, vocab=64, d=16, heads=2, layers=2, context=32):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.blocks = nn.ModuleList(GPTBlock(d, heads, context) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight

    def forward(self, idx):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


class Recurrent(nn.Module):
    """A bidirectional LSTM followed by a GRU over feature frames, classifying from the last step."""

    def __init__(self, features=6, hidden=8, classes=4):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(2 * hidden, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        y, _ = self.lstm(x)
        y, h = self.gru(y)
        return self.fc(y[:, -1]), h


# --- cases --------------------------------------------------------------------------------------------------------

@dataclass
class Case:
    """A model to export: example inputs, their dynamic axes by name, and the outputs' expected symbolic dims."""

    make: object  # () -> nn.Module
    inputs: tuple  # example tensors, with the dynamic dims at their example sizes
    dynamic: dict  # input name -> {axis: dim name}
    outputs: dict  # output name -> expected dims (ints and dim names)
    sizes: list = field(default_factory=list)  # other sizes of the dynamic dims to run the model at
    # exporter -> dims it cannot keep dynamic in this model, left at the example's size
    specialized: dict = field(default_factory=dict)

    @property
    def input_names(self):
        return list(self.dynamic)


_RNG = torch.Generator().manual_seed(0)


def _image(n=2, c=3, h=32, w=32):
    return torch.randn(n, c, h, w, generator=_RNG)


CASES = {
    "resnet": Case(ResNet, (_image(h=40, w=56),), {"image": {0: "N", 2: "H", 3: "W"}}, {"logits": ("N", 10)},
                   [{"N": 1, "H": 33, "W": 47}]),
    "mobilenet_v2": Case(MobileNetV2, (_image(h=48, w=32),), {"image": {0: "N", 2: "H", 3: "W"}},
                         {"logits": ("N", 10)}, [{"N": 3, "H": 29, "W": 35}]),
    # Concat's inputs must agree; convlint keeps the skip connection's sizes, here H and W.
    "unet": Case(UNet, (_image(h=32, w=48),), {"image": {0: "N", 2: "H", 3: "W"}},
                 {"mask": ("N", 2, "H", "W")}, [{"N": 1, "H": 24, "W": 16}]),
    "vgg": Case(VGG, (_image(),), {"image": {0: "N"}}, {"logits": ("N", 10)}, [{"N": 5}]),
    "audio": Case(AudioNet, (torch.randn(2, 1, 4000, generator=_RNG),), {"audio": {0: "N", 2: "T"}},
                  {"log_probs": ("N", 5)}, [{"N": 3, "T": 6001}]),
    # The TorchScript exporter writes nn.MultiheadAttention's reshapes with the example's sizes as constants.
    "transformer_encoder": Case(Encoder, (torch.randint(0, 50, (2, 7), generator=_RNG),),
                                {"tokens": {0: "N", 1: "T"}}, {"logits": ("N", "T", 50), "summary": ("N", 16)},
                                [{"N": 3, "T": 11}], specialized={"torchscript": ("N", "T")}),
    "gpt": Case(GPT, (torch.randint(0, 64, (2, 9), generator=_RNG),), {"idx": {0: "N", 1: "T"}},
                {"logits": ("N", "T", 64)}, [{"N": 1, "T": 17}]),
    # torch.export specializes an LSTM's sequence length to the example's.
    "recurrent": Case(Recurrent, (torch.randn(2, 9, 6, generator=_RNG),), {"frames": {0: "N", 1: "T"}},
                      {"logits": ("N", 4), "state": (1, "N", 8)}, [{"N": 4, "T": 5}],
                      specialized={"dynamo": ("T",)}),
}


EXPORTERS = ("dynamo", "torchscript")


def dynamic_axes(case: Case, exporter: str) -> dict:
    """The case's dynamic axes less those ``exporter`` bakes into the graph (see ``Case.specialized``)."""
    fixed = case.specialized.get(exporter, ())
    return {name: {a: d for a, d in axes.items() if d not in fixed} for name, axes in case.dynamic.items()}


def export(case: Case, path, exporter: str = "dynamo") -> str:
    """Export ``case`` to ``path`` with ``torch.onnx.export`` (``dynamo`` or ``torchscript``), its dims dynamic and
    named; returns ``path``."""
    torch.manual_seed(0)
    model = case.make().eval()
    options = dict(dynamo=True, verbose=False) if exporter == "dynamo" else dict(dynamo=False, opset_version=17)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, case.inputs, os.fspath(path), input_names=case.input_names,
                          output_names=list(case.outputs), dynamic_axes=dynamic_axes(case, exporter), **options)
    return os.fspath(path)
