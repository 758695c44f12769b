"""Shape propagation: every value in the graph gets a shape, or an honest "unknown". Never raises.

Nodes are visited in the order the front end gives (definitions before uses). Each node's outputs come from its
shape function (:mod:`convlint.shapes`), else from onnx's per-node inference for standard ops, else stay unknown
(custom domains). A shape function that fails leaves its outputs unknown and is recorded in
``graph.meta["shape_errors"]``; that is a bug of ours, never the user's.
"""

from __future__ import annotations

from . import dims
from .frontends.onnx_model import STANDARD_DOMAINS
from .shapes import SHAPE_FUNCTIONS, Out
from .shapes.onnx_inference import infer as onnx_infer


class Propagation:
    """Runs shape functions over a graph and its subgraphs; the ``ctx`` a shape function receives."""

    def __init__(self, root):
        self.root = root
        self.opset = root.opset
        self.ir_version = root.ir_version
        self.errors = root.meta.setdefault("shape_errors", [])
        self.fallback_ops = root.meta.setdefault("onnx_inferred_ops", set())

    def propagate(self, graph) -> None:
        cyclic = {id(n) for n in graph.cyclic}
        for node in graph.nodes:
            if id(node) in cyclic:
                continue
            self.run(node)

    def run(self, node) -> None:
        outs = self.infer(node)
        for v, o in zip(node.outputs, outs):
            v.shape = _clean(o.shape)
            v.dtype = o.dtype
            v.data = o.data
        for sub in node.subgraphs.values():
            if not sub.meta.get("propagated"):
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
                    sub.meta["propagated"] = True
                return outs + [Out()] * (len(node.outputs) - len(outs))
            self.fallback_ops.add(node.op)
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
        if type(d) is int and d < 0:
            d = None
        out.append(d)
    return tuple(out)


def propagate(graph) -> None:
    """Give every value of ``graph`` (and its subgraphs) a shape, in place."""
    Propagation(graph).propagate(graph)
