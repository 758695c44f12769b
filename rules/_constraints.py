"""The requirements on sizes that element-wise ops, concatenations and matrix products put on a model's symbols.

Each is a list of atoms (see :mod:`convlint.core.conditions`) with its domain. The rules that report a violated
requirement read them one node at a time; ``input-size-conflict`` reads them all, to know which sizes the rest of
the model accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

from convlint.core import conditions as cond
from convlint.core import dims
from convlint.shapes.base import axis as normalize_axis

from ._sizes import broadcast_atoms, same

BROADCAST_OPS = ("Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "PRelu", "Where",
                 "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "BitShift",
                 "BitwiseAnd", "BitwiseOr", "BitwiseXor")


_PINNING_OPS = frozenset(("Gemm", "MatMul", "Concat") + BROADCAST_OPS)


def default_opset(graph) -> int:
    opset = getattr(graph, "opset", None) or {}
    return opset.get("", opset.get("ai.onnx", 0)) or 0


def legacy_broadcast(node, opset: int) -> bool:
    """Before opset 7, element-wise ops broadcast only with ``broadcast=1``, aligned at ``axis``, not from the right."""
    return node.op in BROADCAST_OPS and (0 < opset < 7 or "broadcast" in node.attrs)


MATMUL_OPS = ("MatMul", "MatMulInteger", "QLinearMatMul")


def matmul_operands(node):
    """A and B of a Gemm or a MatMul, plain or quantized (QLinearMatMul's B is its fourth input)."""
    return node.input(0), node.input(3 if node.op == "QLinearMatMul" else 1)


def matmul_shapes(node):
    """The shapes of :func:`matmul_operands` (None where an operand or its shape is unknown)."""
    return tuple(v.shape if v is not None else None for v in matmul_operands(node))


def inner_dims(node):
    """The two dims a Gemm or a MatMul (plain or quantized) contracts, (A's, B's); None when a rank is unknown or
    unfit."""
    a, b = matmul_shapes(node)
    if not a or not b:
        return None
    if node.op == "Gemm":
        if len(a) != 2 or len(b) != 2:
            return None
        ka = a[0] if node.attrs.get("transA", 0) else a[1]
        kb = b[1] if node.attrs.get("transB", 0) else b[0]
        return ka, kb
    return a[-1], (b[0] if len(b) == 1 else b[-2])


def concat_differences(node):
    """``[(axis, input value, first input's dim, its dim)]`` for the dims a Concat's inputs may disagree on."""
    present = [v for v in node.inputs if v is not None]
    if len(present) < 2 or any(v.shape is None for v in present):
        return []
    rank = len(present[0].shape)
    if any(len(v.shape) != rank for v in present):
        return []
    a = normalize_axis(node.attrs.get("axis", 0), rank)
    if a is None:
        return []
    first = present[0]
    out = []
    for v in present[1:]:
        for i in range(rank):
            d0, d = first.shape[i], v.shape[i]
            if i != a and d0 is not None and d is not None and not same(d0, d):
                out.append((i, v, d0, d))
    return out


def node_atoms(node, opset: int = 0):
    """(atoms, dims that must be sizes) of what ``node`` requires of sizes; ([], []) when nothing can fail."""
    if legacy_broadcast(node, opset):
        return [], []
    if node.op == "Gemm" or node.op in MATMUL_OPS:
        inner = inner_dims(node)
        atoms, involved = [], []
        if inner is not None and not same(*inner) and None not in inner:
            atoms.append(cond.eq(*inner))
            involved += list(inner)
        a, b = matmul_shapes(node)
        if node.op != "Gemm" and a is not None and b is not None and len(a) >= 3 and len(b) >= 3:
            more, _, dims_ = broadcast_atoms([a[:-2], b[:-2]])
            atoms += more
            involved += dims_
        return atoms, involved
    if node.op == "Concat":
        diffs = concat_differences(node)
        return [cond.eq(d0, d) for _, _, d0, d in diffs], [d for _, _, d0, d1 in diffs for d in (d0, d1)]
    if node.op in BROADCAST_OPS:
        present = [v for v in node.inputs if v is not None]
        if len(present) < 2 or any(v.shape is None for v in present):
            return [], []
        atoms, _, involved = broadcast_atoms([v.shape for v in present])
        return atoms, involved
    return [], []


@dataclass
class SizeConstraint:
    """A node that works only for some sizes of the model's symbols."""

    node: object
    atoms: list
    domain: list
    verdict: cond.Verdict

    @property
    def symbols(self) -> frozenset:
        return frozenset(s for atom in self.atoms for c in atom if type(c.expr) is not int
                         for s in c.expr.free_symbols)


def pinning_constraints(graph) -> list:
    """Every node of ``graph`` whose requirements hold for some sizes only (not all, not none)."""
    out = []
    if not any(not dims.is_static_shape(v.shape) for v in graph.inputs if v.shape is not None):
        return out  # sizes fixed by the model's inputs pin nothing
    opset = default_opset(graph)
    for node in graph.walk():
        if node.op not in _PINNING_OPS:
            continue
        atoms, involved = node_atoms(node, opset)
        if not atoms:
            continue
        domain = cond.sizes(*involved)
        verdict = cond.solve(atoms, domain)
        if verdict.some:
            out.append(SizeConstraint(node, atoms, domain, verdict))
    return out
