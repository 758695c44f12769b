"""Relations written by code (a model's own ``assert H == 224``), as atoms."""

from __future__ import annotations

from typing import Optional

import sympy

from convlint.core import dims
from convlint.core.conditions.atoms import eq, ge


def _no_mod(e):
    """``Mod(a, d)`` for an int ``d`` as ``a - d*floor(a/d)``, the form the solver reads."""
    if type(e) is int or not hasattr(e, "replace"):
        return e
    return e.replace(lambda x: isinstance(x, sympy.Mod) and x.args[1].is_Integer,
                     lambda x: x.args[0] - x.args[1] * sympy.floor(x.args[0] / x.args[1]))


def relation_atoms(rel) -> Optional[list]:
    """A sympy relation over dims (``Eq``, ``Ne``, ``<``..., and ``And``/``Or`` of them) as atoms whose conjunction
    means the same; None for what atoms cannot say (an ``Or`` of conjunctions)."""
    if rel is sympy.true:
        return []
    if isinstance(rel, sympy.Not):  # negations pushed down to the comparisons (De Morgan)
        rel = sympy.logic.boolalg.to_nnf(rel)
    if isinstance(rel, sympy.And):
        out = []
        for a in rel.args:
            part = relation_atoms(a)
            if part is None:
                return None
            out += part
        return out
    if isinstance(rel, sympy.Or):
        parts = [relation_atoms(a) for a in rel.args]
        if any(p is None or len(p) != 1 for p in parts):
            return None
        return [tuple(c for p in parts for c in p[0])]
    if not isinstance(rel, sympy.core.relational.Relational):
        return None
    a, b = _no_mod(rel.lhs), _no_mod(rel.rhs)
    if isinstance(rel, sympy.Eq):
        return [eq(a, b)]
    if isinstance(rel, sympy.Ne):
        return [ge(a, dims.add(b, 1)) + ge(b, dims.add(a, 1))]
    if isinstance(rel, sympy.Ge):
        return [ge(a, b)]
    if isinstance(rel, sympy.Gt):
        return [ge(a, dims.add(b, 1))]
    if isinstance(rel, sympy.Le):
        return [ge(b, a)]
    if isinstance(rel, sympy.Lt):
        return [ge(b, dims.add(a, 1))]
    return None
