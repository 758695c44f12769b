import sympy

from convlint.core import compare, dims
from convlint.examples import TorchExample
from convlint.rule import INFO, Rule

from ._constraints import BROADCAST_OPS, default_opset, legacy_broadcast
from ._residual import shortcut_and_branch
from ._sizes import broadcast_verdict, condition_clause, judged, layer, named, table_limit

def _scaled_conv(channels):
    import torch
    from torch import nn

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 64, 3, padding=1)
            self.scale = nn.Parameter(torch.ones(channels, 1, 1))

        def forward(self, x):
            return self.conv(x) * self.scale

    return Scaled()


def _scale_64():
    return _scaled_conv(64)


def _scale_32():
    return _scaled_conv(32)


class BroadcastIncompatible(Rule):
    """## What it does
    Checks that the operands of an element-wise operation (`Add`, `Mul`, `Sub`, `Div`, comparisons, `Where`,
    `PRelu`, ...) broadcast numpy-style: aligned from the right, each pair of dims is equal or one of them is 1.
    With symbolic sizes it states exactly for which sizes they do, in your names: `x + x.transpose(2, 3)` only when
    `H == W or H == 1 or W == 1`; a slice that may cut the input, `x[:, :, :8] + x`, only when `H <= 8`. A
    residual `Add` whose shortcut and branch disagree is reported by `residual-branch-mismatch` (CL501) instead.

    A fixed table sliced to the input's length (`self.pos[:, :S]` on 512 positions, a rotary cache `cos[:T]`)
    limits the input by design: that is a note giving the longest input the model takes (`S <= 512`), not a
    warning.

    ## Why is this bad?
    The operation cannot run: PyTorch fails with "The size of tensor a (64) must match the size of tensor b (32)
    at non-singleton dimension 1", onnxruntime in `run()`. Typical causes: a bias or scale made for another layer,
    a per-channel constant shaped `(C,)` instead of `(C, 1, 1)` (it lines up with the width), or two branches that
    were downsampled differently.

    ## Example
    `Add(x[N, 64, 56, 56], b[32, 1, 1])`: 64 channels against 32 values.

    ## Fix
    Give the operands shapes that agree on every axis, with 1 where a value is shared: `b.view(C, 1, 1)` for a
    per-channel constant, the same number of channels for two branches.
    """

    code = "CL500"
    name = "broadcast-incompatible"
    brief = "element-wise operands broadcast (or: for which sizes)"
    ops = BROADCAST_OPS

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 64, H, W] x) => (float[N, 64, H, W] y)
        <float[64, 1, 1] b> { y = Add(x, b) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[B, S, 64] x, float[B, 1, 64] m) => (float[B, S, 64] y)
        { y = Mul(x, m) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 64, 56, 56] x) => (float[N, 64, 56, 56] y)
        <float[32, 1, 1] b> { y = Add(x, b) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 64, 7, 7] x) => (float[N, 64, 7, 7] y)
        <float[64] s> { y = Mul(x, s) }""",
    ]
    TORCH_VALID = [TorchExample(_scale_64, "N,3,H,W")]
    TORCH_INVALID = [TorchExample(_scale_32, "N,3,H,W")]

    def check(self, node, ctx):
        present = [v for v in node.inputs if v is not None]
        if len(present) < 2:
            return
        verdict, axes = broadcast_verdict([v.shape for v in present])
        if not (verdict.never or verdict.some) or legacy_broadcast(node, default_opset(ctx.graph)):
            return
        if shortcut_and_branch(node) is not None:
            return
        rank = max(len(v.shape) for v in present)
        pairs = "; ".join(f"axis {rank - i}: {' vs '.join(dims.pretty(d) for d in ds)}"
                          for i, ds in sorted(axes, key=lambda a: -a[0]))
        operands = " with ".join(named(v) for v in present)
        message = f"{layer(node)} cannot broadcast {operands} ({pairs})"
        tables = table_limit(present, axes, verdict)
        if tables:
            message = (f"{layer(node)} broadcasts {operands} ({pairs}) only when {verdict.condition}: the slice of "
                       f"{' and '.join(repr(t) for t in tables)} covers no more, so that is the longest input the "
                       f"model takes")
            hint = f"if longer inputs must work, make {' and '.join(repr(t) for t in tables)} longer"
            yield self.finding(node, message, hint, INFO, condition=verdict.condition)
            return
        message += condition_clause(verdict, "they broadcast")
        hint = _table_hint(axes, verdict) or _hint(present, rank, axes)
        yield self.finding(node, message, hint, **judged(verdict))


def _table_hint(axes, verdict):
    """For an axis clamped by a slice (``pos[:S]`` on 512 rows is ``min(512, S)`` rows, ``x[:, :, :8]`` is
    ``min(8, H)``) that meets a size it may not reach."""
    clamped = [d for _, ds in axes for d in ds if isinstance(d, sympy.Basic) and d.has(sympy.Min)]
    if not clamped or not verdict.some:
        return None
    return (f"a slice clamps this axis to {dims.pretty(clamped[0])} (a position table, a rotary cache, "
            f"x[:, :, :8]): keep to {verdict.condition}, or make the operands the same length (a longer table, "
            f"the same slice on both)")


def _hint(values, rank, axes):
    consts = [v for v in values if v.is_param]
    others = [v for v in values if not v.is_param]
    if len(consts) == 1 and len(others) == 1:
        c, x = consts[0], others[0]
        want = list(c.shape)
        pad = len(x.shape) - len(c.shape)
        if pad > 0 and len(c.shape) == 1 and len(x.shape) >= 3 and compare.equal(c.shape[0], x.shape[1]) is True:
            shape = (c.shape[0],) + (1,) * (len(x.shape) - 2)
            return (f"the constant {c.name!r} holds one value per channel but lines up with the last axis: give it "
                    f"the shape {dims.pretty_shape(shape)} (b.view({dims.pretty(c.shape[0])}, "
                    f"{', '.join(['1'] * (len(x.shape) - 2))}))")
        for i, _ in axes:
            if i <= len(want):
                want[-i] = x.shape[-i] if i <= len(x.shape) else want[-i]
        return (f"give the constant {c.name!r} the shape {dims.pretty_shape(tuple(want))} (or 1 on the axes where "
                f"one value is shared); it may have been made for another layer")
    return ("make the operands agree on those axes (or 1 where a value is shared): reshape, transpose or resize one "
            "of them, or check the layers that produce them")
