from convlint.core import compare, dims
from convlint.rule import Rule

from ._conv import CONV_OPS, QUANTIZED_CONV_OPS, layout


class ConvBiasShape(Rule):
    """## What it does
    Checks that a convolution's bias is one value per output channel: shape `(M,)`, where `M` is `W.shape[0]` for
    `Conv` and `W.shape[1] * group` for `ConvTranspose`.

    ## Why is this bad?
    onnxruntime fails in `run()` ("bias must be a 1D tensor of size output_channels"); PyTorch fails in the
    forward pass. Bias vectors go stale when a layer's output channels are pruned and the bias is not.

    ## Example
    `Conv(x[1, 3, 8, 8], W[4, 3, 3, 3], B[5])`: 4 output channels, 5 biases.

    ## Fix
    Give the bias `M` values, or drop it.
    """

    code = "CL103"
    name = "conv-bias-shape"
    brief = "the bias has one value per output channel"
    ops = CONV_OPS + QUANTIZED_CONV_OPS

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3, 8, 8] x) => (float[1, 4, 6, 6] y)
        <float[4, 3, 3, 3] w, float[4] b> { y = Conv(x, w, b) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3, 8, 8] x) => (float[1, 4, 6, 6] y)
        <float[4, 3, 3, 3] w, float[5] b> { y = Conv(x, w, b) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 4, 8, 8] x) => (float[1, 4, 10, 10] y)
        <float[4, 2, 3, 3] w, float[2] b> { y = ConvTranspose<group = 2>(x, w, b) }""",
    ]

    def check(self, node, ctx):
        c = layout(node)
        bias = c.bias
        if bias is None or bias.shape is None:
            return
        m = c.out_channels
        if m is None:
            return
        if len(bias.shape) == 1 and compare.equal(bias.shape[0], m) is not False:
            return
        if len(bias.shape) == 1 and bias.shape[0] is None:
            return
        yield self.finding(node, f"bias {bias.name!r} has shape {dims.pretty_shape(bias.shape)}, but the layer has "
                                 f"{dims.pretty(m)} output channels (weight {c.weight_name!r} {dims.pretty_shape(c.w)}), "
                                 f"so it needs ({dims.pretty(m)},)",
                           f"give the bias {dims.pretty(m)} values, one per output channel, or remove it",
                           replay_shapes=c.replay_shapes(fix_bias=False))
