"""Residual additions: an `Add` whose one operand is an ancestor of the other (the shortcut and the branch)."""

from __future__ import annotations

MAX_WALK = 256  # nodes visited back from the branch; a residual block is far smaller


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
    if _reaches(b, a):
        return a, b
    if _reaches(a, b):
        return b, a
    return None


def _reaches(v, target) -> bool:
    """Whether ``target`` is upstream of ``v``."""
    stack, seen = [v], set()
    while stack and len(seen) < MAX_WALK:
        u = stack.pop()
        if u is target:
            return True
        if id(u) in seen or u.producer is None:
            continue
        seen.add(id(u))
        stack.extend(w for w in u.producer.inputs if w is not None and not w.is_param)
    return False
