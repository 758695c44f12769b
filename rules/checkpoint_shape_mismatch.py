from convlint.examples import TorchExample
from convlint.rule import Rule

from ._checkpoint import facts, placed, positional_embeddings, shape_causes, source


def _classifier(classes):
    def build():
        from torch import nn

        return nn.Sequential(nn.Conv2d(3, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, classes))
    return build


def _imagenet_head():
    import torch

    return {"0.weight": torch.zeros(8, 3, 3, 3), "0.bias": torch.zeros(8), "3.weight": torch.zeros(1000, 8),
            "3.bias": torch.zeros(1000)}


class CheckpointShapeMismatch(Rule):
    """## What it does
    Compares the shapes of a checkpoint given with `--weights` with the model's, from the file's headers alone
    (nothing is loaded), and says why they differ, once per cause, on the module that owns the tensors: the
    classifier's rows (the checkpoint was trained with another `num_classes`), an embedding's rows (a vocabulary
    grown by added tokens), a position table (a longer context), the stem's input channels (1 against 3), every
    channel count scaled by one factor (a width multiplier), weights stored transposed (GPT-2's `Conv1D` against
    `nn.Linear`). The checkpoint's shapes are then put in place, so the layers that would fail at the first forward
    pass are reported too.

    ## Why is this bad?
    `load_state_dict` refuses the checkpoint ("size mismatch for fc.weight: copying a param with shape
    torch.Size([1000, 2048]) from checkpoint, the shape in current model is torch.Size([10, 2048])"), after the
    whole file was read, and `strict=False` does not help: a size mismatch is refused either way.

    ## Example
    A ResNet built with `num_classes=10` and an ImageNet checkpoint: `fc.weight` (1000, 2048) against (10, 2048).

    ## Fix
    Build the model as the checkpoint was trained (`num_classes=1000`), or load it without the tensors that differ
    (drop them from the state dict, `strict=False`) and train those layers anew.
    """

    code = "CL700"
    name = "checkpoint-shape-mismatch"
    brief = "a `--weights` checkpoint's shapes against the model's, by cause (num_classes, vocabulary, width...)"

    TORCH_VALID = [TorchExample(_classifier(1000), "N,3,H,W", weights=_imagenet_head)]
    TORCH_INVALID = [TorchExample(_classifier(10), "N,3,H,W", weights=_imagenet_head)]

    def check_graph(self, graph, ctx):
        ckpt = facts(graph)
        if ckpt is None or not ckpt.mismatched:
            return
        for cause in shape_causes(ckpt, graph.trace.modules, positional_embeddings(graph)):
            yield placed(self.finding(None, f"{cause.message} (in {source(ckpt)})", cause.hint), graph, cause.module)
