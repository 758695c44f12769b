from convlint.core import dims
from convlint.rule import Rule

from ._conv import CONV_OPS, QUANTIZED_CONV_OPS, layout


class ConvWeightRank(Rule):
    """## What it does
    Checks that a convolution's weight has the same rank as its input: `(M, C / group, k1, ..., kn)` for an input
    `(N, C, D1, ..., Dn)`.

    ## Why is this bad?
    A 2-D convolution's weight fed a 3-D tensor (or the other way round) cannot run: onnxruntime fails in `run()`
    with "X num_dims does not match W num_dims". It happens when a `Conv1d` weight is loaded into a `Conv2d`, or an
    input loses or gains an axis (a missing `unsqueeze`, a stray `flatten`).

    ## Example
    `Conv(x[1, 3, 8, 8], W[4, 3, 3])`: a 4-D input and a 3-D weight.

    ## Fix
    Reshape the input to the layer's dimensionality, or use the weight that belongs to this layer.
    """

    code = "CL105"
    name = "conv-weight-rank"
    brief = "the weight's rank matches the input's"
    ops = CONV_OPS + QUANTIZED_CONV_OPS

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 3, L] x) => (float[N, 4, L2] y)
        <float[4, 3, 3] w> { y = Conv(x, w) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3, 8, 8] x) => (float[1, 4, 6] y)
        <float[4, 3, 3] w> { y = Conv(x, w) }""",
    ]

    def check(self, node, ctx):
        c = layout(node)
        if c.w is not None and len(c.w) < 3:
            yield self.finding(node, f"weight {c.weight_name!r} {dims.pretty_shape(c.w)} has rank {len(c.w)}; a "
                                     f"convolution weight needs at least 3 dims (out, in / group, kernel...)",
                               "use a weight of shape (out, in / group, k1, ..., kn)")
            return
        if c.x is None or c.w is None or len(c.x) == len(c.w):
            return
        n = len(c.w) - 2
        yield self.finding(node, f"input {c.input_name!r} {dims.pretty_shape(c.x)} has rank {len(c.x)}, but weight "
                                 f"{c.weight_name!r} {dims.pretty_shape(c.w)} has rank {len(c.w)}: a {n}-D convolution "
                                 f"needs a rank-{n + 2} input (N, C, {', '.join(f'D{i + 1}' for i in range(n))})",
                           f"reshape the input to rank {n + 2}, or use a rank-{len(c.x)} weight")
