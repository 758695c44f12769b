from convlint.core import compare, dims
from convlint.examples import TorchExample
from convlint.rule import Rule

from ._conv import CONV_OPS, QUANTIZED_CONV_OPS, layout


def _grouped_conv():
    from torch import nn

    return nn.Conv2d(2, 4, 3, groups=2)


def _gray_input_grouped_conv():
    from torch import nn

    return nn.Conv2d(1, 4, 3, groups=2)  # PyTorch refuses: in_channels must be divisible by groups


class ConvGroupDivisibility(Rule):
    """## What it does
    Checks that `group` divides the channels the weight splits into groups: the output channels `M = W.shape[0]`
    of a `Conv`, the input channels `C = W.shape[0]` of a `ConvTranspose`.

    ## Why is this bad?
    Each group must get the same number of channels. PyTorch checks this only in the layer's constructor, so a
    weight replaced later, or an edited ONNX graph, slips through until onnxruntime's `run()` fails with
    "Output channels M is not divisible by group". For a PyTorch layer it also checks the declared `in_channels` and
    `out_channels`: `nn.Conv2d(1, 4, 3, groups=2)` is refused by its constructor ("in_channels must be divisible by
    groups"), which convlint reports here, at the line that builds it, rather than as a traceback.

    ## Example
    `Conv<group = 2>(x[1, 6, 8, 8], W[3, 3, 3, 3])`: 3 output channels cannot be split into 2 groups.

    ## Fix
    Make the channel count a multiple of `group` (here 4 output channels), or change `group`.
    """

    code = "CL102"
    name = "conv-group-divisibility"
    brief = "`group` divides the channels it splits"
    ops = CONV_OPS + QUANTIZED_CONV_OPS

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 6, 8, 8] x) => (float[1, 4, 6, 6] y)
        <float[4, 3, 3, 3] w> { y = Conv<group = 2>(x, w) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 4, 8, 8] x) => (float[1, 4, 10, 10] y)
        <float[4, 2, 3, 3] w> { y = ConvTranspose<group = 2>(x, w) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 6, 8, 8] x) => (float[1, 3, 6, 6] y)
        <float[3, 3, 3, 3] w> { y = Conv<group = 2>(x, w) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3, 8, 8] x) => (float[1, 4, 10, 10] y)
        <float[3, 2, 3, 3] w> { y = ConvTranspose<group = 2>(x, w) }""",
    ]
    TORCH_VALID = [TorchExample(_grouped_conv, "N,2,H,W")]
    TORCH_INVALID = [TorchExample(_gray_input_grouped_conv, "N,1,H,W")]

    def check(self, node, ctx):
        if node.declared and not node.facts.repeat_call:
            declared = list(self._declared(node))
            if declared:
                yield from declared
                return
        c = layout(node)
        if c.w is None or len(c.w) < 2:
            return
        if c.group < 1:
            yield self.finding(node, f"group={c.group}; it must be at least 1", "set group to 1 or more")
            return
        split = c.w[0]
        what = "input channels C = W.shape[0]" if c.transposed else "output channels M = W.shape[0]"
        if compare.divisible(split, c.group) is not False:
            return
        lower = (split // c.group) * c.group if type(split) is int else None
        options = sorted({m for m in (lower, (lower or 0) + c.group) if m})
        hint = f"use {' or '.join(str(m) for m in options)} {what.split(' =')[0]}, or a group that divides {dims.pretty(split)}"
        yield self.finding(node, f"{what} is {dims.pretty(split)} in weight {c.weight_name!r} {dims.pretty_shape(c.w)}, "
                                 f"not divisible by group={c.group}", hint, replay_shapes=c.replay_shapes())

    def _declared(self, node):
        """A PyTorch layer whose declared channels ``groups`` does not divide (PyTorch refuses to construct it)."""
        d = node.declared
        groups = d.get("groups")
        if type(groups) is not int or groups < 1:
            return
        for attr in ("in_channels", "out_channels"):
            n = d.get(attr)
            if type(n) is not int or n % groups == 0:
                continue
            refused = node.facts.refusal
            why = f", so PyTorch refuses to build it ({refused.message})" if refused and refused.construction else ""
            lower = n // groups * groups
            options = " or ".join(str(m) for m in sorted({lower, lower + groups}) if m)
            yield self.finding(node, f"declared {attr}={n} is not divisible by groups={groups}: each of the {groups} "
                                     f"groups needs the same number of {attr.split('_')[0]}put channels{why}",
                               f"use {attr}={options}, or groups={_divisor(n, groups)}",
                               replay_declared=True)
            return


def _divisor(n: int, groups: int) -> int:
    """The largest divisor of ``n`` not above ``groups`` (1 at worst)."""
    return next(g for g in range(min(groups, n), 0, -1) if n % g == 0)
