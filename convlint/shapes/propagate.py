"""Shape propagation: every value in the graph gets a shape, or an honest "unknown". Never raises.

Nodes are visited in the order the front end gives (definitions before uses). Each node's outputs come from its
shape function (:mod:`convlint.shapes`), else from onnx's per-node inference for standard ops, else stay unknown
(custom domains). A shape function that fails leaves its outputs unknown and is recorded in the root graph's
``shape_errors``; that is a bug of ours, never the user's.
"""

from __future__ import annotations

import functools

import sympy

from convlint.core import dims
from convlint.core.ir import STANDARD_DOMAINS
from convlint.shapes import SHAPE_FUNCTIONS, Out, signatures
from convlint.shapes.onnx_inference import infer as onnx_infer


class Propagation:
    """Runs shape functions over a graph and its subgraphs; the ``ctx`` a shape function receives
    (:class:`~convlint.shapes.base.ShapeContext`)."""

    def __init__(self, root, reuse: bool = True):
        self.root = root
        self.opset = root.opset
        self.ir_version = root.ir_version
        self.sequences = {}
        self.errors = root.shape_errors
        self.signatures = signatures.Signatures() if reuse else None  # results shared by nodes of one signature

    def propagate(self, graph) -> None:
        cyclic = {id(n) for n in graph.cyclic}
        for node in graph.nodes:
            if id(node) in cyclic:
                continue
            self.run(node)

    def run(self, node) -> None:
        fn = SHAPE_FUNCTIONS.get(node.op) if node.domain in STANDARD_DOMAINS else None
        k = signatures.key(node) if fn is not None and self.signatures is not None and signatures.reusable(fn, node) \
            else None
        found = self.signatures.get(k) if k is not None else None
        if found is not None:
            for v, (shape, dtype, data) in zip(node.outputs, found):
                v.shape, v.dtype, v.data = shape, dtype, data
            return
        unread = [v for v in node.inputs if v is not None and v.unread] if k is not None else ()
        errors = len(self.errors)
        outs = self.infer(node)
        for v, o in zip(node.outputs, outs):
            v.shape = _clean(o.shape)
            v.dtype = o.dtype
            v.data = _clean_data(o.data)
        if k is not None and len(self.errors) == errors:
            self.signatures.put(k, node, unread)
        for sub in node.subgraphs.values():
            if not sub.propagated:
                self.propagate(sub)

    def infer(self, node) -> list:
        if node.domain in STANDARD_DOMAINS:
            fn = SHAPE_FUNCTIONS.get(node.op)
            if fn is not None:
                try:
                    outs = list(fn(node, self))
                except Exception as e:  # a bug in a shape function must not stop the lint
                    self.errors.append((node.name, node.op, f"{type(e).__name__}: {e}"))
                    return [Out() for _ in node.outputs]
                for sub in node.subgraphs.values():
                    sub.propagated = True
                return outs + [Out()] * (len(node.outputs) - len(outs))
            return onnx_infer(node, self.opset, self.ir_version)
        return [Out() for _ in node.outputs]


def _clean(shape):
    if shape is None:
        return None
    try:
        shape = tuple(shape)
    except TypeError:
        return None
    out = []
    for d in shape:
        d = dims.norm(d)
        if type(d) is int:
            if not 0 <= d < _INT64:
                d = None
        elif d is not None and not _plausible(d):
            d = None
        out.append(d)
    return tuple(out)


_INT64 = 2**63  # no tensor holds a dim or value beyond int64
MAX_DEGREE = 12  # real dims are products of a few symbols (N * H * W * C); beyond this a dim is left unknown


@functools.lru_cache(maxsize=65536)
def _plausible(expr) -> bool:
    """False for a symbolic dim holding a number no int64 holds, or of a degree no real tensor dim has. A corrupt or
    hostile model that squares a shape again and again (``s = Mul(s, s)``) would otherwise have sympy work on
    numbers of millions of digits, or on polynomials of degree 2**k that take it hours to compare."""
    try:
        return all(abs(a) < _INT64 for a in expr.atoms(sympy.Number)) and _degree(expr) <= MAX_DEGREE
    except RecursionError:
        return False


def _degree(e) -> float:
    """An upper bound of the polynomial degree of ``e`` in its symbols (floor, ceiling, Max... count as their
    arguments); infinite for a symbol in an exponent."""
    if e.is_Number:
        return 0
    if e.is_Symbol:
        return 1
    if e.is_Pow:
        base, exp = e.args
        if not exp.is_Number:
            return 0 if _degree(base) == 0 and _degree(exp) == 0 else float("inf")
        return _degree(base) * max(abs(float(exp)), 1)
    if e.is_Mul:
        return sum(_degree(a) for a in e.args)
    return max((_degree(a) for a in e.args), default=0)


def _clean_data(data):
    """Folded contents, or None when they hold a value no int64 holds (see :func:`_plausible`)."""
    if data is None or getattr(data, "dtype", None) != object:
        return data
    for x in data.reshape(-1).tolist():
        if type(x) is int:
            if not -_INT64 <= x < _INT64:
                return None
        elif isinstance(x, sympy.Basic) and not _plausible(x):
            return None
    return data


def propagate(graph, reuse: bool = True) -> None:
    """Give every value of ``graph`` (and its subgraphs) a shape, in place. A graph whose front end already knows
    every shape (the PyTorch front end, which traces them) is marked ``propagated`` and left as it is. ``reuse``:
    share each signature's result among its nodes (:mod:`convlint.shapes.signatures`); off, every node is computed
    on its own (the reference the tests hold reuse to)."""
    if graph.propagated:
        return
    Propagation(graph, reuse).propagate(graph)
