"""Reductions, arg-reductions and TopK."""

from __future__ import annotations

from convlint.shapes.base import Out, axis, input_dtype, ints_of, shape_fn

REDUCE = ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
          "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")


@shape_fn(*REDUCE)
def reduce(node, ctx):
    x = node.input_shape(0)
    dtype = input_dtype(node)
    if x is None:
        return [Out(None, dtype)]
    keep = node.attrs.get("keepdims", 1)
    if "axes" in node.attrs:
        axes = list(node.attrs["axes"])
    elif node.input(1) is not None:
        axes = ints_of(node, 1)
        if axes is None:
            return [Out((None,) * len(x) if keep else None, dtype)]
    else:
        axes = []
    if not axes:
        if node.attrs.get("noop_with_empty_axes", 0):
            return [Out(x, dtype)]
        axes = list(range(len(x)))
    norm = {axis(a, len(x)) for a in axes if type(a) is int}
    if None in norm:
        return [Out(None, dtype)]
    if keep:
        return [Out(tuple(1 if i in norm else d for i, d in enumerate(x)), dtype)]
    return [Out(tuple(d for i, d in enumerate(x) if i not in norm), dtype)]


@shape_fn("ArgMax", "ArgMin")
def arg_reduce(node, ctx):
    x = node.input_shape(0)
    if x is None:
        return [Out(None, "int64")]
    a = axis(node.attrs.get("axis", 0), len(x))
    if a is None:
        return [Out(None, "int64")]
    if node.attrs.get("keepdims", 1):
        return [Out(x[:a] + (1,) + x[a + 1:], "int64")]
    return [Out(x[:a] + x[a + 1:], "int64")]


@shape_fn("TopK")
def topk(node, ctx):
    x = node.input_shape(0)
    k = node.attrs["k"] if "k" in node.attrs else (ints_of(node, 1) or [None])[0]
    if x is None:
        return [Out(None, input_dtype(node)), Out(None, "int64")]
    a = axis(node.attrs.get("axis", -1), len(x))
    if a is None:
        return [Out(None, input_dtype(node)), Out(None, "int64")]
    shape = x[:a] + (k,) + x[a + 1:]
    return [Out(shape, input_dtype(node)), Out(shape, "int64")]
