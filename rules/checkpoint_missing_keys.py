from convlint.examples import TorchExample
from convlint.rule import Rule

from ._checkpoint import facts, key_findings, prefix_causes, source


def _deeper():
    from torch import nn

    return nn.Sequential(*[nn.Linear(8, 8) for _ in range(4)])


def _two_blocks():
    import torch

    return {f"{i}.{p}": torch.zeros(8, 8) if p == "weight" else torch.zeros(8) for i in range(2)
            for p in ("weight", "bias")}


def _four_blocks():
    import torch

    return {f"{i}.{p}": torch.zeros(8, 8) if p == "weight" else torch.zeros(8) for i in range(4)
            for p in ("weight", "bias")}


class CheckpointMissingKeys(Rule):
    """## What it does
    Lists the model's parameters and buffers that a checkpoint given with `--weights` does not hold, from the
    file's headers alone, grouped by cause: whole numbered blocks (`layers.12` to `layers.23`: the checkpoint is
    of a shallower model), and then per module. Keys that a renamed prefix explains (`module.`, `backbone.` for
    `encoder.`) are reported by `checkpoint-key-prefix` (CL703) instead; a tied weight the checkpoint holds under
    its other name, and BatchNorm's `num_batches_tracked` (filled in on load), are not missing.

    ## Why is this bad?
    `load_state_dict` refuses the checkpoint ("Missing key(s) in state_dict: ..."); with `strict=False` those
    layers keep their random initialization, silently.

    ## Example
    A model of 4 blocks and a checkpoint of 2: `2.weight`, `2.bias`, `3.weight`, `3.bias` are missing.

    ## Fix
    Build the model as the checkpoint was trained (the same depth and layers), or load with `strict=False` on
    purpose and train what is missing.
    """

    code = "CL701"
    name = "checkpoint-missing-keys"
    brief = "the model's tensors a `--weights` checkpoint does not hold (depth, per module)"

    TORCH_VALID = [TorchExample(_deeper, "N,8", weights=_four_blocks)]
    TORCH_INVALID = [TorchExample(_deeper, "N,8", weights=_two_blocks)]

    def check_graph(self, graph, ctx):
        ckpt = facts(graph)
        if ckpt is None or not ckpt.missing:
            return
        renamed = {m for c in prefix_causes(ckpt) for m in c.extra["renames"]}
        left = [e for e in ckpt.missing if e[0] not in renamed and not e[0].endswith("num_batches_tracked")]
        yield from key_findings(self, graph, ckpt, left, "missing", lambda names: f"{source(ckpt)} holds no {names}",
                                "load a checkpoint of this model, or load with strict=False on purpose and train these")
