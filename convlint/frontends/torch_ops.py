"""Tensor operations read as ONNX nodes, so a call PyTorch refuses can be described, checked and stepped over.

Each builder takes the tracer and the call's arguments and returns ``(op, attrs, inputs)`` with ONNX semantics, or
None when the call does not fit the ONNX op (``x.view(torch.int8)``); the op is then recorded as ``torch.<name>``.
:data:`SHAPE_ONLY` ops are not run by PyTorch when convlint can tell their output size: PyTorch's own shape code for
``interpolate`` fixes symbolic sizes to their example values, and ``scaled_dot_product_attention`` on the meta device
costs as much as the rest of a decoder's layer.
"""

from __future__ import annotations

from fractions import Fraction

import torch

from convlint.core import dims
from convlint.shapes.base import as_data
from convlint.frontends.torch_layout import conv_attrs, ntuple, pool_attrs


def arg(args, kwargs, i: int, name: str, default=None):
    if i < len(args):
        return args[i]
    return kwargs.get(name, default)


def _binary(op):
    def build(t, args, kwargs):
        other = arg(args, kwargs, 1, "other")
        if len(args) < 1:
            return None
        return op, {}, [t.operand(args[0]), t.operand(other)]
    return build


def _concat(t, args, kwargs):
    tensors = arg(args, kwargs, 0, "tensors")
    if not isinstance(tensors, (list, tuple)) or not tensors:
        return None
    return "Concat", {"axis": int(arg(args, kwargs, 1, "dim", 0))}, [t.operand(x) for x in tensors]


def _matmul(t, args, kwargs):
    return "MatMul", {}, [t.operand(args[0]), t.operand(arg(args, kwargs, 1, "other"))]


def _reshape(t, args, kwargs):
    shape = args[1:] if len(args) > 1 else [kwargs.get("shape", kwargs.get("size"))]
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)):
        shape = shape[0]
    if any(not isinstance(d, (int, torch.SymInt)) for d in shape):
        return None  # view(dtype)
    target = [t.table.dim(d) if not (type(d) is int and d == -1) else -1 for d in shape]
    data = as_data(target) if all(d is not None for d in target) else None
    return "Reshape", {}, [t.operand(args[0]), t.const_value(data, (len(target),), "int64")]


def _flatten(t, args, kwargs):
    x = t.operand(args[0])
    if x.shape is None:
        return None
    rank = len(x.shape)
    start = int(arg(args, kwargs, 1, "start_dim", 0))
    end = int(arg(args, kwargs, 2, "end_dim", -1))
    start, end = start % max(rank, 1), end % max(rank, 1)
    target = list(x.shape[:start]) + [dims.product(x.shape[start:end + 1])] + list(x.shape[end + 1:])
    data = as_data(target) if all(d is not None for d in target) else None
    return "Reshape", {}, [x, t.const_value(data, (len(target),), "int64")]


def _conv(transposed):
    def build(t, args, kwargs):
        w = arg(args, kwargs, 1, "weight")
        if not isinstance(w, torch.Tensor) or w.dim() < 3:
            return None
        bias = arg(args, kwargs, 2, "bias")
        stride = arg(args, kwargs, 3, "stride", 1)
        padding = arg(args, kwargs, 4, "padding", 0)
        if transposed:
            out_pad = arg(args, kwargs, 5, "output_padding", 0)
            groups = arg(args, kwargs, 6, "groups", 1)
            dilation = arg(args, kwargs, 7, "dilation", 1)
        else:
            dilation = arg(args, kwargs, 5, "dilation", 1)
            groups = arg(args, kwargs, 6, "groups", 1)
        attrs = conv_attrs(groups, stride, padding, dilation, [int(k) for k in w.shape[2:]],
                           out_pad if transposed else None)
        inputs = [t.operand(args[0]), t.operand(w), t.operand(bias) if bias is not None else None]
        return ("ConvTranspose" if transposed else "Conv"), attrs, inputs
    return build


def _pool(op, n):
    def build(t, args, kwargs):
        kernel = arg(args, kwargs, 1, "kernel_size")
        if kernel is None:
            return None
        stride, padding = arg(args, kwargs, 2, "stride"), arg(args, kwargs, 3, "padding", 0)
        if op == "MaxPool":
            dilation, ceil = arg(args, kwargs, 4, "dilation", 1), arg(args, kwargs, 5, "ceil_mode", False)
        else:
            dilation, ceil = None, arg(args, kwargs, 4, "ceil_mode", False)
        return op, pool_attrs(n, kernel, stride, padding, ceil, dilation), [t.operand(args[0])]
    return build


def _linear(t, args, kwargs):
    x, w = t.operand(args[0]), arg(args, kwargs, 1, "weight")
    bias = arg(args, kwargs, 2, "bias")
    if not isinstance(w, torch.Tensor):
        return None
    return t.linear_node_parts(x, t.operand(w), t.operand(bias) if bias is not None else None)


def _embedding(t, args, kwargs):
    """``F.embedding(ids, weight)``: ONNX ``Gather(weight, ids)``, as ``nn.Embedding`` is recorded."""
    ids, w = arg(args, kwargs, 0, "input"), arg(args, kwargs, 1, "weight")
    if not isinstance(ids, torch.Tensor) or not isinstance(w, torch.Tensor):
        return None
    return "Gather", {}, [t.operand(w), t.operand(ids)]


def _index_select(t, args, kwargs):
    """``x.index_select(dim, index)`` with a 1-D index: ONNX ``Gather(x, index, axis=dim)``."""
    x, dim, index = args[0], arg(args, kwargs, 1, "dim"), arg(args, kwargs, 2, "index")
    if not isinstance(index, torch.Tensor) or index.dim() != 1 or type(dim) is not int or x.dim() < 1:
        return None
    return "Gather", {"axis": dim % x.dim()}, [t.operand(x), t.operand(index)]


def _gather(t, args, kwargs):
    """``torch.gather(x, dim, index)``: ONNX ``GatherElements(x, index, axis=dim)``."""
    x, dim, index = args[0], arg(args, kwargs, 1, "dim"), arg(args, kwargs, 2, "index")
    if not isinstance(index, torch.Tensor) or type(dim) is not int or x.dim() < 1 or index.dim() != x.dim() \
            or kwargs.get("sparse_grad"):
        return None
    return "GatherElements", {"axis": dim % x.dim()}, [t.operand(x), t.operand(index)]


BUILDERS = {
    "cat": _concat, "concat": _concat, "concatenate": _concat,
    "matmul": _matmul, "__matmul__": _matmul, "mm": _matmul, "bmm": _matmul,
    "view": _reshape, "reshape": _reshape, "flatten": _flatten,
    "conv1d": _conv(False), "conv2d": _conv(False), "conv3d": _conv(False),
    "conv_transpose1d": _conv(True), "conv_transpose2d": _conv(True), "conv_transpose3d": _conv(True),
    "linear": _linear,
    "max_pool1d": _pool("MaxPool", 1), "max_pool2d": _pool("MaxPool", 2), "max_pool3d": _pool("MaxPool", 3),
    "avg_pool1d": _pool("AveragePool", 1), "avg_pool2d": _pool("AveragePool", 2), "avg_pool3d": _pool("AveragePool", 3),
    "embedding": _embedding, "index_select": _index_select, "gather": _gather,
}
for _names, _op in ((("add", "__add__", "__radd__", "__iadd__", "add_"), "Add"),
                    (("sub", "__sub__", "__rsub__", "__isub__", "sub_", "subtract"), "Sub"),
                    (("mul", "__mul__", "__rmul__", "__imul__", "mul_", "multiply"), "Mul"),
                    (("div", "__truediv__", "__rtruediv__", "__itruediv__", "div_", "true_divide", "divide"), "Div"),
                    (("maximum",), "Max"), (("minimum",), "Min"), (("pow", "__pow__"), "Pow")):
    for _name in _names:
        BUILDERS[_name] = _binary(_op)


_INTERPOLATE_KWARGS = ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias")
_INTERPOLATE_MODES = {3: ("nearest", "nearest-exact", "linear"), 4: ("nearest", "nearest-exact", "bilinear", "bicubic"),
                      5: ("nearest", "nearest-exact", "trilinear")}


def _exact_scale(s) -> bool:
    """A scale whose binary float is the fraction convlint computes with (2, 1.5, 1.25), so that ``floor(D * s)``
    comes out as PyTorch's floating-point product does for every ``D``."""
    exact = Fraction(float(s))
    return exact == exact.limit_denominator(1000)


def _positive_size(s) -> bool:
    return (type(s) is int and s >= 1) or isinstance(s, torch.SymInt)


def interpolate_shape(t, args, kwargs):
    """The output dims of ``F.interpolate`` as PyTorch computes them: ``size``, or ``floor(D * scale)``; None
    (PyTorch runs the call and judges it) unless the call surely passes every check PyTorch's ``interpolate`` makes:
    a 3-D to 5-D input, exactly one of ``size`` and ``scale_factor``, one value per spatial axis, a mode that takes
    that rank, ``align_corners`` only with the interpolating modes, no ``antialias`` or recomputed scale, and an
    output of at least one position on each axis (a ``size`` of positive ints, or scales of at least 1)."""
    x = args[0]
    if len(args) > 7 or not set(kwargs) <= set(_INTERPOLATE_KWARGS) or not 3 <= x.dim() <= 5:
        return None
    n = x.dim() - 2
    size, scale = arg(args, kwargs, 1, "size"), arg(args, kwargs, 2, "scale_factor")
    mode, align = arg(args, kwargs, 3, "mode", "nearest"), arg(args, kwargs, 4, "align_corners")
    if mode not in _INTERPOLATE_MODES[x.dim()] or (align is not None and mode.startswith("nearest")) \
            or arg(args, kwargs, 5, "recompute_scale_factor") or arg(args, kwargs, 6, "antialias", False):
        return None
    if (size is None) == (scale is None):
        return None
    given = size if size is not None else scale
    if isinstance(given, (list, tuple)) and len(given) != n:
        return None
    if size is not None and not all(_positive_size(s) for s in ntuple(size, n)):
        if all(type(s) is int for s in ntuple(size, n)) and all(type(d) is int for d in x.shape[2:]):
            axes = ("D", "H", "W")[3 - n:]  # the kernels' own check, which their meta versions skip
            raise RuntimeError(f"Input and output sizes should be greater than 0, but got input "
                               f"({', '.join(f'{a}: {d}' for a, d in zip(axes, x.shape[2:]))}) output "
                               f"({', '.join(f'{a}: {d}' for a, d in zip(axes, ntuple(size, n)))})")
        return None
    if scale is not None and not all(type(s) in (int, float) and s >= 1 and _exact_scale(s) for s in ntuple(scale, n)):
        return None
    shape = t.table.shape(x.shape)
    if size is not None:
        spatial = [t.table.dim(s) for s in ntuple(size, n)]
    elif scale is not None:
        spatial = []
        for d, s in zip(shape[2:], ntuple(scale, n)):
            f = Fraction(float(s)).limit_denominator(1000)
            spatial.append(dims.floordiv(dims.mul(d, f.numerator), f.denominator))
    else:
        return None
    return tuple(shape[:2]) + tuple(spatial)


def _same_size(a, b) -> bool:
    """Whether two torch sizes are surely equal: equal ints, or SymInts with the same expression."""
    if type(a) is int or type(b) is int:
        return type(a) is type(b) and a == b
    return isinstance(a, torch.SymInt) and isinstance(b, torch.SymInt) and a.node.expr == b.node.expr


def attention_shape(t, args, kwargs):
    """The output size of ``F.scaled_dot_product_attention`` on the meta device, ``(*batch, L, Ev)``, when PyTorch
    surely accepts the call: query, key and value of one floating dtype and rank, the same batch dims (no
    broadcasting, no grouped-query heads), key and query of one width, key and value of one length, no mask. On the
    meta device PyTorch computes it by its math decomposition (a matmul, a softmax, a causal mask: most of a
    decoder's trace), whose output is contiguous. Otherwise None, and PyTorch runs it and judges."""
    q, k, v = args[0], arg(args, kwargs, 1, "key"), arg(args, kwargs, 2, "value")
    dropout, causal, scale = arg(args, kwargs, 4, "dropout_p", 0.0), arg(args, kwargs, 5, "is_causal", False), \
        arg(args, kwargs, 6, "scale")
    if not (isinstance(k, torch.Tensor) and isinstance(v, torch.Tensor)) or len(args) > 8 \
            or not set(kwargs) <= {"key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa"} \
            or arg(args, kwargs, 3, "attn_mask") is not None or arg(args, kwargs, 7, "enable_gqa", False) is not False \
            or type(dropout) not in (int, float) or type(causal) is not bool \
            or not (scale is None or type(scale) in (int, float)):
        return None
    if not (q.is_meta and k.is_meta and v.is_meta and q.dtype.is_floating_point and q.dtype == k.dtype == v.dtype
            and q.dim() == k.dim() == v.dim() >= 2):
        return None
    qs, ks, vs = q.shape, k.shape, v.shape
    if not (all(map(_same_size, qs[:-2], ks[:-2])) and all(map(_same_size, qs[:-2], vs[:-2]))
            and _same_size(qs[-1], ks[-1]) and _same_size(ks[-2], vs[-2])):
        return None
    return tuple(qs[:-1]) + (vs[-1],)


# name -> (ONNX op to record, or None to keep ``torch.<name>``; shape function: the output size, or None when in
# doubt, and PyTorch runs the call)
SHAPE_ONLY = {"interpolate": ("Resize", interpolate_shape), "upsample": ("Resize", interpolate_shape),
              "scaled_dot_product_attention": (None, attention_shape)}


def _interpolate_arguments_refused(args, kwargs) -> bool:
    """Whether ``F.interpolate``'s arguments alone make PyTorch refuse it, whatever the sizes: a rank it does not
    take, both or neither of ``size`` and ``scale_factor``, a number of values other than the spatial axes', or a
    mode the input's rank does not take."""
    x = args[0]
    if not isinstance(x, torch.Tensor) or not 3 <= x.dim() <= 5:
        return isinstance(x, torch.Tensor)
    size, scale = arg(args, kwargs, 1, "size"), arg(args, kwargs, 2, "scale_factor")
    if (size is None) == (scale is None):
        return True
    given = size if size is not None else scale
    mode = arg(args, kwargs, 3, "mode", "nearest")
    return (isinstance(given, (list, tuple)) and len(given) != x.dim() - 2) or \
        (mode not in _INTERPOLATE_MODES[x.dim()] and mode != "area")


def _pixel_shuffle_refused(args, kwargs) -> bool:
    """Whether ``pixel_shuffle``'s channels, a fixed number, are not divisible by the square of its factor."""
    x, r = args[0], arg(args, kwargs, 1, "upscale_factor")
    return isinstance(x, torch.Tensor) and x.dim() >= 3 and type(x.shape[-3]) is int and type(r) is int and r > 0 \
        and x.shape[-3] % (r * r) != 0


# name -> (args, kwargs) -> True when the arguments alone (no size of the user's) make PyTorch refuse the call
_REFUSED_FOR_EVERY_SIZE = {"interpolate": _interpolate_arguments_refused, "upsample": _interpolate_arguments_refused,
                           "pixel_shuffle": _pixel_shuffle_refused}


def refused_for_every_size(name: str, args, kwargs) -> bool:
    """Whether PyTorch's refusal of the call ``name`` follows from its arguments alone, so that it holds for every
    size of the user's even where its message names them."""
    check = _REFUSED_FOR_EVERY_SIZE.get(name)
    try:
        return bool(check and args and check(args, kwargs))
    except Exception:
        return False
