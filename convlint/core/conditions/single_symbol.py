"""Atoms in one symbol, solved exactly: the valid sizes of the symbol as a :class:`SizeSet`.

How it is exact. Shape arithmetic is built from ``+``, ``*``, ``floor``/``ceiling`` of divisions by integers, and
``Min``/``Max`` (a slice clamped to its axis: ``cos[:T]`` on a 64-row table has ``min(T, 64)`` rows). Such an
expression in one symbol ``s`` is a *quasi-polynomial* from some size on: there is a period ``m`` such that,
writing ``s = m*k + r`` (``r`` in ``1..m``, ``k >= 0``), every floor disappears, every ``Min``/``Max`` is the
argument that wins for large ``k``, and the expression is a polynomial in ``k`` for each residue ``r``. Past the
largest real root of every polynomial and of every difference of ``Min``/``Max`` arguments (Fujiwara bounds) the
sign of each comparison is that of its leading coefficient; below it, every size is evaluated exactly (integer
arrays, all sizes at once). So the set of sizes satisfying a condition is computed exactly as a finite part plus
residue classes modulo ``m``.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np
import sympy

from convlint.core.conditions.atoms import EQ
from convlint.core.conditions.limits import MAX_PERIOD, MAX_POSITIONS, _Unsupported
from convlint.core.conditions.size_sets import SizeSet


class _NeedPeriod(Exception):
    def __init__(self, den: int):
        self.den = den


def _padd(p, q):
    n = max(len(p), len(q))
    return [_num((p[i] if i < len(p) else 0) + (q[i] if i < len(q) else 0)) for i in range(n)]


def _pmul(p, q):
    if len(p) == 1 or len(q) == 1:
        (c,), other = (p, q) if len(p) == 1 else (q, p)
        return [_num(c * a) for a in other]
    out = [0] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        if a:
            for j, b in enumerate(q):
                out[i + j] += a * b
    return [_num(c) for c in out]


def _num(c):
    """A Fraction with denominator 1 as an int: integer arithmetic is much faster."""
    return int(c) if type(c) is Fraction and c.denominator == 1 else c


def _trim(p):
    while len(p) > 1 and p[-1] == 0:
        p = p[:-1]
    return p


@functools.lru_cache(maxsize=4096)
def _mod_as_floor(e):
    """``a % b`` as ``a - b * floor(a / b)``, built once per expression (sympy's construction is what costs)."""
    a, b = e.args
    return a - b * sympy.floor(a / b)


def _poly(e, sym, m: int, r: int, bounds=None):
    """``e`` with ``sym = m*k + r`` as polynomial coefficients in ``k`` (constant first).

    A ``Min``/``Max`` is the argument it equals for large ``k``; ``bounds`` collects the ``k`` from which that holds.
    """
    if e.is_Integer:
        return [int(e)]
    if e.is_Rational:
        return [Fraction(int(e.p), int(e.q))]
    if e.is_Symbol:
        if e != sym:
            raise _Unsupported(e)
        return [r, m]
    if e.is_Add:
        out = [0]
        for a in e.args:
            out = _padd(out, _poly(a, sym, m, r, bounds))
        return _trim(out)
    if e.is_Mul:
        out = [1]
        for a in e.args:
            out = _pmul(out, _poly(a, sym, m, r, bounds))
        return _trim(out)
    if e.is_Pow and e.exp.is_Integer and e.exp >= 0:
        out, base = [1], _poly(e.base, sym, m, r, bounds)
        for _ in range(int(e.exp)):
            out = _pmul(out, base)
        return _trim(out)
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        p = _poly(e.args[0], sym, m, r, bounds)
        den = 1
        for c in p[1:]:
            den = math.lcm(den, c.denominator)
        if den != 1:
            raise _NeedPeriod(den)
        c0 = math.floor(p[0]) if isinstance(e, sympy.floor) else math.ceil(p[0])
        return [c0] + [int(c) for c in p[1:]]
    if isinstance(e, sympy.Mod):
        return _poly(_mod_as_floor(e), sym, m, r, bounds)
    if isinstance(e, (sympy.Min, sympy.Max)):
        smaller = isinstance(e, sympy.Min)
        best = None
        for a in e.args:
            p = _poly(a, sym, m, r, bounds)
            if best is None:
                best = p
                continue
            d = _trim(_padd(p, [-c for c in best]))
            if (d[-1] < 0) if smaller else (d[-1] > 0):
                best = p
            if bounds is not None and len(d) > 1:
                bounds.append(_root_bound(d))
        return best
    raise _Unsupported(e)


def _root_bound(p) -> int:
    """A ``k`` past which the polynomial ``p`` (constant first) keeps the sign of its leading coefficient."""
    p = _trim(p)
    n = len(p) - 1
    if n < 1:
        return 0
    lead = abs(p[n])
    bound = 0.0
    for i in range(n):
        c = abs(p[i]) / lead
        if c:
            root = float(c / 2 if i == 0 else c) ** (1.0 / (n - i))
            bound = max(bound, root)
    return int(math.ceil(2 * bound)) + 1


class _Overflow(Exception):
    pass


_INT64_SAFE = 2 ** 62


def _values(e, env: dict, top: int, checked: bool):
    """``(numerators, denominator, bound)``: the exact values of ``e`` as arrays of numerators over one positive
    int denominator, its symbols set to the arrays of ints in ``env`` (none above ``top``); ``bound`` bounds every
    numerator. ``checked``: raise _Overflow when an int64 array could overflow."""
    if type(e) is int or e.is_Integer:
        return int(e), 1, abs(int(e))
    if e.is_Rational:
        return int(e.p), int(e.q), abs(int(e.p))
    if e.is_Symbol:
        if e not in env:
            raise _Unsupported(e)
        return env[e], 1, top
    if e.is_Add or isinstance(e, (sympy.Min, sympy.Max)):
        parts = [_values(a, env, top, checked) for a in e.args]
        den = functools.reduce(math.lcm, (d for _, d, _ in parts), 1)
        scaled = [(n * (den // d), b * (den // d)) for n, d, b in parts]
        if e.is_Add:
            num, bound = sum(n for n, _ in scaled), sum(b for _, b in scaled)
        else:
            arrays = any(isinstance(n, np.ndarray) for n, _ in scaled)
            pick = (np.minimum if arrays else min) if isinstance(e, sympy.Min) else (np.maximum if arrays else max)
            num, bound = functools.reduce(pick, (n for n, _ in scaled)), max(b for _, b in scaled)
    elif e.is_Mul or (e.is_Pow and e.exp.is_Integer and e.exp >= 0):
        factors = e.args if e.is_Mul else [e.base] * int(e.exp)
        num, den, bound = 1, 1, 1
        for a in factors:
            n, d, b = _values(a, env, top, checked)
            num, den, bound = num * n, den * d, bound * b
            if checked and bound > _INT64_SAFE:
                raise _Overflow
    elif isinstance(e, (sympy.floor, sympy.ceiling)):
        n, d, b = _values(e.args[0], env, top, checked)
        if d == 1:
            return n, 1, b
        return (n // d if isinstance(e, sympy.floor) else -((-n) // d)), 1, b // d + 1
    elif isinstance(e, sympy.Mod):
        a, b = e.args
        return _values(a - b * sympy.floor(a / b), env, top, checked)
    else:
        raise _Unsupported(e)
    if checked and bound > _INT64_SAFE:
        raise _Overflow
    return num, den, bound


def _value(e, env: dict):
    """The exact value of ``e`` (an int or a Fraction) with its symbols set to the ints in ``env``."""
    num, den, _ = _values(e, env, 0, False)
    return _num(Fraction(int(num), den))


class Quasi:
    """A dim in one symbol as one integer-coefficient polynomial in ``k`` per residue: exact values and signs."""

    def __init__(self, expr, sym):
        self.expr = sympy.sympify(expr)
        self.sym = sym
        m = 1
        while True:
            try:
                _poly(self.expr, sym, m, 1)
                break
            except _NeedPeriod as e:
                m *= e.den
                if m > MAX_PERIOD:
                    raise _Unsupported("period too large")
        self.period = m
        self.polys = {}  # residue r in 1..m -> rational coefficients
        self.exact_from = {}  # residue r -> the k from which its polynomial is exact (Min/Max past their crossing)
        for r in range(1, m + 1):
            bounds = []
            self.polys[r] = _poly(self.expr, sym, m, r, bounds)
            self.exact_from[r] = max(bounds, default=0)

    def residue(self, s: int):
        r = s % self.period or self.period
        return r, (s - r) // self.period

    def value(self, s: int):
        r, k = self.residue(s)
        if k < self.exact_from[r]:
            return _value(self.expr, {self.sym: s})
        out = 0
        for c in reversed(self.polys[r]):
            out = out * k + c
        return out

    def root_bound(self, r: int) -> int:
        """A ``k`` past which the polynomial of residue ``r`` is exact and keeps the sign of its leading
        coefficient."""
        return max(_root_bound(self.polys[r]), self.exact_from[r])

    def tail_sign(self, r: int) -> int:
        p = _trim(self.polys[r])
        return (p[-1] > 0) - (p[-1] < 0)


@functools.lru_cache(maxsize=4096)
def _quasi(expr, sym) -> Quasi:
    return Quasi(expr, sym)


def _holds(cmp_values, atoms) -> bool:
    for atom in atoms:
        if not any((v == 0) if op == EQ else (v >= 0) for v, op in (cmp_values[id(c)] for c in atom)):
            return False
    return True


def _solve_single(sym, atoms, domain):
    """(valid sizes, domain sizes) of ``sym`` for atoms in that symbol alone, as SizeSets on a common grid."""
    return _solve_single_cached(sym, tuple(atoms), tuple(domain))


@functools.lru_cache(maxsize=4096)
def _solve_single_cached(sym, atoms, domain):
    atoms, domain = list(atoms), list(domain)
    cmps = [c for atom in atoms + domain for c in atom]
    quasis = {}
    for c in cmps:
        if id(c) not in quasis:
            quasis[id(c)] = _quasi(c.expr, sym) if type(c.expr) is not int else None
    period = 1
    for q in quasis.values():
        if q is not None:
            period = math.lcm(period, q.period)
    if period > MAX_PERIOD:
        raise _Unsupported("period too large")
    k_max = 0
    for q in quasis.values():
        if q is not None:
            for r in range(1, q.period + 1):
                k_max = max(k_max, (q.root_bound(r) + 1) * q.period // period + 1)
    threshold = period * (k_max + 1) + 1
    if threshold > MAX_POSITIONS:
        raise _Unsupported("sizes too large")

    truths = _truths(sym, cmps, threshold)
    in_domain = _all_hold(truths, domain, threshold - 1)
    valid = in_domain & _all_hold(truths, atoms, threshold - 1)
    dom_below = frozenset((np.flatnonzero(in_domain) + 1).tolist())
    valid_below = frozenset((np.flatnonzero(valid) + 1).tolist())
    valid_res, dom_res = set(), set()
    for r in range(period):
        vals = {}
        for c in cmps:
            q = quasis[id(c)]
            if q is None:
                vals[id(c)] = (c.expr, c.op)
            else:
                rr = r % q.period or q.period
                p = _trim(q.polys[rr])
                vals[id(c)] = (q.tail_sign(rr) if len(p) > 1 else p[0], c.op)
        if _holds(vals, domain):
            dom_res.add(r)
            if _holds(vals, atoms):
                valid_res.add(r)
    return (SizeSet(period, threshold, valid_below, frozenset(valid_res)),
            SizeSet(period, threshold, dom_below, frozenset(dom_res)))


def _truths(sym, cmps, threshold) -> dict:
    """id(comparison) -> whether it holds, for each size ``1 .. threshold - 1`` of ``sym`` (a boolean array),
    computed exactly in int64 when no value can overflow it, else on Python ints."""
    for python_ints in (False, True):
        sizes = np.arange(1, threshold, dtype=object if python_ints else np.int64)
        out = {}
        try:
            for c in cmps:
                if id(c) not in out:
                    n = c.expr if type(c.expr) is int else _values(c.expr, {sym: sizes}, threshold, not python_ints)[0]
                    holds = (n == 0) if c.op == EQ else (n >= 0)
                    out[id(c)] = np.broadcast_to(np.asarray(holds, dtype=bool), sizes.shape)
        except _Overflow:
            continue
        return out


def _all_hold(truths, atoms, n: int):
    out = np.ones(n, dtype=bool)
    for atom in atoms:
        any_ = np.zeros(n, dtype=bool)
        for c in atom:
            any_ |= truths[id(c)]
        out &= any_
    return out
