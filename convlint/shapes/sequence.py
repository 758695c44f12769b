"""Sequence ops: a sequence value has no tensor shape, so its elements are tracked beside the graph.

``ctx.sequences`` (:class:`~convlint.shapes.base.ShapeContext`) maps each sequence Value to :class:`Elements`: the
element of each position when the count and order are known, and in any case what every element has in common.
``SequenceAt`` then gives the exact element where the position is known, and the common shape otherwise.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional

import numpy as np

from convlint.core import dims
from convlint.shapes.base import Out, axis, input_dtype, ints_of, merge_shapes, shape_fn

SEQUENCE = "sequence"  # the dtype a sequence value gets; its elements' dtype is in Elements.common
MAX_ITEMS = 4096


class Elements(NamedTuple):
    """What is known of a sequence's elements."""

    items: Optional[tuple]  # one Out per element, in order, when the count and order are known
    common: Out  # the shape (merged over every element) and dtype all elements share


def elements_of(node, i: int, ctx) -> Elements:
    v = node.input(i)
    found = ctx.sequences.get(v) if v is not None else None
    return found if found is not None else Elements(None, Out())


def _merge(outs) -> Out:
    outs = list(outs)
    if not outs:
        return Out()
    shape = outs[0].shape
    for o in outs[1:]:
        shape = merge_shapes(shape, o.shape)
    dtypes = {o.dtype for o in outs}
    return Out(shape, dtypes.pop() if len(dtypes) == 1 else None)


def _elements(items, common=None) -> Elements:
    items = tuple(items) if items is not None and len(items) <= MAX_ITEMS else None
    return Elements(items, common if common is not None else _merge(items or ()))


def _sequence(node, ctx, elements: Elements) -> list:
    ctx.sequences[node.outputs[0]] = elements
    return [Out(None, SEQUENCE)]


def _position(node, i: int, length):
    """The non-negative position input ``i`` names (``length`` for an absent one, meaning "at the end"); or None."""
    if node.input(i) is None:
        return length
    pos = ints_of(node, i)
    if not pos or len(pos) != 1 or type(pos[0]) is not int or length is None:
        return None
    p = pos[0] + length if pos[0] < 0 else pos[0]
    return p if 0 <= p <= length else None


def _tensor(v) -> Out:
    return Out(v.shape, v.dtype) if v is not None else Out()


@shape_fn("SequenceEmpty")
def sequence_empty(node, ctx):
    from convlint.core.dtypes import dtype_name

    dtype = dtype_name(node.attrs["dtype"]) if "dtype" in node.attrs else "float32"
    return _sequence(node, ctx, Elements((), Out(None, dtype)))


@shape_fn("SequenceConstruct")
def sequence_construct(node, ctx):
    return _sequence(node, ctx, _elements([_tensor(v) for v in node.inputs]))


@shape_fn("SequenceInsert")
def sequence_insert(node, ctx):
    seq, new = elements_of(node, 0, ctx), _tensor(node.input(1))
    common = new if seq.items == () else _merge([seq.common, new])
    items = None
    if seq.items is not None:
        pos = _position(node, 2, len(seq.items))
        if pos is not None:
            items = seq.items[:pos] + (new,) + seq.items[pos:]
    return _sequence(node, ctx, _elements(items, common))


@shape_fn("SequenceErase")
def sequence_erase(node, ctx):
    seq = elements_of(node, 0, ctx)
    items = None
    if seq.items:
        n = len(seq.items)
        pos = n - 1 if node.input(1) is None else _position(node, 1, n)
        if pos is not None and pos < n:
            items = seq.items[:pos] + seq.items[pos + 1:]
    return _sequence(node, ctx, _elements(items, seq.common if items is None else None))


@shape_fn("SequenceAt")
def sequence_at(node, ctx):
    seq = elements_of(node, 0, ctx)
    if seq.items:
        pos = _position(node, 1, len(seq.items))
        if pos is not None and pos < len(seq.items):
            return [seq.items[pos]]
    return [seq.common]


@shape_fn("SequenceLength")
def sequence_length(node, ctx):
    seq = elements_of(node, 0, ctx)
    data = np.array(len(seq.items), dtype=np.int64) if seq.items is not None else None
    return [Out((), "int64", data)]


@shape_fn("SplitToSequence")
def split_to_sequence(node, ctx):
    x = node.input_shape(0)
    dtype = input_dtype(node)
    a = axis(node.attrs.get("axis", 0), len(x)) if x is not None else None
    if a is None:
        return _sequence(node, ctx, Elements(None, Out(None, dtype)))
    d = x[a]
    split = ints_of(node, 1) if node.input(1) is not None else None
    scalar = node.input(1) is not None and node.input_shape(1) == ()
    if node.input(1) is None:  # pieces of size 1, the axis dropped unless keepdims
        piece = x[:a] + x[a + 1:] if not node.attrs.get("keepdims", 1) else x[:a] + (1,) + x[a + 1:]
        count = d if type(d) is int else None
        return _sequence(node, ctx, _elements([Out(piece, dtype)] * count if count is not None else None,
                                              Out(piece, dtype)))
    if split is None:
        return _sequence(node, ctx, Elements(None, Out(x[:a] + (None,) + x[a + 1:], dtype)))
    if scalar:
        size = split[0]
        if type(size) is not int or size < 1 or type(d) is not int:
            return _sequence(node, ctx, Elements(None, Out(x[:a] + (None,) + x[a + 1:], dtype)))
        sizes = [min(size, d - start) for start in range(0, d, size)]
    else:
        sizes = split
    items = [Out(x[:a] + (s,) + x[a + 1:], dtype) for s in sizes]
    return _sequence(node, ctx, _elements(items))


@shape_fn("ConcatFromSequence")
def concat_from_sequence(node, ctx):
    seq = elements_of(node, 0, ctx)
    new_axis = node.attrs.get("new_axis", 0)
    shape = seq.common.shape
    if shape is None:
        return [Out(None, seq.common.dtype)]
    rank = len(shape) + (1 if new_axis else 0)
    a = axis(node.attrs.get("axis", 0), rank)
    if a is None:
        return [Out(None, seq.common.dtype)]
    total = None
    if seq.items is not None and all(o.shape is not None and len(o.shape) == len(shape) for o in seq.items):
        total = len(seq.items) if new_axis else functools.reduce(dims.add, (o.shape[a] for o in seq.items), 0)
    if new_axis:
        return [Out(shape[:a] + (total,) + shape[a:], seq.common.dtype)]
    return [Out(shape[:a] + (total,) + shape[a + 1:], seq.common.dtype)]

