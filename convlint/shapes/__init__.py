"""Shape functions: one per ONNX op (or family), registered with :func:`shape_fn`.

A shape function reads its node's input shapes (and the contents of small shape-level inputs) and returns one
:class:`Out` per output. It is tolerant: it computes what it can from what it has, never raises on a mismatch (a
rule reports mismatches), and returns an unknown ``Out()`` rather than guess. When a layer's input does not fit
its weight, the output follows the weight, so one fault does not hide the faults after it.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import numpy as np

from .. import dims

SHAPE_FUNCTIONS: dict = {}


class Out(NamedTuple):
    """What a shape function knows of one output: shape (None if unknown), dtype, and small contents."""

    shape: Optional[tuple] = None
    dtype: Optional[str] = None
    data: Optional[np.ndarray] = None


def shape_fn(*ops: str) -> Callable:
    """Register the decorated function as the shape function of ``ops`` (ONNX op types of the default domain)."""
    def register(fn):
        for op in ops:
            SHAPE_FUNCTIONS[op] = fn
        return fn
    return register


def input_dtype(node, i: int = 0):
    v = node.input(i)
    return None if v is None else v.dtype


def data_of(node, i: int):
    """The contents of input ``i`` as a numpy array (dtype object if symbolic), or None."""
    v = node.input(i)
    return None if v is None else v.data


def ints_of(node, i: int):
    """The contents of input ``i`` as a flat list of dims (ints or symbols), or None when not known."""
    arr = data_of(node, i)
    if arr is None:
        return None
    try:
        return [dims.norm(x) for x in np.asarray(arr).reshape(-1).tolist()]
    except Exception:
        return None


def as_data(values) -> np.ndarray:
    """A 1-D array of dims: int64 when all are ints, object when some are symbols."""
    values = list(values)
    if all(type(v) is int for v in values):
        return np.array(values, dtype=np.int64)
    return np.array(values, dtype=object)


def axis(a: int, rank: int) -> Optional[int]:
    """A possibly negative axis made non-negative; None when out of range."""
    if a < 0:
        a += rank
    return a if 0 <= a < rank else None


def broadcast(*shapes):
    """The numpy-style broadcast of ``shapes``; unknown dims where it cannot be decided, None if a rank is unknown."""
    if any(s is None for s in shapes):
        return None
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        cur = 1
        for s in shapes:
            j = i - (rank - len(s))
            if j < 0:
                continue
            d = s[j]
            if cur == 1:
                cur = d
            elif d == 1 or d is cur:
                continue
            elif d is None or cur is None:
                cur = None if d != 1 else cur
            elif dims.equal(cur, d):
                continue
            elif type(cur) is int and type(d) is not int:
                cur = d if cur == 1 else cur
            elif type(d) is int:
                cur = d  # a symbol that must equal d for the broadcast to work
        out.append(cur)
    return tuple(out)


def same_as_input(node, ctx) -> list:
    v = node.input(0)
    return [Out(v.shape if v is not None else None, v.dtype if v is not None else None)]


from . import conv, elementwise, tensor, linalg, norm, reduce, recurrent, control  # noqa: E402,F401  (registers)
