"""What every shape function shares: the registry (:func:`shape_fn`), :class:`Out`, the context it is given
(:class:`ShapeContext`), and helpers that read a node's inputs."""


from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Protocol

import numpy as np

from convlint.core import compare, dims

SHAPE_FUNCTIONS: dict = {}


class Out(NamedTuple):
    """What a shape function knows of one output: shape (None if unknown), dtype, and small contents."""

    shape: Optional[tuple] = None
    dtype: Optional[str] = None
    data: Optional[np.ndarray] = None


class ShapeContext(Protocol):
    """What a shape function reads beside its node: ``fn(node, ctx)``. Propagation
    (:class:`~convlint.shapes.propagate.Propagation`) is the context, for ONNX graphs and for the PyTorch trace
    alike (which computes a refused layer's output with the shape functions)."""

    opset: dict
    """The model's operator sets, domain -> version (``""`` for ONNX's own)."""

    sequences: dict
    """What is known of each sequence value's elements, Value -> :class:`~convlint.shapes.sequence.Elements`:
    written and read by the sequence ops' shape functions."""

    def propagate(self, graph) -> None:
        """Give every value of ``graph``, a subgraph of the node's (an ``If`` branch, a ``Loop`` body), a shape."""


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
    arr = np.asarray(arr)
    if arr.dtype.kind in "fc" and not np.all(np.mod(arr, 1) == 0):
        return None  # fractional contents are not dims
    try:
        return [dims.norm(x) for x in arr.reshape(-1).tolist()]
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
    """The numpy-style broadcast of ``shapes``; unknown dims where it cannot be decided, None if a rank is unknown.

    Each output dim is exact wherever the broadcast is valid: two ints that differ (neither 1) give unknown, a symbol
    against an int ``k > 1`` gives ``k``, and two symbols that may differ give their ``Max`` (``Max(T, Min(T, 32))``
    is ``T``), since a valid broadcast of ``a`` and ``b`` is always the larger of them.
    """
    if any(s is None for s in shapes):
        return None
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        cur = 1
        for s in shapes:
            j = i - (rank - len(s))
            if j >= 0:
                cur = _broadcast_dim(cur, s[j])
        out.append(cur)
    return tuple(out)


def _broadcast_dim(a, b):
    if type(a) is int and type(b) is int:
        return a if a == b or b == 1 else b if a == 1 else None
    if a == 1 or a is b:
        return b
    if b == 1:
        return a
    if a is None or b is None:
        known = b if a is None else a
        return known if type(known) is int else None  # an int k > 1 wins over an unknown that must be k or 1
    if type(a) is int or type(b) is int:
        return a if type(a) is int else b  # the symbol must equal the int, or be 1
    if compare.equal(a, b):
        return a
    return dims.maximum(a, b)


MAX_RANK = 256  # no real tensor has more axes; a rank read from a corrupt model may be 2**62


def unknown_of_rank(rank):
    """A shape of ``rank`` unknown dims; None (unknown rank) when ``rank`` is not a plausible int."""
    return (None,) * rank if type(rank) is int and 0 <= rank <= MAX_RANK else None


def merge_shapes(a, b):
    """What two shapes that a value may take have in common: dims that agree, unknown where they differ."""
    if a is None or b is None or len(a) != len(b):
        return None
    return tuple(x if compare.equal(x, y) else None for x, y in zip(a, b))


def same_as_input(node, ctx) -> list:
    v = node.input(0)
    return [Out(v.shape if v is not None else None, v.dtype if v is not None else None)]
