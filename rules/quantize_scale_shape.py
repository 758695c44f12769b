from convlint.core import compare, dims
from convlint.rule import Rule

from ._sizes import layer, named


class QuantizeScaleShape(Rule):
    """## What it does
    Checks the scale and zero point of `QuantizeLinear` and `DequantizeLinear`: the same shape, and one of the
    forms the op takes: a scalar (per tensor), or a 1-D tensor as long as the quantized axis (per axis, `axis`
    defaulting to 1: the channels of a convolution's weight or activations).

    ## Why is this bad?
    onnxruntime refuses the node when it runs ("x_scale and x_zero_point must have the same shape", or a scale
    whose length is not the axis's). It is what hand edits of a quantized model and exports that quantize per
    channel along the wrong axis leave.

    ## Example
    `DequantizeLinear<axis = 0>(w: int8[64, 3, 3, 3], scale: float[32], zero_point: int8[32])`: 32 scales for 64
    output channels. (With the default `axis = 1`, 64 scales for this weight are wrong too: it has 3 input
    channels.)

    ## Fix
    Give one scale (and zero point) per channel of the quantized axis, or one for the whole tensor; set `axis` to
    the axis the scales are for.
    """

    code = "CL802"
    name = "quantize-scale-shape"
    brief = "QuantizeLinear/DequantizeLinear scale and zero point: per tensor, or one per channel of `axis`"
    ops = ("QuantizeLinear", "DequantizeLinear")

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (int8[64, 3, 3, 3] w) => (float[64, 3, 3, 3] y)
        <float[64] scale, int8[64] zero_point> { y = DequantizeLinear <axis = 0> (w, scale, zero_point) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (int8[64, 3, 3, 3] w) => (float[64, 3, 3, 3] y)
        <float[32] scale, int8[32] zero_point> { y = DequantizeLinear <axis = 0> (w, scale, zero_point) }""",
    ]

    def check(self, node, ctx):
        x, scale, zero = node.input(0), node.input(1), node.input(2)
        if x is None or scale is None or x.shape is None or scale.shape is None:
            return
        if zero is not None and zero.shape is not None and tuple(zero.shape) != tuple(scale.shape) \
                and not (_scalar(zero.shape) and _scalar(scale.shape)):
            yield self.finding(node, f"{layer(node)} has scale {named(scale)} and zero point {named(zero)} of "
                                     f"different shapes: they must be the same",
                               "give the zero point the scale's shape (one per scale)")
            return
        if _scalar(scale.shape) or len(scale.shape) != 1 or node.attrs.get("block_size"):
            return  # per tensor; a blocked layout (opset 21) is beyond this rule
        rank = len(x.shape)
        axis = node.attrs.get("axis", 1)
        if not -rank <= axis < rank:
            return
        length = x.shape[axis % rank]
        if compare.equal(scale.shape[0], length) is False:
            yield self.finding(node, f"{layer(node)} quantizes {named(x)} per channel along axis {axis}, which has "
                                     f"{dims.pretty(length)} channels, but scale {named(scale)} holds "
                                     f"{dims.pretty(scale.shape[0])}",
                               f"give one scale per channel ({dims.pretty(length)}), or set axis to the axis they are "
                               f"for")


def _scalar(shape) -> bool:
    return len(shape) == 0 or (len(shape) == 1 and shape[0] == 1)
