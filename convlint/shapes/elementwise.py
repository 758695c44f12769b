"""Element-wise ops: unary ones keep their input's shape, the others broadcast numpy-style.

Small integer contents are folded (``Shape -> Gather -> Mul -> Concat -> Reshape`` chains in exported models),
with symbols kept exact in object arrays.
"""

from __future__ import annotations

import numpy as np

from convlint.core import compare, dims
from convlint.core.dtypes import dtype_name
from convlint.shapes.base import Out, broadcast, data_of, input_dtype, same_as_input, shape_fn

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
    "Mod": lambda a, b: a % b,
}


def _elementwise(numeric, scalar):
    """``numeric`` on numbers; ``scalar`` element by element when symbols occur (None where it cannot tell)."""
    def fold(a, b):
        if a.dtype != object and b.dtype != object:
            return numeric(a, b)
        out = np.vectorize(scalar, otypes=[object])(a, b)
        if any(x is None for x in out.reshape(-1).tolist()):
            raise ValueError("depends on the symbols")
        return out
    return fold


def _divide(a, b):
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        if np.any(b == 0):
            raise ZeroDivisionError("integer division by zero")
        q = np.abs(a) // np.abs(b)  # ONNX integer division truncates toward zero
        return np.where((a < 0) != (b < 0), -q, q)
    return a / b


def _divide_dims(x, y):
    if type(x) is int and type(y) is int:
        return int(_divide(np.array(x), np.array(y))) if y else None
    if compare.at_least(x, 0) and compare.at_least(y, 1):
        return dims.floordiv(x, y)
    return None


_FOLD.update({
    "Div": _elementwise(_divide, _divide_dims),
    "Max": _elementwise(np.maximum, dims.maximum),
    "Min": _elementwise(np.minimum, dims.minimum),
})


def _comparison(numeric, decide):
    """A comparison that folds symbolic contents only where it holds, or fails, for every value of the symbols."""
    fold = _elementwise(numeric, decide)
    return lambda a, b: fold(a, b).astype(bool)


def _not(x):
    return None if x is None else not x


_FOLD.update({
    "Equal": _comparison(np.equal, compare.equal),
    "Less": _comparison(np.less, lambda x, y: _not(compare.at_least(x, y))),
    "Greater": _comparison(np.greater, lambda x, y: _not(compare.at_least(y, x))),
    "LessOrEqual": _comparison(np.less_equal, lambda x, y: compare.at_least(y, x)),
    "GreaterOrEqual": _comparison(np.greater_equal, compare.at_least),
})
COMPARISON = ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor")


@shape_fn("Add", "Sub", "Mul", "Div", "Pow", "Mod", "BitShift", "PRelu", "Max", "Min", "Sum", "Mean",
          "BitwiseAnd", "BitwiseOr", "BitwiseXor", *COMPARISON)
def binary(node, ctx):
    present = [v for v in node.inputs if v is not None]
    if node.op == "PRelu" or ctx.opset.get("", 21) < 7:
        # The slope broadcasts into X; before opset 7 every operand broadcasts into the first (attribute `broadcast`).
        shape = present[0].shape if present else None
    else:
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
        out = np.asarray(fn(np.asarray(a), np.asarray(b)))  # 0-d object arrays give back a bare sympy value
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
            with np.errstate(over="ignore", invalid="ignore"):  # a value the type cannot hold becomes inf: CL801
                data = data.astype(dtype)
        except Exception:
            data = None
    elif data is not None and dtype and not dtype.startswith(("int", "uint")):
        data = None
    return [Out(v.shape if v is not None else None, dtype, data)]
