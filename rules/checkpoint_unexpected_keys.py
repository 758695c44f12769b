from convlint.examples import TorchExample
from convlint.rule import Rule

from ._checkpoint import facts, key_findings, prefix_causes, source


def _model():
    from torch import nn

    return nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))


def _matching():
    import torch

    return {"0.weight": torch.zeros(8, 8), "0.bias": torch.zeros(8), "2.weight": torch.zeros(2, 8),
            "2.bias": torch.zeros(2)}


def _with_extra_head():
    state = _matching()
    import torch

    state.update({"aux.weight": torch.zeros(5, 8), "aux.bias": torch.zeros(5)})
    return state


class CheckpointUnexpectedKeys(Rule):
    """## What it does
    Lists the tensors of a checkpoint given with `--weights` that the model has no place for, from the file's
    headers alone, grouped by cause: whole numbered blocks (the checkpoint is of a deeper model), then per
    module of the checkpoint. Keys a renamed prefix explains are reported by `checkpoint-key-prefix` (CL703).

    ## Why is this bad?
    `load_state_dict` refuses the checkpoint ("Unexpected key(s) in state_dict: ..."); with `strict=False` they
    are dropped, and they often mean the checkpoint is of another model than the one built.

    ## Example
    A checkpoint with an auxiliary head `aux.weight`, `aux.bias` that the model does not build.

    ## Fix
    Build the model with the layers the checkpoint has, or drop those keys on purpose when loading.
    """

    code = "CL702"
    name = "checkpoint-unexpected-keys"
    brief = "a `--weights` checkpoint's tensors the model has no place for (depth, per module)"

    TORCH_VALID = [TorchExample(_model, "N,8", weights=_matching)]
    TORCH_INVALID = [TorchExample(_model, "N,8", weights=_with_extra_head)]

    def check_graph(self, graph, ctx):
        ckpt = facts(graph)
        if ckpt is None or not ckpt.unexpected:
            return
        renamed = {u for c in prefix_causes(ckpt) for u in c.keys}
        left = [e for e in ckpt.unexpected if e[0] not in renamed]
        yield from key_findings(self, graph, ckpt, left, "unexpected",
                                lambda names: f"{source(ckpt)} holds {names}, which the model has no place for",
                                "drop these keys when loading, or build the model with these layers")
