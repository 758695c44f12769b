"""Ops that move, cut and re-arrange tensors, and the shape-level constants that feed them."""

from __future__ import annotations

import numpy as np

from convlint.core import dims
from convlint.core.dtypes import dtype_name
from convlint.shapes.base import Out, as_data, axis, broadcast, data_of, input_dtype, ints_of, shape_fn, unknown_of_rank

MAX_FOLD = 4096


def _attr_or_input(node, attr: str, index: int):
    """A list-valued operand that moved from an attribute to an input across opsets (axes, split, pads)."""
    if attr in node.attrs:
        return list(node.attrs[attr])
    if node.input(index) is None:
        return []
    return ints_of(node, index)


def _small(values) -> bool:
    return values is not None and len(values) <= MAX_FOLD


@shape_fn("Constant")
def constant(node, ctx):
    from convlint.core.onnx_tensors import constant_array

    a = node.attrs
    if "value" in a and hasattr(a["value"], "dims"):
        t = a["value"]
        return [Out(tuple(int(d) for d in t.dims), dtype_name(t.data_type), constant_array(t))]
    for key, dtype in (("value_int", "int64"), ("value_float", "float32")):
        if key in a:
            return [Out((), dtype, np.array(a[key], dtype=dtype))]
    for key, dtype in (("value_ints", "int64"), ("value_floats", "float32")):
        if key in a:
            return [Out((len(a[key]),), dtype, np.array(a[key], dtype=dtype))]
    return [Out()]


@shape_fn("Shape")
def shape(node, ctx):
    s = node.input_shape(0)
    if s is None:
        return [Out(None, "int64")]
    rank = len(s)
    start = node.attrs.get("start", 0)
    end = node.attrs.get("end", rank)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    part = s[start:end]
    data = as_data(part) if all(d is not None for d in part) else None
    return [Out((len(part),), "int64", data)]


@shape_fn("Size")
def size(node, ctx):
    n = dims.product(node.input_shape(0) or [None])
    return [Out((), "int64", np.array(n, dtype=object) if n is not None else None)]


@shape_fn("ConstantOfShape")
def constant_of_shape(node, ctx):
    from convlint.core.onnx_tensors import constant_array

    target = ints_of(node, 0)
    value = node.attrs.get("value")
    dtype = dtype_name(value.data_type) if value is not None and hasattr(value, "data_type") else "float32"
    if target is None:
        in_shape = node.input_shape(0)
        return [Out(unknown_of_rank(in_shape[0] if in_shape else None), dtype)]
    shape = tuple(target)
    data = None
    n = dims.product(shape)
    foldable = dims.is_static_shape(shape) and min(shape, default=0) >= 0 and n <= MAX_FOLD
    if foldable and (dtype or "").startswith(("int", "uint")):
        fill = constant_array(value) if value is not None else None
        fill = fill.reshape(-1)[0] if fill is not None and fill.size else 0
        data = np.full(shape, fill, dtype=dtype)
    return [Out(shape, dtype, data)]


@shape_fn("Reshape")
def reshape(node, ctx):
    x = node.input_shape(0)
    dtype = input_dtype(node, 0)
    target = node.attrs.get("shape") if "shape" in node.attrs else ints_of(node, 1)
    if target is None:
        s1 = node.input_shape(1)
        return [Out(unknown_of_rank(s1[0] if s1 else None), dtype)]
    allowzero = node.attrs.get("allowzero", 0)
    out = []
    infer = None
    for i, d in enumerate(target):
        if d == 0 and not allowzero and type(d) is int:
            out.append(x[i] if x is not None and i < len(x) else None)
        elif d == -1 and type(d) is int:
            infer = i
            out.append(None)
        else:
            out.append(d)
    if infer is not None and x is not None:
        known = dims.product([d for i, d in enumerate(out) if i != infer])
        total = dims.product(x)
        if known is not None and total is not None and known != 0:
            out[infer] = dims.floordiv(total, known)
    data = data_of(node, 0)
    if data is not None and dims.is_static_shape(tuple(out)):
        try:
            data = np.asarray(data).reshape(tuple(out))
        except ValueError:
            data = None
    else:
        data = None
    return [Out(tuple(out), dtype, data)]


@shape_fn("Flatten")
def flatten(node, ctx):
    x = node.input_shape(0)
    if x is None:
        return [Out((None, None), input_dtype(node))]
    a = axis(node.attrs.get("axis", 1), len(x) + 1)
    if a is None:
        return [Out((None, None), input_dtype(node))]
    return [Out((dims.product(x[:a]), dims.product(x[a:])), input_dtype(node))]


@shape_fn("Transpose")
def transpose(node, ctx):
    x = node.input_shape(0)
    if x is None:
        return [Out(None, input_dtype(node))]
    perm = node.attrs.get("perm") or list(range(len(x)))[::-1]
    if sorted(perm) != list(range(len(x))):
        return [Out((None,) * len(perm), input_dtype(node))]
    data = data_of(node, 0)
    if data is not None:
        try:
            data = np.transpose(data, perm)
        except ValueError:
            data = None
    return [Out(tuple(x[p] for p in perm), input_dtype(node), data)]


@shape_fn("Concat")
def concat(node, ctx):
    shapes = [v.shape for v in node.inputs if v is not None]
    dtype = next((v.dtype for v in node.inputs if v is not None and v.dtype), None)
    ranked = [s for s in shapes if s is not None]
    if not ranked:
        return [Out(None, dtype)]
    rank = len(ranked[0])
    a = axis(node.attrs.get("axis", 0), rank)
    if a is None or any(len(s) != rank for s in ranked):
        return [Out(None, dtype)]
    out = []
    for i in range(rank):
        if i == a:
            out.append(_sum([s[i] for s in shapes]) if None not in shapes else None)
        else:
            out.append(_agree([s[i] for s in ranked]))
    data = None
    arrays = [v.data for v in node.inputs if v is not None]
    if arrays and all(d is not None for d in arrays):
        try:
            data = np.concatenate([np.asarray(d, dtype=object) if any(np.asarray(x).dtype == object for x in arrays)
                                   else np.asarray(d) for d in arrays], axis=a)
        except ValueError:
            data = None
    return [Out(tuple(out), dtype, data)]


def _sum(values):
    total = 0
    for v in values:
        total = dims.add(total, v)
    return total


def _agree(values):
    """The dim all ``values`` share; an int wins over a symbol it must equal."""
    for v in values:
        if type(v) is int:
            return v
    for v in values:
        if v is not None:
            return v
    return None


@shape_fn("Split")
def split(node, ctx):
    x = node.input_shape(0)
    n = len(node.outputs)
    dtype = input_dtype(node)
    if x is None:
        return [Out(None, dtype)] * n
    a = axis(node.attrs.get("axis", 0), len(x))
    if a is None:
        return [Out(None, dtype)] * n
    sizes = _attr_or_input(node, "split", 1)
    if not sizes:
        num = node.attrs.get("num_outputs", n)
        d = x[a]
        if type(d) is int and num:
            chunk = -(-d // num)
            sizes = [min(chunk, max(d - chunk * i, 0)) for i in range(num)]
        elif num and "num_outputs" in node.attrs:  # opset 18: pieces of ceil(d / num), the last one smaller
            chunk = dims.ceildiv(d, num)
            sizes = [chunk] * (num - 1) + [dims.sub(d, dims.mul(chunk, num - 1))]
        else:  # equal pieces, as the op requires
            sizes = [dims.floordiv(d, num)] * num if num else []
    if sizes is None or len(sizes) != n:
        return [Out(x[:a] + (None,) + x[a + 1:], dtype)] * n
    return [Out(x[:a] + (s,) + x[a + 1:], dtype) for s in sizes]


@shape_fn("Slice")
def slice_(node, ctx):
    x = node.input_shape(0)
    dtype = input_dtype(node)
    if x is None:
        return [Out(None, dtype)]
    if "starts" in node.attrs:
        starts, ends = node.attrs.get("starts"), node.attrs.get("ends")
        axes = node.attrs.get("axes") or list(range(len(starts)))
        steps = [1] * len(starts)
    else:
        starts, ends = ints_of(node, 1), ints_of(node, 2)
        axes = ints_of(node, 3) if node.input(3) is not None else (list(range(len(starts))) if starts else None)
        steps = ints_of(node, 4) if node.input(4) is not None else ([1] * len(starts) if starts else None)
    if None in (starts, ends, axes, steps) or not (len(starts) == len(ends) == len(axes) == len(steps)):
        if axes is not None:
            out = list(x)
            for a in axes:
                a2 = axis(a, len(x)) if type(a) is int else None
                if a2 is not None:
                    out[a2] = None
            return [Out(tuple(out), dtype)]
        return [Out((None,) * len(x), dtype)]
    out = list(x)
    index = [slice(None)] * len(x)
    for st, en, a, step in zip(starts, ends, axes, steps):
        a2 = axis(a, len(x)) if type(a) is int else None
        if a2 is None or type(step) is not int or step == 0:
            return [Out((None,) * len(x), dtype)]
        d = x[a2]
        out[a2] = _slice_len(st, en, step, d)
        if index is not None and type(st) is int and type(en) is int:
            index[a2] = slice(st, en, step)
        else:
            index = None
    data = data_of(node, 0)
    if data is not None and index is not None and data.ndim == len(x):
        try:
            data = data[tuple(index)]
        except (IndexError, ValueError):
            data = None
    else:
        data = None
    return [Out(tuple(out), dtype, data)]


_BIG = 2**62  # exporters write INT64_MAX (or INT_MAX) for "to the end": anything this large is that


def _slice_len(start, end, step, d):
    """How many elements ``start:end:step`` selects from an axis of size ``d``, by ONNX's clamping rules.

    Symbolic starts and ends (``x[:, :T]`` on a buffer of 32 gives ``Min(T, 32)``) stay exact; a start whose sign
    depends on the symbols gives unknown.
    """
    if type(d) is int and type(start) is int and type(end) is int:
        return len(range(*slice(start, end, step).indices(d)))
    if step > 0:
        first = _clamp(start, d, 0, d)
        stop = _clamp(end, d, 0, d)
        return dims.maximum(0, dims.ceildiv(dims.sub(stop, first), step))
    first = _clamp(start, d, 0, dims.sub(d, 1))
    stop = _clamp(end, d, -1, dims.sub(d, 1))
    return dims.maximum(0, dims.ceildiv(dims.sub(first, stop), -step))


def _clamp(i, d, low, high):
    """An index made non-negative (counted from the end if negative) and clamped to ``[low, high]``."""
    if type(i) is int and abs(i) >= _BIG // 4:
        return high if i > 0 else low
    negative = i < 0 if type(i) is int else None if i is None else i.is_negative
    if negative is None and i is not None and i.is_nonnegative:
        negative = False
    if negative is None:
        return None
    if negative:
        i = dims.add(i, d)
    return dims.maximum(low, dims.minimum(i, high))


@shape_fn("Gather")
def gather(node, ctx):
    x, idx = node.input_shape(0), node.input_shape(1)
    dtype = input_dtype(node)
    if x is None or idx is None:
        return [Out(None, dtype)]
    a = axis(node.attrs.get("axis", 0), len(x))
    if a is None:
        return [Out(None, dtype)]
    shape = x[:a] + tuple(idx) + x[a + 1:]
    data = None
    xd, id_ = data_of(node, 0), data_of(node, 1)
    if xd is not None and id_ is not None:
        try:
            data = np.asarray(np.take(np.asarray(xd), np.asarray(id_).astype(np.int64), axis=a))
        except (IndexError, ValueError, TypeError):
            data = None
    return [Out(shape, dtype, data)]


@shape_fn("Squeeze")
def squeeze(node, ctx):
    x = node.input_shape(0)
    dtype = input_dtype(node)
    if x is None:
        return [Out(None, dtype)]
    axes = _attr_or_input(node, "axes", 1)
    if axes is None:
        return [Out(None, dtype)]
    if not axes:
        if not all(d is not None and (type(d) is int) for d in x):
            return [Out(None, dtype)]
        drop = {i for i, d in enumerate(x) if d == 1}
    else:
        drop = {axis(a, len(x)) for a in axes if type(a) is int}
    shape = tuple(d for i, d in enumerate(x) if i not in drop)
    data = data_of(node, 0)
    if data is not None:
        try:
            data = np.asarray(data).reshape(tuple(int(d) for d in shape)) if dims.is_static_shape(shape) else None
        except ValueError:
            data = None
    return [Out(shape, dtype, data)]


@shape_fn("Unsqueeze")
def unsqueeze(node, ctx):
    x = node.input_shape(0)
    dtype = input_dtype(node)
    axes = _attr_or_input(node, "axes", 1)
    if x is None or axes is None:
        return [Out(None, dtype)]
    rank = len(x) + len(axes)
    norm_axes = sorted(axis(a, rank) for a in axes if type(a) is int)
    if None in norm_axes or len(set(norm_axes)) != len(axes):
        return [Out((None,) * rank, dtype)]
    out, it = [], iter(x)
    for i in range(rank):
        out.append(1 if i in norm_axes else next(it))
    data = data_of(node, 0)
    if data is not None:
        try:
            data = np.asarray(data).reshape(tuple(out))
        except (ValueError, TypeError):
            data = None
    return [Out(tuple(out), dtype, data)]


@shape_fn("Expand")
def expand(node, ctx):
    x = node.input_shape(0)
    target = ints_of(node, 1)
    dtype = input_dtype(node)
    if x is None:
        return [Out(None, dtype)]
    if target is None:
        # Only the target's length is known: an axis of x that is an int other than 1 keeps its size.
        t = node.input_shape(1)
        if not t or type(t[0]) is not int or unknown_of_rank(t[0]) is None:
            return [Out(None, dtype)]
        rank = max(len(x), t[0])
        padded = (1,) * (rank - len(x)) + tuple(x)
        return [Out(tuple(d if type(d) is int and d != 1 else None for d in padded), dtype)]
    shape = broadcast(x, tuple(target))
    data = None
    xd = data_of(node, 0)
    if xd is not None and dims.is_static_shape(shape) and dims.product(shape) <= MAX_FOLD:
        try:
            data = np.broadcast_to(xd, shape).copy()
        except ValueError:
            data = None
    return [Out(shape, dtype, data)]


@shape_fn("Tile")
def tile(node, ctx):
    x = node.input_shape(0)
    reps = ints_of(node, 1)
    if x is None or reps is None or len(reps) != len(x):
        return [Out(None if x is None else (None,) * len(x), input_dtype(node))]
    return [Out(tuple(dims.mul(d, r) for d, r in zip(x, reps)), input_dtype(node))]


@shape_fn("Pad")
def pad(node, ctx):
    x = node.input_shape(0)
    dtype = input_dtype(node)
    if x is None:
        return [Out(None, dtype)]
    pads = _attr_or_input(node, "pads", 1) if "paddings" not in node.attrs else list(node.attrs["paddings"])
    axes = ints_of(node, 3) if node.input(3) is not None else list(range(len(x)))
    if pads is None or axes is None or len(pads) != 2 * len(axes):
        return [Out((None,) * len(x), dtype)]
    out = list(x)
    for j, a in enumerate(axes):
        a2 = axis(a, len(x)) if type(a) is int else None
        if a2 is None:
            return [Out((None,) * len(x), dtype)]
        out[a2] = dims.add(dims.add(out[a2], pads[j]), pads[j + len(axes)])
    return [Out(tuple(out), dtype)]


@shape_fn("Range")
def range_(node, ctx):
    dtype = input_dtype(node)
    arrays = [data_of(node, i) for i in range(3)]
    if all(a is not None and a.dtype != object and a.size == 1 for a in arrays):
        s, l, d = (a.reshape(-1)[0].item() for a in arrays)
        if d == 0 or not all(np.isfinite([s, l, d])):
            return [Out((None,), dtype)]
        n = max(int(np.ceil((l - s) / d)), 0)
        data = np.arange(s, l, d, dtype=dtype or None)[:n] if n <= MAX_FOLD else None
        return [Out((n,), dtype, data)]
    start, limit, delta = (ints_of(node, i) for i in range(3))
    if not (start and limit and delta) or not all(len(v) == 1 for v in (start, limit, delta)):
        return [Out((None,), dtype)]
    s, l, d = start[0], limit[0], delta[0]
    if type(d) is not int or d == 0:
        return [Out((None,), dtype)]
    n = dims.ceildiv(dims.sub(l, s), d) if d > 0 else dims.ceildiv(dims.sub(s, l), -d)
    return [Out((dims.maximum(0, n),), dtype)]


@shape_fn("Resize", "Upsample")
def resize(node, ctx):
    """Output sizes from ``sizes``, or ``floor(d * scale)`` per axis (exact for symbols: a float32 scale is a
    rational p / 2**k), on every axis or on those ``axes`` names (opset 18)."""
    x = node.input_shape(0)
    dtype = input_dtype(node)
    if x is None:
        return [Out(None, dtype)]
    unknown = [Out((None,) * len(x), dtype)]
    if node.op == "Resize":
        sizes = ints_of(node, 3) if node.input(3) is not None else None
        scales = data_of(node, 2) if node.input(2) is not None else None
        if scales is None and node.input(1) is not None and node.input(2) is None and len(node.inputs) == 2:
            scales = data_of(node, 1)  # Resize-10: (X, scales)
    else:
        sizes = None
        scales = np.array(node.attrs["scales"]) if "scales" in node.attrs else data_of(node, 1)
    axes = [axis(a, len(x)) for a in node.attrs.get("axes") or range(len(x))]
    if None in axes or len(set(axes)) != len(axes):
        return unknown
    if node.attrs.get("coordinate_transformation_mode") == "tf_crop_and_resize":
        return unknown  # the roi scales the output too
    out = list(x)
    if sizes:
        if len(sizes) != len(axes) or node.attrs.get("keep_aspect_ratio_policy", "stretch") != "stretch":
            return unknown
        for a, d in zip(axes, sizes):
            out[a] = d
        return [Out(tuple(out), dtype)]
    if scales is None or scales.dtype == object or scales.size != len(axes):
        return unknown
    for a, s in zip(axes, np.asarray(scales, dtype=np.float32).reshape(-1).tolist()):
        if not 0 < s < float("inf"):
            out[a] = None
            continue
        p, q = s.as_integer_ratio()
        out[a] = dims.floordiv(dims.mul(x[a], p), q)
    return [Out(tuple(out), dtype)]


@shape_fn("DepthToSpace", "SpaceToDepth")
def depth_space(node, ctx):
    x = node.input_shape(0)
    b = node.attrs.get("blocksize", 1)
    if x is None or len(x) != 4 or b < 1:
        return [Out(None if x is None else (None,) * len(x), input_dtype(node))]
    n, c, h, w = x
    if node.op == "DepthToSpace":
        shape = (n, dims.floordiv(c, b * b), dims.mul(h, b), dims.mul(w, b))
    else:
        shape = (n, dims.mul(c, b * b), dims.floordiv(h, b), dims.floordiv(w, b))
    return [Out(shape, input_dtype(node))]


@shape_fn("GatherElements", "ScatterElements", "ScatterND", "Scatter")
def like_data(node, ctx):
    if node.op == "GatherElements":
        return [Out(node.input_shape(1), input_dtype(node))]
    return [Out(node.input_shape(0), input_dtype(node))]


@shape_fn("NonZero")
def nonzero(node, ctx):
    x = node.input_shape(0)
    return [Out((len(x) if x is not None else None, None), "int64")]


@shape_fn("EyeLike")
def eye_like(node, ctx):
    dt = node.attrs.get("dtype")
    return [Out(node.input_shape(0), dtype_name(dt) if dt else input_dtype(node))]
