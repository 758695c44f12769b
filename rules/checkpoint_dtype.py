from convlint.examples import TorchExample
from convlint.rule import INFO, Rule

from ._checkpoint import facts, listed, placed, source


def _model():
    from torch import nn

    return nn.Sequential(nn.Linear(8, 4))


def _float32():
    import torch

    return {"0.weight": torch.zeros(4, 8), "0.bias": torch.zeros(4)}


def _float16():
    return {k: v.half() for k, v in _float32().items()}


class CheckpointDtype(Rule):
    """## What it does
    Notes the tensors of a checkpoint given with `--weights` stored in another element type than the model's
    (a float16 or bfloat16 checkpoint for a float32 model), from the file's headers alone, one note per pair of
    types.

    ## Why is this bad?
    It is not a fault: `load_state_dict` casts each tensor into the model's type. But a float16 checkpoint in a
    float32 model takes twice its size in memory, and one in bfloat16 has lost precision the float32 model will not
    get back; `load_state_dict(assign=True)` keeps the checkpoint's type instead, and the first layer whose input is
    float32 then refuses it.

    ## Example
    A checkpoint saved after `model.half()`, loaded into a float32 model.

    ## Fix
    Nothing, if the cast is meant; otherwise build the model in the checkpoint's type (`model.half()`, or
    `torch_dtype=` in transformers).
    """

    code = "CL704"
    name = "checkpoint-dtype"
    brief = "a `--weights` checkpoint's element types against the model's (cast on load)"
    severity = INFO

    TORCH_VALID = [TorchExample(_model, "N,8", weights=_float32)]
    TORCH_INVALID = [TorchExample(_model, "N,8", weights=_float16)]

    def check_graph(self, graph, ctx):
        ckpt = facts(graph)
        if ckpt is None or not ckpt.dtypes:
            return
        pairs = {}
        for name, mine, theirs in ckpt.dtypes:
            pairs.setdefault((mine, theirs), []).append(name)
        for (mine, theirs), names in pairs.items():
            f = self.finding(None, f"{source(ckpt)} stores {len(names)} tensor(s) as {theirs} where the model has "
                                   f"{mine} ({listed(names)}): load_state_dict casts them to {mine}",
                             f"build the model in {theirs} if that is what it should run in")
            yield placed(f, graph, "")
