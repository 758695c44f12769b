from convlint.core import conditions as cond
from convlint.core import dims
from convlint.examples import TorchExample
from convlint.rule import Rule

from ._constraints import concat_differences
from ._sizes import NEVER, every_size, judged, layer, named


def _skip():
    import torch
    from torch import nn

    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.down = nn.MaxPool2d(2)
            self.up = nn.Upsample(scale_factor=2)

        def forward(self, x):
            return torch.cat([x, self.up(self.down(x))], dim=1)

    return Skip()


class ConcatDimsMismatch(Rule):
    """## What it does
    Checks that the inputs of a `Concat` agree on every axis but the one they are joined on. With symbolic sizes it
    states the condition on the input that makes them agree ("valid only when H % 16 == 0") and the smallest size
    that meets it; it reports an error only when no size does.

    ## Why is this bad?
    The concatenation cannot run: PyTorch fails with "Sizes of tensors must match except in dimension 1. Expected
    size 28 but got size 29", onnxruntime in `run()`. The classic case is a U-Net skip connection: an encoder map of
    height `H` is joined with a decoder map that went through four poolings and four upsamplings, `16·⌊H/16⌋`, so
    the model works only for sizes divisible by 16, and fails on the first image that is not.

    ## Example
    `Concat<axis = 1>(enc[N, 64, H, W], up[N, 64, 2·⌊H/2⌋, 2·⌊W/2⌋])`: valid only when `H % 2 == 0 and W % 2 == 0`.

    ## Fix
    Feed sizes that meet the condition (pad the input to a multiple of the total downsampling), or make the skip and
    the upsampled map agree whatever the size: crop or pad one of them, or upsample to the skip's size
    (`F.interpolate(x, size=skip.shape[2:])`, ONNX `Resize` with `sizes`) instead of by a scale factor.
    """

    code = "CL502"
    name = "concat-dims-mismatch"
    brief = 'Concat inputs agree off the axis (U-Net skips: "valid only when H % 16 == 0")'
    ops = ("Concat",)

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 8, H, W] a, float[N, 4, H, W] b) => (float[N, 12, H, W] y)
        { y = Concat<axis = 1>(a, b) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 8, 16, 16] a) => (float[1, 16, 16, 16] y)
        <float[4] s = {1.0, 1.0, 2.0, 2.0}>
        { p = MaxPool<kernel_shape = [2, 2], strides = [2, 2]>(a)
          u = Resize<mode = "nearest">(p, "", s)  y = Concat<axis = 1>(a, u) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 8, 16, 16] a, float[1, 4, 15, 16] b) => (float[1, 12, 16, 16] y)
        { y = Concat<axis = 1>(a, b) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 8, H, W] a) => (float[N, 16, H2, W2] y)
        <float[8, 8, 3, 3] w> { c = Conv(a, w)  y = Concat<axis = 1>(a, c) }""",
    ]
    TORCH_VALID = [TorchExample(_skip, "N,8,16,16")]
    TORCH_INVALID = [TorchExample(_skip, "N,8,15,15")]

    def check(self, node, ctx):
        differ = concat_differences(node)
        if not differ:
            return
        present = [v for v in node.inputs if v is not None]
        first, a = present[0], node.attrs.get("axis", 0)
        atoms = [cond.eq(d0, d) for _, _, d0, d in differ]
        involved = [d for _, _, d0, d1 in differ for d in (d0, d1)]
        if all(type(d0) is int and type(d) is int for _, _, d0, d in differ):
            verdict = NEVER
        else:
            verdict = cond.solve(atoms, cond.sizes(*involved))
        if not (verdict.never or verdict.some):
            return
        axes = "; ".join(f"axis {i}: {dims.pretty(d0)} vs {dims.pretty(d)} ({v.name!r})" for i, v, d0, d in differ)
        others = ", ".join(named(v) for v in present[1:])
        message = (f"{layer(node)} joins {named(first)} with {others} on axis {a}, but they differ on other "
                   f"axes ({axes})")
        if verdict.some and verdict.coupled:  # sizes of different inputs, or of two axes, must agree
            message += f"; they agree only when {verdict.condition} (smallest: {verdict.example_text()})"
            hint = (f"feed sizes with {verdict.condition}, or bring one input to the other's size before the "
                    f"concatenation: crop, pad or resize it (F.interpolate(y, size=x.shape[2:]), ONNX Resize with "
                    f"sizes)")
        elif verdict.some:
            message += f"; they agree only when {verdict.condition} (smallest: {verdict.example_text()})"
            hint = (f"feed sizes with {verdict.condition} (pad the input to such a size), or make the inputs agree for "
                    f"every size: crop or pad one, or upsample to the skip's size (F.interpolate(x, "
                    f"size=skip.shape[2:]), ONNX Resize with sizes) rather than by a scale factor")
        else:
            message += every_size(*involved)
            hint = ("make the inputs agree on every axis but the concatenation axis: crop, pad or resize one of them, "
                    "or check the layers that produce them")
        yield self.finding(node, message, hint, **judged(verdict))
