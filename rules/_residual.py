"""Residual additions: an `Add` whose one operand is an ancestor of the other (the shortcut and the branch), the
branch going through a layer that changes shapes on purpose (a convolution, a pooling, a linear layer).

A branch of data movement alone (`x + x.transpose(2, 3)`, `x + x[:, :, :8]`) is no residual block: there is no
projection to add, and `broadcast-incompatible` reports it as an ordinary broadcast.
"""

from __future__ import annotations

MAX_WALK = 256  # nodes visited back from the branch; a residual block is far smaller

LAYERS = frozenset(("Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "Gemm", "MatMul", "MatMulInteger",
                    "QLinearMatMul", "Einsum", "MaxPool", "AveragePool", "LpPool"))


def is_activation(v) -> bool:
    return v is not None and not v.is_param and v.shape is not None and len(v.shape) >= 3 and \
        (v.producer is None or v.producer.op != "Constant")


def shortcut_and_branch(node):
    """(shortcut, branch) values of a residual ``Add``, or None when the node is not one."""
    if node.op != "Add" or len(node.inputs) != 2:
        return None
    a, b = node.inputs
    if not (is_activation(a) and is_activation(b)) or len(a.shape) != len(b.shape) or a is b:
        return None
    if _through_layer(b, a):
        return a, b
    if _through_layer(a, b):
        return b, a
    return None


def _through_layer(v, target) -> bool:
    """Whether ``target`` is upstream of ``v`` on a path through one of the LAYERS."""
    found = {}  # id(value) -> (target is upstream, upstream through a layer)
    budget = [MAX_WALK]

    def walk(u):
        if u is target:
            return True, False
        if id(u) in found:
            return found[id(u)]
        found[id(u)] = (False, False)
        p = u.producer
        if p is None or budget[0] <= 0:
            return False, False
        budget[0] -= 1
        reaches = through = False
        for w in p.inputs:
            if w is not None and not w.is_param:
                r, t = walk(w)
                reaches, through = reaches or r, through or t
        found[id(u)] = reaches, through or (reaches and p.op in LAYERS)
        return found[id(u)]

    return walk(v)[1]
