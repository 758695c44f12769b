from convlint.examples import TorchExample
from convlint.rule import Rule

from ._checkpoint import facts, placed, prefix_causes, source


def _model():
    from torch import nn

    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3))


def _plain():
    import torch

    return {"0.weight": torch.zeros(8, 3, 3, 3), "0.bias": torch.zeros(8), "2.weight": torch.zeros(8, 8, 3, 3),
            "2.bias": torch.zeros(8)}


def _data_parallel():
    return {f"module.{k}": v for k, v in _plain().items()}


class CheckpointKeyPrefix(Rule):
    """## What it does
    Finds the keys of a checkpoint given with `--weights` that match the model's once a prefix is renamed, from
    the file's headers alone: `module.` on every key (saved from a model wrapped in `DataParallel` or
    `DistributedDataParallel`), a submodule named differently (`backbone.` for `encoder.`), or a checkpoint of one
    part of the model (no `encoder.` at all). One finding per prefix, with the keys it explains; what stays missing
    or unexpected is reported by CL701 and CL702.

    ## Why is this bad?
    `load_state_dict` refuses the checkpoint with every key both missing and unexpected, two long lists that hide
    the one reason; with `strict=False` nothing at all is loaded, silently.

    ## Example
    A checkpoint saved with `torch.save(model.state_dict())` from `nn.DataParallel(model)`: `module.0.weight`
    where the model has `0.weight`.

    ## Fix
    Rename the keys when loading (`{k.removeprefix("module."): v for k, v in state.items()}`), or save
    `model.module.state_dict()`.
    """

    code = "CL703"
    name = "checkpoint-key-prefix"
    brief = "a `--weights` checkpoint whose keys match once a prefix is renamed (`module.` from DataParallel...)"

    TORCH_VALID = [TorchExample(_model, "N,3,H,W", weights=_plain)]
    TORCH_INVALID = [TorchExample(_model, "N,3,H,W", weights=_data_parallel)]

    def check_graph(self, graph, ctx):
        ckpt = facts(graph)
        if ckpt is None or not ckpt.unexpected or not ckpt.missing:
            return
        for cause in prefix_causes(ckpt):
            yield placed(self.finding(None, f"{source(ckpt)}: {cause.message}", cause.hint), graph,
                         _known(cause.module, graph.trace.modules))


def _known(module: str, modules: dict) -> str:
    return module if module in modules else ""
