"""Element-wise ops: unary ones keep their input's shape, the others broadcast numpy-style.

Small integer contents are folded (``Shape -> Gather -> Mul -> Concat -> Reshape`` chains in exported models),
with symbols kept exact in object arrays.
"""

from __future__ import annotations

import numpy as np

from .. import dims
from ..dtypes import dtype_name
from . import Out, broadcast, data_of, input_dtype, same_as_input, shape_fn

UNARY = (
    "Relu", "Sigmoid", "Tanh", "Abs", "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Sign",
    "Erf", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Elu", "Selu",
    "LeakyRelu", "ThresholdedRelu", "HardSigmoid", "HardSwish", "Softplus", "Softsign", "Gelu", "Mish", "Celu",
    "Shrink", "Clip", "Softmax", "LogSoftmax", "Hardmax", "LRN", "MeanVarianceNormalization", "CumSum", "Trilu",
    "BitwiseNot", "Swish", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "Bernoulli",
)


@shape_fn(*UNARY)
def unary(node, ctx):
    out = same_as_input(node, ctx)
    if node.op == "DequantizeLinear":
        scale = node.input(1)
        return [Out(out[0].shape, scale.dtype if scale is not None else "float32")]
    if node.op in ("QuantizeLinear", "DynamicQuantizeLinear"):
        zp = node.input(2)
        dtype = zp.dtype if zp is not None and zp.dtype else "uint8"
        extra = [Out((), "float32"), Out((), "uint8")] if node.op == "DynamicQuantizeLinear" else []
        return [Out(out[0].shape, dtype)] + extra
    return out


@shape_fn("Identity", "Neg")
def identity(node, ctx):
    v = node.input(0)
    if v is None:
        return [Out()]
    data = v.data
    if data is not None and node.op == "Neg":
        data = -data
    return [Out(v.shape, v.dtype, data)]


@shape_fn("Dropout")
def dropout(node, ctx):
    v = node.input(0)
    shape = v.shape if v is not None else None
    return [Out(shape, v.dtype if v is not None else None, v.data if v is not None else None), Out(shape, "bool")]


@shape_fn("Not", "IsNaN", "IsInf")
def predicate(node, ctx):
    return [Out(node.input_shape(0), "bool")]


_FOLD = {
    "Add": lambda a, b: a + b,
    "Sub": lambda a, b: a - b,
    "Mul": lambda a, b: a * b,
    "Div": lambda a, b: a // b if a.dtype.kind in "iuO" and b.dtype.kind in "iuO" else a / b,
    "Mod": lambda a, b: a % b,
    "Max": np.maximum,
    "Min": np.minimum,
    "Equal": lambda a, b: a == b,
    "Less": lambda a, b: a < b,
    "Greater": lambda a, b: a > b,
}
COMPARISON = ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor")


@shape_fn("Add", "Sub", "Mul", "Div", "Pow", "Mod", "BitShift", "PRelu", "Max", "Min", "Sum", "Mean",
          "BitwiseAnd", "BitwiseOr", "BitwiseXor", *COMPARISON)
def binary(node, ctx):
    present = [v for v in node.inputs if v is not None]
    shape = broadcast(*[v.shape for v in present]) if present else None
    dtype = "bool" if node.op in COMPARISON else next((v.dtype for v in present if v.dtype), None)
    return [Out(shape, dtype, _fold(node, present))]


def _fold(node, present):
    fn = _FOLD.get(node.op)
    if fn is None or len(present) != 2:
        return None
    a, b = present[0].data, present[1].data
    if a is None or b is None:
        return None
    try:
        out = fn(np.asarray(a), np.asarray(b))
    except Exception:
        return None
    if out.dtype == object:
        out = np.vectorize(dims.norm, otypes=[object])(out) if out.size else out
    return out


@shape_fn("Where")
def where(node, ctx):
    present = [v for v in node.inputs if v is not None]
    shape = broadcast(*[v.shape for v in present]) if len(present) == 3 else None
    data = None
    if len(present) == 3 and all(v.data is not None for v in present):
        try:
            data = np.where(present[0].data.astype(bool), present[1].data, present[2].data)
        except Exception:
            data = None
    return [Out(shape, input_dtype(node, 1), data)]


@shape_fn("Cast", "CastLike")
def cast(node, ctx):
    v = node.input(0)
    if node.op == "CastLike":
        dtype = input_dtype(node, 1)
    else:
        dtype = dtype_name(node.attrs.get("to", 0))
    data = data_of(node, 0)
    if data is not None and data.dtype != object and dtype:
        try:
            data = data.astype(dtype)
        except Exception:
            data = None
    elif data is not None and dtype and not dtype.startswith(("int", "uint")):
        data = None
    return [Out(v.shape if v is not None else None, dtype, data)]
