from convlint.core import dims
from convlint.examples import TorchExample
from convlint.rule import Rule

from ._sizes import NEVER, condition_clause, judged, layer, named, unidirectional_verdict


def _linear():
    from torch import nn

    return nn.Linear(64, 128)


def _linear_short_bias():
    import torch
    from torch import nn

    fc = nn.Linear(64, 128)
    fc.bias = nn.Parameter(torch.zeros(64))
    return fc


class GemmBiasShape(Rule):
    """## What it does
    Checks that a `Gemm`'s bias `C` broadcasts to its output `(M, N)` without changing it: aligned from the right,
    each dim of `C` equals the output's or is 1. For a PyTorch `nn.Linear`, the bias must have `out_features`
    values.

    ## Why is this bad?
    The layer cannot run: onnxruntime fails in `run()` with "Gemm: Invalid bias shape for broadcast"; PyTorch with
    "The size of tensor a (128) must match the size of tensor b (64)". A bias left from the layer before a resize
    of `out_features`, or a per-row bias `(M,)` where a per-column one `(N,)` was meant, are the usual causes.

    ## Example
    `Gemm<transB = 1>(x[8, 64], W[128, 64], C[64])`: 128 outputs, 64 bias values.

    ## Fix
    Give the bias `out_features` values, shape `(N,)` (or `(1, N)`, or `(M, N)`).
    """

    code = "CL222"
    name = "gemm-bias-shape"
    brief = "a Gemm's bias broadcasts to its output (`out_features` values)"
    ops = ("Gemm",)

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 64] x) => (float[N, 128] y)
        <float[128, 64] w, float[128] b> { y = Gemm<transB = 1>(x, w, b) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[4, 64] x) => (float[4, 128] y)
        <float[64, 128] w, float[4, 1] b> { y = Gemm(x, w, b) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[8, 64] x) => (float[8, 128] y)
        <float[128, 64] w, float[64] b> { y = Gemm<transB = 1>(x, w, b) }""",
    ]
    TORCH_VALID = [TorchExample(_linear, "N,64")]
    TORCH_INVALID = [TorchExample(_linear_short_bias, "N,64")]

    def check(self, node, ctx):
        c = node.input(2)
        out = node.outputs[0].shape if node.outputs else None
        if c is None or c.shape is None or out is None or len(out) != 2:
            return
        verdict = NEVER if len(c.shape) > 2 else unidirectional_verdict(out, c.shape)
        if not (verdict.never or verdict.some):
            return
        message = (f"{layer(node)} adds the bias {named(c)} to an output of shape {dims.pretty_shape(out)}, "
                   f"which it does not broadcast to")
        message += condition_clause(verdict, "it does")
        hint = (f"give the bias {dims.pretty(out[1])} values, shape ({dims.pretty(out[1])},) (out_features), or a "
                f"shape that broadcasts to {dims.pretty_shape(out)}")
        yield self.finding(node, message, hint, **judged(verdict))
