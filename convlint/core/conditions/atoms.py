"""Atoms: a rule states what must hold as a conjunction of atoms; an atom is a disjunction of comparisons
(:class:`Cmp`) ``expr == 0`` or ``expr >= 0`` over dims. The helpers at the end read an atom's symbols and its
constant comparisons."""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from convlint.core import dims

EQ, GE = "==", ">="


@dataclass(frozen=True)
class Cmp:
    """``expr == 0`` or ``expr >= 0``."""

    expr: object
    op: str


def _diff(a, b):
    return dims.sub(a, b)


def eq(a, b) -> tuple:
    """The atom ``a == b``."""
    return (Cmp(_diff(a, b), EQ),)


def ge(a, b) -> tuple:
    """The atom ``a >= b``."""
    return (Cmp(_diff(a, b), GE),)


def le(a, b) -> tuple:
    return ge(b, a)


def broadcastable(a, b) -> tuple:
    """The atom "dims ``a`` and ``b`` broadcast": equal, or one of them is 1."""
    return (Cmp(_diff(a, b), EQ), Cmp(_diff(a, 1), EQ), Cmp(_diff(b, 1), EQ))


def divides(d: int, a) -> tuple:
    """The atom ``a % d == 0`` for a positive int ``d``."""
    return eq(a, dims.mul(d, dims.floordiv(a, d)))


def sizes(*ds) -> list:
    """Domain atoms saying that ``ds`` are sizes: each symbolic dim, and each symbolic factor of it, is >= 1."""
    out = []
    seen = set()
    for d in ds:
        if d is None or type(d) is int:
            continue
        for f in _size_factors(d):
            if f not in seen:
                seen.add(f)
                out.append(ge(f, 1))
    return out


def _size_factors(d):
    d = sympy.sympify(d)
    yield d
    if d.is_Mul:
        for f in d.args:
            if f.is_Pow and f.exp.is_Integer and f.exp > 0:
                f = f.base
            if f.free_symbols:
                _, prim = f.as_content_primitive()
                yield prim


FALSE = (Cmp(-1, GE),)  # the atom that never holds


def _symbols(atom) -> frozenset:
    out = set()
    for c in atom:
        if type(c.expr) is not int and c.expr is not None:
            out |= c.expr.free_symbols
    return frozenset(out)


def _obvious(atom) -> bool:
    """Whether sympy's assumptions alone show that ``atom`` holds for all sizes (``Max(H, W) >= 1``)."""
    return any(c.op == GE and c.expr.is_nonnegative for c in atom)


def _is_const(c) -> bool:
    return type(c.expr) is int or not c.expr.free_symbols


def _const_holds(atom) -> bool:
    return any((c.expr == 0) if c.op == EQ else (c.expr >= 0) for c in atom)
