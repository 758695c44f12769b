from convlint.core import compare, dims
from convlint.rule import Rule

from ._sizes import layer, named


# onnxruntime's quantized ops: op -> (scale input, zero point input, quantized operand input, its role, the form
# onnxruntime takes for its scale and zero point: one per "tensor", per output "channel", per "column")
_OPERANDS = {
    "QLinearConv": ((1, 2, 0, "input", "tensor"), (4, 5, 3, "weight", "channel"), (6, 7, None, "output", "tensor")),
    "QLinearMatMul": ((1, 2, 0, "input a", "tensor"), (4, 5, 3, "input b", "column"), (6, 7, None, "output", "tensor")),
    "ConvInteger": ((None, 2, 0, "input", "tensor"), (None, 3, 1, "weight", "tensor")),
    "MatMulInteger": ((None, 2, 0, "input a", "tensor"), (None, 3, 1, "input b", "column")),
}


class QuantizeScaleShape(Rule):
    """## What it does
    Checks the shapes of the scales and zero points of quantized ops against what onnxruntime takes:

    - `QuantizeLinear` and `DequantizeLinear`: scale and zero point of the same shape, a scalar (per tensor) or a
      1-D tensor as long as the quantized axis (per axis, `axis` defaulting to 1);
    - `QLinearConv`: one scale and zero point for the input and the output; for the weight, one, or one per output
      channel;
    - `QLinearMatMul` and `MatMulInteger`: one for `a` and the output; for `b`, one, one per column (a 2-D `b`), or,
      for a batched `b` of shape `(..., K, N)`, a tensor of shape `(..., 1, N)`;
    - `ConvInteger`: one zero point for the input and one for the weight.

    "One" is a scalar or a 1-element 1-D tensor. The ONNX spec also allows per-row scales for `a` and per-channel
    zero points in `ConvInteger`; onnxruntime's CPU kernels refuse them, and this rule holds a model to them.

    ## Why is this bad?
    onnxruntime refuses the node when it runs ("x_scale and x_zero_point must have the same shape", "QLinearConv :
    filter scale shape invalid", "MatmulInteger : B zero point is not valid"). It is what hand edits of a quantized
    model, exports that quantize per channel along the wrong axis, and `quantize_dynamic(per_channel=True)` on a
    batched (3-D) MatMul weight leave (onnxruntime#25489).

    ## Example
    `DequantizeLinear<axis = 0>(w: int8[64, 3, 3, 3], scale: float[32], zero_point: int8[32])`: 32 scales for 64
    output channels. (With the default `axis = 1`, 64 scales for this weight are wrong too: it has 3 input
    channels.) `MatMulInteger(a: uint8[2, 5, 16], b: int8[2, 16, 8], 0, b_zero_point: int8[8])`: per-column zero
    points for a batched `b` must have the shape `(2, 1, 8)`.

    ## Fix
    Give one scale (and zero point) per channel of the quantized axis, or one for the whole tensor; set `axis` to
    the axis the scales are for; shape a batched `b`'s per-column parameters `(..., 1, N)`, or quantize it per
    tensor.
    """

    code = "CL802"
    name = "quantize-scale-shape"
    brief = "scales and zero points of QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul, ConvInteger and " \
            "MatMulInteger: per tensor, or per channel as onnxruntime takes them"
    ops = ("QuantizeLinear", "DequantizeLinear") + tuple(_OPERANDS)

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (int8[64, 3, 3, 3] w) => (float[64, 3, 3, 3] y)
        <float[64] scale, int8[64] zero_point> { y = DequantizeLinear <axis = 0> (w, scale, zero_point) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (uint8[2, 5, 16] a) => (int32[2, 5, 8] y)
        <int8[2, 16, 8] b, uint8 a_zero_point, int8[2, 1, 8] b_zero_point>
        { y = MatMulInteger (a, b, a_zero_point, b_zero_point) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (uint8[N, 4, H, W] x) => (uint8[N, 8, H, W] y)
        <float x_scale, uint8 x_zero_point, int8[8, 4, 3, 3] w, float[8] w_scale, int8 w_zero_point,
         float y_scale, uint8[1] y_zero_point>
        { y = QLinearConv <pads = [1, 1, 1, 1]> (x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale,
                                                 y_zero_point) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (int8[64, 3, 3, 3] w) => (float[64, 3, 3, 3] y)
        <float[32] scale, int8[32] zero_point> { y = DequantizeLinear <axis = 0> (w, scale, zero_point) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (uint8[2, 5, 16] a) => (int32[2, 5, 8] y)
        <int8[2, 16, 8] b, uint8 a_zero_point, int8[8] b_zero_point>
        { y = MatMulInteger (a, b, a_zero_point, b_zero_point) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (uint8[N, 4, H, W] x) => (uint8[N, 8, H, W] y)
        <float x_scale, uint8 x_zero_point, int8[8, 4, 3, 3] w, float[4] w_scale, int8 w_zero_point,
         float y_scale, uint8 y_zero_point>
        { y = QLinearConv <pads = [1, 1, 1, 1]> (x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale,
                                                 y_zero_point) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (uint8[N, 4, H, W] x) => (int32[N, 8, H, W] y)
        <int8[8, 4, 3, 3] w, uint8 x_zero_point, int8[8] w_zero_point>
        { y = ConvInteger <pads = [1, 1, 1, 1]> (x, w, x_zero_point, w_zero_point) }""",
    ]

    def check(self, node, ctx):
        if node.op in ("QuantizeLinear", "DequantizeLinear"):
            yield from self._check_quantize_linear(node)
        elif node.domain in ("", "ai.onnx"):
            for scale, zero, operand, role, form in _OPERANDS[node.op]:
                for index, kind in ((scale, "scale"), (zero, "zero point")):
                    param = node.input(index) if index is not None else None
                    if param is not None and param.shape is not None:
                        yield from self._check_param(node, param, kind, operand, role, form)

    def _check_param(self, node, param, kind, operand, role, form):
        x = node.input(operand) if operand is not None else None
        shape = tuple(param.shape)
        if _one(shape):
            return
        if form == "tensor":
            accepted, hint = "one (a scalar or a 1-element tensor)", f"give one {kind} for the whole {role}"
        elif x is None or x.shape is None or len(x.shape) < 2:
            return
        elif form == "channel":
            channels = x.shape[0]
            if len(shape) == 1 and compare.equal(shape[0], channels) is not False:
                return
            accepted = f"one, or one per output channel ({dims.pretty(channels)}) in a 1-D tensor"
            hint = f"give {dims.pretty(channels)} {kind}s (one per output channel), or one"
        else:
            columns, batch = x.shape[-1], tuple(x.shape[:-2])
            wanted = batch + (1, columns)
            if len(shape) == len(wanted) and all(compare.equal(a, b) is not False for a, b in zip(shape, wanted)):
                return
            if not batch and len(shape) == 1 and compare.equal(shape[0], columns) is not False:
                return
            if batch:
                accepted = (f"one, or one per column of each of its matrices, shaped {dims.pretty_shape(wanted)} "
                            f"(a 1-D tensor only when {role} is 2-D)")
                hint = f"give the {kind} the shape {dims.pretty_shape(wanted)}, or one for the whole {role}"
            else:
                accepted = (f"one, or one per column ({dims.pretty(columns)}), as a 1-D tensor or shaped "
                            f"{dims.pretty_shape(wanted)}")
                hint = f"give {dims.pretty(columns)} {kind}s (one per column), or one"
        about = f" {named(x)}" if x is not None else ""
        yield self.finding(node, f"{layer(node)} has {kind} {named(param)} for its {role}{about}, but onnxruntime "
                                 f"takes {accepted}{_SPEC_ALLOWS.get((node.op, role), '')}", hint)

    def _check_quantize_linear(self, node):
        x, scale, zero = node.input(0), node.input(1), node.input(2)
        if x is None or scale is None or x.shape is None or scale.shape is None:
            return
        if zero is not None and zero.shape is not None and tuple(zero.shape) != tuple(scale.shape) \
                and not (_one(zero.shape) and _one(scale.shape)):
            yield self.finding(node, f"{layer(node)} has scale {named(scale)} and zero point {named(zero)} of "
                                     f"different shapes: they must be the same",
                               "give the zero point the scale's shape (one per scale)")
            return
        if _one(scale.shape) or len(scale.shape) != 1 or node.attrs.get("block_size"):
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


# where onnxruntime takes less than the ONNX spec allows: (op, role) -> what the message adds
_PER_ROW = " (the ONNX spec allows one per row; onnxruntime does not)"
_SPEC_ALLOWS = {
    ("QLinearMatMul", "input a"): _PER_ROW,
    ("MatMulInteger", "input a"): _PER_ROW,
    ("ConvInteger", "weight"): " (the ONNX spec allows one per output channel; onnxruntime's ConvInteger does not)",
}


def _one(shape) -> bool:
    """A scalar or a 1-element 1-D tensor: one value for the whole tensor."""
    return len(shape) == 0 or (len(shape) == 1 and shape[0] == 1)
