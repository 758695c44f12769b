"""Multiply-accumulates of one node (see :mod:`convlint.cost`)."""

from __future__ import annotations

from math import prod
from typing import Optional


def _numel(shape):
    if shape is None or any(d is None for d in shape):
        return None
    return prod(shape) if shape else 1


def _conv(node):
    x, w, y = node.input_shape(0), node.input_shape(1), node.outputs[0].shape if node.outputs else None
    if w is None or y is None or any(d is None for d in w) or len(y) < 2:
        return None
    positions = _numel(y[2:])
    return None if positions is None else y[0] * positions * _numel(w)


def _matmul(node):
    a, b = node.input_shape(0), node.input_shape(1)
    y = node.outputs[0].shape if node.outputs else None
    if a is None or y is None or not a:
        return None
    out = _numel(y)
    k = a[-1] if not (node.op == "Gemm" and node.attr("transA", 0)) else a[0]
    return None if out is None or k is None else out * k


_BY_OP = {"Conv": _conv, "MatMul": _matmul, "Gemm": _matmul}


def node_macs(node) -> Optional[object]:
    """The node's multiply-accumulates: 0 for an op that costs none, an int or a sympy expression, or None when
    its shapes are unknown."""
    fn = _BY_OP.get(node.op)
    return 0 if fn is None else fn(node)
