from convlint.core import dims
from convlint.examples import TorchExample
from convlint.rule import Rule

from ._sizes import condition_clause, divides_verdict, every_size, judged, layer, named, plural


def _group_norm(groups):
    from torch import nn

    norm = nn.GroupNorm(8, 32)
    norm.num_groups = groups  # after construction: nothing checks it until the forward pass
    return norm


def _eight_groups():
    return _group_norm(8)


def _five_groups():
    return _group_norm(5)


class GroupNormDivisibility(Rule):
    """## What it does
    Checks that `GroupNormalization`'s `num_groups` divides the channels of its input, `x.shape[1]`.

    ## Why is this bad?
    The layer cannot run: onnxruntime fails in `run()` reshaping `(N, C, ...)` into `num_groups` groups. PyTorch
    refuses `nn.GroupNorm(8, 30)` in the constructor ("num_channels must be divisible by num_groups"), but a model
    edited afterwards (`norm.num_groups = 5`), or built in ONNX directly, gets no such check until its forward pass
    fails with "Expected number of channels in input to be divisible by num_groups".

    ## Example
    `GroupNormalization<num_groups = 8>` on a 30-channel input.

    ## Fix
    Pick a `num_groups` that divides the channel count (the message lists the nearest), or change the channels of
    the layer before it. `GroupNorm(1, C)` normalizes over all channels, like a LayerNorm over `(C, H, W)`.
    """

    code = "CL321"
    name = "group-norm-divisibility"
    brief = "`num_groups` divides the channels"
    ops = ("GroupNormalization",)

    VALID = [
        """<ir_version: 10, opset_import: ["": 21]>
        g (float[2, 32, 4, 4] x) => (float[2, 32, 4, 4] y)
        <float[32] s, float[32] b> { y = GroupNormalization<num_groups = 8>(x, s, b) }""",
    ]
    INVALID = [
        """<ir_version: 10, opset_import: ["": 21]>
        g (float[2, 30, 4, 4] x) => (float[2, 30, 4, 4] y)
        <float[30] s, float[30] b> { y = GroupNormalization<num_groups = 8>(x, s, b) }""",
    ]

    TORCH_VALID = [TorchExample(_eight_groups, "N,32,H,W")]
    TORCH_INVALID = [TorchExample(_five_groups, "N,32,H,W")]

    def check(self, node, ctx):
        x = node.input_shape(0)
        groups = node.attrs.get("num_groups")
        if x is None or len(x) < 2 or x[1] is None or type(groups) is not int or groups < 1:
            return
        c = x[1]
        verdict = divides_verdict(groups, c)
        if not (verdict.never or verdict.some):
            return
        message = (f"{layer(node)} splits {named(node.input(0))}, {plural(c, 'channel')}, into "
                   f"num_groups={groups}, which does not divide {dims.pretty(c)}")
        message += every_size(c) if verdict.never else condition_clause(verdict)
        if type(c) is int:
            near = [g for g in range(1, c + 1) if c % g == 0]
            near = sorted(near, key=lambda g: (abs(g - groups), g))[:2]
            hint = f"use num_groups={' or '.join(map(str, sorted(near)))} (divisors of {c} near {groups})"
        else:
            hint = f"feed a channel count divisible by {groups}, or pick num_groups dividing it"
        yield self.finding(node, message, hint, **judged(verdict))
