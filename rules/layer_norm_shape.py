from convlint.core import dims
from convlint.examples import TorchExample
from convlint.rule import Rule
from convlint.shapes.base import axis as normalize_axis

from ._sizes import condition_clause, is_torch, judged, layer, named, same, unidirectional_verdict


def _layer_norm_after_conv():
    from torch import nn

    return nn.Sequential(nn.Conv2d(3, 64, 3), nn.LayerNorm(64))


def _layer_norm_tokens():
    from torch import nn

    return nn.LayerNorm(64)


class LayerNormShape(Rule):
    """## What it does
    Checks that a `LayerNormalization` (or `RMSNormalization`) scale and bias fit the dims it normalizes, the
    input's dims from `axis` on (PyTorch's `normalized_shape`). Like onnxruntime, it accepts parameters that
    broadcast to the input without changing it (aligned from the right, each dim equal to the input's or 1).

    ## Why is this bad?
    The layer cannot run: PyTorch fails with "Given normalized_shape=[64], expected input with shape [*, 64], but
    got input of size[8, 64, 56, 56]", onnxruntime in `run()` with "Scale and (optional) bias must match
    X.shape[axis:]". The classic case is a `LayerNorm(C)` over channels applied to an NCHW tensor: it normalizes
    the last axis, which holds the width.

    ## Example
    `LayerNormalization<axis = -1>(x[N, 64, 56, 56], scale[64])`.

    ## Fix
    Normalize the axis that holds the features: permute NCHW to NHWC first (`x.permute(0, 2, 3, 1)`, then back),
    or use `GroupNorm(1, C)` to normalize over `(C, H, W)`; otherwise set `normalized_shape` to the trailing dims.
    """

    code = "CL322"
    name = "layer-norm-shape"
    brief = "LayerNorm's `normalized_shape` matches the trailing dims (not NCHW channels)"
    ops = ("LayerNormalization", "RMSNormalization")

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[B, S, 64] x) => (float[B, S, 64] y)
        <float[64] s, float[64] b> { y = LayerNormalization<axis = -1>(x, s, b) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 8, 4, 4] x) => (float[N, 8, 4, 4] y)
        <float[8, 4, 4] s> { y = LayerNormalization<axis = 1>(x, s) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 64, 56, 56] x) => (float[N, 64, 56, 56] y)
        <float[64] s, float[64] b> { y = LayerNormalization<axis = -1>(x, s, b) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[B, S, 64] x) => (float[B, S, 64] y)
        <float[32] s> { y = LayerNormalization<axis = -1>(x, s) }""",
    ]
    TORCH_VALID = [TorchExample(_layer_norm_tokens, "N,T,64")]
    TORCH_INVALID = [TorchExample(_layer_norm_after_conv, "N,3,16,16")]

    def check(self, node, ctx):
        x = node.input_shape(0)
        if x is None or not x:
            return
        a = normalize_axis(node.attrs.get("axis", -1), len(x))
        if a is None:
            return
        normalized = tuple(x[a:])
        for i, role in ((1, "scale"), (2, "bias")):
            p = node.input(i)
            if p is None or p.shape is None:
                continue
            verdict = unidirectional_verdict(x, p.shape)
            if not (verdict.never or verdict.some):
                continue
            how = "normalized_shape" if is_torch(node) else f"axis={node.attrs.get('axis', -1)}"
            message = (f"{layer(node)} normalizes the dims {dims.pretty_shape(normalized)} of "
                       f"{named(node.input(0))} ({how}), but its {role} {named(p)} does not match them")
            message += condition_clause(verdict, "it runs")
            hint = self._hint(x, a, p.shape)
            yield self.finding(node, message, hint, **judged(verdict))
            return

    def _hint(self, x, a, p):
        """Say "LayerNorm over channels on NCHW" when the parameters match axis 1 of a channels-first tensor."""
        if len(x) >= 3 and len(p) == 1 and a == len(x) - 1 and same(x[1], p[0]):
            j = len(x) - 1
            perm = [0] + list(range(2, len(x))) + [1]
            back = [0, j] + list(range(1, j))
            return (f"the {dims.pretty(p[0])} values match axis 1 (channels) of a channels-first tensor: permute the "
                    f"channels last before the norm (x.permute({', '.join(map(str, perm))}), then "
                    f"permute({', '.join(map(str, back))}) after; ONNX Transpose perm={perm}), or use "
                    f"GroupNorm(1, {dims.pretty(p[0])}) to normalize over channels and space")
        return (f"give the scale and bias the shape {dims.pretty_shape(tuple(x[a:]))} (normalized_shape), or set "
                f"axis to the first of the dims they describe")
