"""Real architectures exported to ONNX for the bench: ResNet-50, BERT-base and GPT-2 (124M), built from their
transformers configuration classes with seeded random weights (nothing is downloaded), exported by
``torch.onnx.export`` (the TorchScript exporter, opset 17) with their batch and size dims dynamic, as most users
export them. ``write(name, path)`` makes the file once; the bench then times it like its generated models."""

from __future__ import annotations

import os
import warnings

EXPORTS = ("resnet50", "bert-base", "gpt2")


def _build(name: str):
    """(module, example inputs, input names, dynamic axes)."""
    import torch
    import transformers as tf

    class LastHidden(torch.nn.Module):
        """The model called by keyword, as its own code expects, returning its last hidden state."""

        def __init__(self, model, keyword, mask=False):
            super().__init__()
            self.model, self.keyword, self.mask = model, keyword, mask

        def forward(self, x):
            extra = {"attention_mask": torch.ones_like(x)} if self.mask else {}  # no packed-sequence search (diff)
            return self.model(**{self.keyword: x}, **extra).last_hidden_state

    torch.manual_seed(0)
    if name == "resnet50":
        model = LastHidden(tf.ResNetModel(tf.ResNetConfig()), "pixel_values")  # the defaults are ResNet-50's
        return model, (torch.randn(1, 3, 224, 224),), ["pixel_values"], {"pixel_values": {0: "N", 2: "H", 3: "W"}}
    ids = torch.randint(0, 1000, (1, 128))
    if name == "bert-base":
        model = tf.BertModel(tf.BertConfig())  # the defaults are bert-base's
    elif name == "gpt2":
        model = tf.GPT2Model(tf.GPT2Config(use_cache=False))  # the defaults are GPT-2 small's
    else:
        raise ValueError(f"unknown export {name!r}; choose from {', '.join(EXPORTS)}")
    return LastHidden(model, "input_ids", mask=name == "gpt2"), (ids,), ["input_ids"], {"input_ids": {0: "N", 1: "T"}}


def write(name: str, path: str) -> str:
    """Export ``name`` to ``path`` unless it is there already; returns ``path``."""
    if os.path.exists(path):
        return path
    import torch

    model, inputs, names, axes = _build(name)
    model.eval()
    tmp = path + ".tmp"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, inputs, tmp, input_names=names, dynamic_axes=axes, opset_version=17, dynamo=False)
    os.replace(tmp, path)
    return path
