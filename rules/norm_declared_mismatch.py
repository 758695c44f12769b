from convlint.examples import TorchExample
from convlint.rule import ERROR, WARNING

from ._declared import DeclaredRule, declared_text, listed, module_node, replaced, wrong_shapes

NORM_OPS = ("BatchNormalization", "InstanceNormalization", "GroupNormalization", "LayerNormalization",
            "RMSNormalization")


def _batch_norm():
    from torch import nn

    return nn.BatchNorm2d(16)


def _stale_running_stats():
    import torch
    from torch import nn

    bn = nn.BatchNorm2d(16)
    bn.weight = nn.Parameter(torch.ones(32))
    bn.bias = nn.Parameter(torch.zeros(32))
    return bn


def _group_norm_widened():
    import torch
    from torch import nn

    gn = nn.GroupNorm(4, 16)
    gn.weight = nn.Parameter(torch.ones(32))
    gn.bias = nn.Parameter(torch.zeros(32))
    return gn


def _group_norm():
    from torch import nn

    return nn.GroupNorm(4, 16)


class NormDeclaredMismatch(DeclaredRule):
    """## What it does
    Checks that a PyTorch normalization layer's parameters and buffers match what it declares: for `BatchNorm*d` and
    `InstanceNorm*d`, `weight`, `bias`, `running_mean` and `running_var` of shape `(num_features,)`; for
    `GroupNorm`, `weight` and `bias` of `(num_channels,)`; for `LayerNorm` and `RMSNorm`, `normalized_shape`. It
    needs no input shape.

    ## Why is this bad?
    Replacing some tensors of a normalization layer and not the others (the affine parameters but not the running
    statistics, after a channel pruning) leaves a layer that fails on its first forward pass in eval mode, or
    that states a `num_features` it no longer has. A `LayerNorm` or `RMSNorm` cannot run at all then (its forward
    pass uses the declared `normalized_shape` with the actual weight): that is an error.

    ## Example
    `bn = nn.BatchNorm2d(16)` then `bn.weight = nn.Parameter(torch.ones(32))`: declared `num_features=16`, the
    running statistics still have 16 values, the weight 32.

    ## Fix
    Rebuild the layer for the new channel count (`nn.BatchNorm2d(32)`), or replace every one of its tensors.
    """

    code = "CL310"
    name = "norm-declared-mismatch"
    brief = "a PyTorch norm layer's weight, bias and running stats match what it declares"
    severity = WARNING
    ops = NORM_OPS

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 16, H, W] x) => (float[N, 16, H, W] y)
        <float[16] s, float[16] b, float[16] m, float[16] v>
        { y = BatchNormalization(x, s, b, m, v) }""",
    ]
    INVALID = []
    TORCH_VALID = [TorchExample(_batch_norm, "N,16,H,W"), TorchExample(_group_norm, "N,16,H,W"),
                   TorchExample(_batch_norm)]
    TORCH_INVALID = [TorchExample(_stale_running_stats), TorchExample(_group_norm_widened, "N,32,H,W")]

    def check(self, node, ctx):
        if not module_node(node):
            return
        d = node.declared
        if "num_features" in d:
            size, said = (d["num_features"],), ("num_features",)
            names = ("weight", "bias", "running_mean", "running_var")
        elif "num_channels" in d:
            size, said = (d["num_channels"],), ("num_channels",)
            names = ("weight", "bias")
        elif "normalized_shape" in d:
            size, said = tuple(d["normalized_shape"]), ("normalized_shape",)
            names = ("weight", "bias")
        else:
            return
        if any(type(s) is not int for s in size):
            return
        wrong = wrong_shapes(node, {n: size for n in names})
        if not wrong:
            return
        fine = [n for n in names if n not in {w[0] for w in wrong} and node.facts.params.get(n) is not None]
        also = f" ({', '.join(fine)} still {'has' if len(fine) == 1 else 'have'} the declared shape)" if fine else ""
        yield self.finding(node, f"{replaced(w[0] for w in wrong)} — declared {declared_text(node, *said)}, but "
                                 f"{listed(wrong)}{also}",
                           "rebuild the layer for the new size, or replace all of its parameters and buffers "
                           "together", ERROR if "normalized_shape" in said else None)
