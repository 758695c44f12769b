"""Exact conditions on symbolic sizes: for which values of ``H``, ``W``, ``seq`` does a layer work?

A rule states what must hold as a conjunction of *atoms*; an atom is a disjunction of comparisons ``expr == 0`` or
``expr >= 0`` over dims (:mod:`convlint.core.dims`). :func:`solve` answers, exactly and without sampling sizes, whether
the conjunction holds for every size, for none, or for some, and in the last case states the condition in the
user's names ("H % 16 == 0", "H >= 32") with the smallest size that satisfies it.

How it is exact. Shape arithmetic is built from ``+``, ``*``, ``floor``/``ceiling`` of divisions by integers, and
``Min``/``Max`` (a slice clamped to its axis: ``cos[:T]`` on a 64-row table has ``min(T, 64)`` rows). Such an
expression in one symbol ``s`` is a *quasi-polynomial* from some size on: there is a period ``m`` such that,
writing ``s = m*k + r`` (``r`` in ``1..m``, ``k >= 0``), every floor disappears, every ``Min``/``Max`` is the
argument that wins for large ``k``, and the expression is a polynomial in ``k`` for each residue ``r``. Past the
largest real root of every polynomial and of every difference of ``Min``/``Max`` arguments (Fujiwara bounds) the
sign of each comparison is that of its leading coefficient; below it, every size is evaluated exactly (integer
arrays, all sizes at once). So the set of sizes satisfying a condition is computed exactly as a finite part plus
residue classes modulo ``m``.

Atoms in several symbols are solved symbol by symbol when they separate. Two shapes of atom couple symbols in
practice. A flattened feature count against a Linear's ``in_features`` (``64*f(H)*g(W) == 9216``): a product of
single-symbol factors equal to a constant is solved by enumerating each factor's bounded values. And equalities
between sizes (``x + x.transpose(2, 3)`` needs ``H == W``, a concatenation of two inputs ``H == H2``, an upsampled
map ``H == 2*W``): an atom is split into one case per comparison, an equality linear in some symbol with coefficient
±1 is solved for it and substituted in the other atoms, and each case is solved again, exactly; the answer is the
union of the cases ("H == W or H == 1 or W == 1"). Anything else (``2*H == 3*W``, ``Min(H, W)``) is "unknown",
and rules stay silent on unknown.

Sizes range over positive integers, restricted to a *domain*: the sizes for which the dims a rule compares are
themselves sizes (every symbolic factor of them is at least 1). Outside it an earlier layer already fails.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

import numpy as np
import sympy

from convlint.core import dims

EQ, GE = "==", ">="
MAX_PERIOD = 4096  # residues per symbol; beyond it a condition is "unknown"
MAX_POSITIONS = 200_000  # sizes evaluated per symbol; beyond it a condition is "unknown"
MAX_SOLUTIONS = 100_000  # value combinations explored for a product of factors
MAX_BRANCHES = 64  # cases explored for atoms that couple symbols
MAX_WITNESS = 1024  # sizes tried to show that coupled atoms fail somewhere


# ---------------------------------------------------------------------------------------------------------------
# atoms


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


# ---------------------------------------------------------------------------------------------------------------
# sets of sizes of one symbol


@dataclass(frozen=True)
class SizeSet:
    """A set of positive integers: the members below ``threshold``, and from it on ``s % period in residues``."""

    period: int
    threshold: int
    below: frozenset
    residues: frozenset

    def __contains__(self, s: int) -> bool:
        return s in self.below if s < self.threshold else s % self.period in self.residues

    @property
    def empty(self) -> bool:
        return not self.below and not self.residues

    @property
    def finite(self) -> bool:
        return not self.residues

    def smallest(self) -> Optional[int]:
        if self.below:
            return min(self.below)
        if not self.residues:
            return None
        s = self.threshold
        while s % self.period not in self.residues:
            s += 1
        return s

    def members(self) -> list:
        """The members of a finite set, in order."""
        return sorted(self.below)

    def canonical(self) -> tuple:
        """The same tuple for the same set, however it was computed: (finite members) or (period, residues, first
        size from which membership follows the residues, members below it)."""
        if self.finite:
            return ("finite", tuple(sorted(self.below)))
        d = min(d for d in _divisors(self.period) if all((r + j * d) % self.period in self.residues
                                                         for r in self.residues for j in range(self.period // d)))
        classes = tuple(sorted({r % d for r in self.residues}))
        low = self.threshold
        while low > 1 and ((low - 1) in self.below) == ((low - 1) % d in classes):
            low -= 1
        return ("periodic", d, classes, low, tuple(sorted(s for s in self.below if s < low)))

    def describe(self, name: str) -> str:
        """The set as a condition on ``name``: ``H % 16 == 0``, ``H >= 32``, ``28 <= H <= 31``, ``H in {3, 5}``."""
        key = self.canonical()
        if key[0] == "finite":
            return _describe_finite(list(key[1]), name)
        _, d, classes, low, extra = key
        first = low
        while first % d not in classes:
            first += 1
        parts = []
        if d > 1:
            parts.append(f"{name} % {d} == {classes[0]}" if len(classes) == 1
                         else f"{name} % {d} in {{{', '.join(map(str, classes))}}}")
        if any(s % d in classes for s in range(1, first)):
            parts.append(f"{name} >= {first}")
        text = " and ".join(parts) or f"{name} >= 1"
        if extra:
            text = f"{text} or {_describe_finite(list(extra), name)}"
        return text


def _describe_finite(values: list, name: str) -> str:
    if not values:
        return "false"
    if len(values) == 1:
        return f"{name} == {values[0]}"
    if len(values) >= 2 and values[0] == 1 and values[-1] == len(values):
        return f"{name} <= {values[-1]}"
    if len(values) >= 3 and values[-1] - values[0] == len(values) - 1:
        return f"{values[0]} <= {name} <= {values[-1]}"
    parts, runs = [], 0  # the whole set, never cut, in order: runs of 3 or more as ranges, the rest one by one
    start = prev = values[0]
    for v in values[1:] + [None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        if prev - start >= 2:
            parts.append(f"{start} <= {name} <= {prev}" if start > 1 else f"{name} <= {prev}")
            runs += 1
        else:
            parts += [f"{name} == {s}" for s in range(start, prev + 1)]
        if v is not None:
            start = prev = v
    if not runs or len(parts) > 6:  # scattered: every member listed
        return f"{name} in {{{', '.join(map(str, values))}}}"
    return " or ".join(parts)


def _divisors(n: int) -> list:
    return [d for d in range(1, n + 1) if n % d == 0]


# ---------------------------------------------------------------------------------------------------------------
# quasi-polynomials in one symbol


class _NeedPeriod(Exception):
    def __init__(self, den: int):
        self.den = den


class _Unsupported(Exception):
    pass


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
        a, b = e.args
        return _poly(a - b * sympy.floor(a / b), sym, m, r, bounds)
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


# ---------------------------------------------------------------------------------------------------------------
# verdicts


@dataclass
class Verdict:
    """The answer for a conjunction of atoms: ``status`` is "always", "never", "some" or "unknown"."""

    status: str
    condition: str = ""  # for "some": the condition in the user's names
    example: dict = field(default_factory=dict)  # for "some": symbol name -> a smallest satisfying value
    sets: dict = field(default_factory=dict)  # symbol name -> SizeSet of valid sizes, for single-symbol groups
    solutions: frozenset = frozenset()  # for a product of factors: {((name, (sizes...)), ...)}, each a set of choices
    atoms: tuple = field(default=(), compare=False)  # what was solved, so that it can be combined again
    domain: tuple = field(default=(), compare=False)
    coupled: frozenset = frozenset()  # for symbols coupled by equalities: the cases, as (equality, verdict key)

    @property
    def always(self) -> bool:
        return self.status == "always"

    @property
    def never(self) -> bool:
        return self.status == "never"

    @property
    def some(self) -> bool:
        return self.status == "some"

    def example_text(self) -> str:
        return example_text(self.example)

    def key(self) -> tuple:
        """The same tuple for verdicts that accept the same sizes."""
        return (self.status, tuple(sorted((n, s.canonical()) for n, s in self.sets.items())), self.solutions,
                self.coupled)


def example_text(example: dict) -> str:
    """``H = W = 28`` when the values agree, else ``H = 28, W = 32``."""
    if not example:
        return ""
    names = sorted(example)
    values = {example[n] for n in names}
    if len(values) == 1 and len(names) > 1:
        return " = ".join(names) + f" = {example[names[0]]}"
    return ", ".join(f"{n} = {example[n]}" for n in names)


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


def solve(atoms, domain=()) -> Verdict:
    """Whether every atom holds, for all sizes of the domain ("always"), none ("never") or some ("some")."""
    atoms, domain = list(atoms), list(domain)
    try:
        verdict = _solve(atoms, domain, False, [MAX_BRANCHES])
    except _Unsupported:
        return Verdict("unknown")
    if verdict.status == "void":
        return Verdict("unknown")
    return dataclasses.replace(verdict, atoms=tuple(atoms), domain=tuple(domain))


FALSE = (Cmp(-1, GE),)  # the atom that never holds


_VOID = Verdict("void")  # the domain holds no size: an earlier layer fails, nothing is said about this one


def _solve(atoms, domain, check_free_domain: bool, budget: list) -> Verdict:
    """:func:`solve`, with "void" for an empty domain; raises _Unsupported for "unknown". ``check_free_domain``: also
    make sure the domain of symbols no atom mentions holds a size (a branch of a coupled atom needs it)."""
    for atom in atoms + domain:
        if any(c.expr is None for c in atom):
            raise _Unsupported("unknown dim")
    domain = _simplified(domain)
    if domain is None:
        return _VOID
    domain = [a for a in domain if len(_symbols(a)) < 2 or not _obvious(a)]
    atoms = _simplified(atoms)
    if atoms is None:
        return Verdict("never")
    groups, free = _groups(atoms, domain)
    if check_free_domain and free and _solve(free, [], False, budget).status in ("never", "void"):
        return _VOID
    if not atoms:
        return Verdict("always")
    status, conditions, example, sets, solutions, coupled = "always", [], {}, {}, frozenset(), frozenset()
    for syms, g_atoms, g_domain in groups:
        if len(syms) == 1:
            sym = next(iter(syms))
            valid, dom = _solve_single(sym, g_atoms, g_domain)
            if dom.empty:
                return _VOID
            if valid == dom:
                continue
            if valid.empty:
                status = "never"
                continue
            sets[sym.name] = valid
            conditions.append(valid.describe(sym.name))
            example[sym.name] = valid.smallest()
        else:
            sub = _solve_product(syms, g_atoms, g_domain)
            if sub is None:
                sub = _solve_coupled(syms, g_atoms, g_domain, budget)
            if sub.status == "void":
                return _VOID
            if sub.always:
                continue
            if sub.never:
                status = "never"
                continue
            conditions.append(sub.condition)
            example.update(sub.example)
            solutions |= sub.solutions
            coupled |= sub.coupled
        if status != "never":
            status = "some"
    if status == "never":
        return Verdict("never")
    if status == "always":
        return Verdict("always")
    return Verdict("some", " and ".join(_wrap(c) for c in conditions) if len(conditions) > 1 else conditions[0],
                   example, sets, solutions, coupled)


def _simplified(atoms):
    """``atoms`` without those a constant comparison satisfies and without constant comparisons that fail; None when
    an atom fails outright."""
    out = []
    for atom in atoms:
        if not any(_is_const(c) for c in atom):
            out.append(atom)
            continue
        if _const_holds(tuple(c for c in atom if _is_const(c))):
            continue
        rest = tuple(c for c in atom if not _is_const(c))
        if not rest:
            return None
        out.append(rest)
    return out


def _wrap(text: str) -> str:
    return f"({text})" if " or " in text else text


def _groups(atoms, domain):
    """Atoms and domain atoms grouped by connected symbols: ([(symbols, atoms, domain atoms)], the domain atoms on
    symbols no atom mentions)."""
    parent = {}

    def find(s):
        while parent.setdefault(s, s) != s:
            s = parent[s]
        return s

    for atom in atoms + domain:
        syms = sorted(_symbols(atom), key=lambda s: s.name)
        for s in syms[1:]:
            parent[find(s)] = find(syms[0])
        if syms:
            find(syms[0])
    by_root = {}
    for atom in atoms:
        syms = _symbols(atom)
        root = find(next(iter(syms)))
        by_root.setdefault(root, [set(), [], []])
        by_root[root][0] |= syms
        by_root[root][1].append(atom)
    free = []
    for atom in domain:
        syms = _symbols(atom)
        root = find(next(iter(syms)))
        if root in by_root:
            by_root[root][0] |= syms
            by_root[root][2].append(atom)
        else:
            free.append(atom)
    return [(frozenset(v[0]), v[1], v[2]) for _, v in sorted(by_root.items(), key=lambda kv: kv[0].name)], free


# ---------------------------------------------------------------------------------------------------------------
# atoms that couple symbols through equalities


def _solve_coupled(syms, atoms, domain, budget) -> Verdict:
    """Atoms in several symbols, split into one case per comparison of an atom that couples them. An equality that
    is linear in a symbol with coefficient ±1 (``H == W``, ``H == 2*W``, ``W == 1``) is solved for that symbol,
    which is substituted everywhere else; a comparison in one symbol becomes an atom of its own. The valid sizes
    are the union of the cases, each solved exactly (recursively); the union is "some" once a size of the domain
    outside every case is exhibited, and "unknown" if none is found."""
    pick = next((a for a in atoms if len(_symbols(a)) > 1), None)
    if pick is None:
        raise _Unsupported("symbols coupled by the domain only")
    others = [a for a in atoms if a is not pick]
    cases = {}  # condition -> (example, key, order)
    for c in pick:
        budget[0] -= 1
        if budget[0] < 0:
            raise _Unsupported("too many cases")
        solved = _solved_for(c)
        if solved is not None:
            s, rest = solved
            c_atoms = [_substituted(a, s, rest) for a in others]
            c_domain = [_substituted(a, s, rest) for a in domain] + [ge(rest, 1)]
        elif len(_symbols((c,))) == 1:
            s = rest = None
            c_atoms, c_domain = [(c,)] + others, domain
        else:
            raise _Unsupported("a comparison that couples symbols and cannot be solved for one of them")
        v = _solve(c_atoms, c_domain, True, budget)
        if v.status in ("void", "never"):
            continue
        if s is None and v.always:
            return Verdict("always")  # this comparison alone holds on the whole domain, and with it the atom
        if s is None:
            text = v.condition
        else:
            text = _equality_text(s, rest) + (f" and {_wrap(v.condition)}" if v.some else "")
        example = _case_example(v, syms, s, rest, c_domain)
        if not (_holds_at(atoms, example) and _holds_at(domain, example)):
            raise _Unsupported("no checked example")
        order = (0 if s is not None and dims.symbols_of(rest) else 1, text)  # couplings first, then by name
        cases.setdefault(text, (example, (text, v.key()), order))
    if not cases:
        if any(_smallest_in(sym, domain) is None for sym in syms):
            return _VOID
        return Verdict("never")
    example = min((e for e, _, _ in cases.values()), key=_example_order)
    if not _fails_somewhere(syms, atoms, domain, example):
        raise _Unsupported("the cases may cover every size")
    texts = sorted(cases, key=lambda t: cases[t][2])
    condition = texts[0] if len(texts) == 1 else " or ".join(f"({t})" if " and " in t else t for t in texts)
    return Verdict("some", condition, {sym.name: v for sym, v in example.items()},
                   coupled=frozenset(k for _, k, _ in cases.values()))


def _solved_for(c):
    """``(s, e)`` when the comparison ``c`` is ``s == e`` with ``e`` free of ``s``, the symbol latest by name first
    (``W - H == 0`` gives ``W = H``); None when it is no such equality."""
    if c.op != EQ or _is_const(c):
        return None
    for s in sorted(c.expr.free_symbols, key=lambda x: x.name, reverse=True):
        rest, dep = c.expr.as_independent(s, as_Add=True)
        a, x = dep.as_coeff_Mul()
        if x == s and a in (1, -1):
            return s, dims.norm(-rest if a == 1 else rest)
    return None


def _substituted(atom, s, e) -> tuple:
    e = sympy.sympify(e)
    return tuple(c if _is_const(c) or s not in c.expr.free_symbols else Cmp(dims.norm(c.expr.xreplace({s: e})), c.op)
                 for c in atom)


def _equality_text(s, e) -> str:
    """``H == W`` (names in order) or ``H == 2·W``."""
    if isinstance(e, sympy.Symbol):
        a, b = sorted((s.name, e.name))
        return f"{a} == {b}"
    return f"{s.name} == {dims.pretty(e)}"


def _smallest_in(sym, domain) -> Optional[int]:
    """The smallest size of ``sym`` that the domain atoms in ``sym`` alone allow; None if there is none."""
    return _solve_single(sym, [], [a for a in domain if _symbols(a) == {sym}])[1].smallest()


def _case_example(v, syms, s, rest, domain) -> dict:
    """A smallest valid choice of every symbol in ``syms`` for a case: the case's own example, the smallest allowed
    size for symbols it leaves free, and ``s = rest`` for the symbol solved for."""
    env = {}
    for sym in syms:
        if sym == s:
            continue
        value = v.example.get(sym.name)
        env[sym] = value if value is not None else _smallest_in(sym, domain)
        if env[sym] is None:
            raise _Unsupported("no size")
    if s is not None:
        value = _value(rest, env)
        if type(value) is not int or value < 1:
            raise _Unsupported("no size")
        env[s] = value
    return env


def _example_order(example: dict) -> tuple:
    values = [example[s] for s in sorted(example, key=lambda x: x.name)]
    return max(values), len(set(values)) > 1, values


def _holds_at(atoms, env) -> bool:
    for atom in atoms:
        if not any((v == 0) if c.op == EQ else (v >= 0) for c in atom for v in (_value(c.expr, env),)):
            return False
    return True


def _fails_somewhere(syms, atoms, domain, start: dict) -> bool:
    """Whether some sizes near ``start`` (each symbol at most a few above it) are in the domain and fail an atom."""
    order = sorted(syms, key=lambda x: x.name)
    reach = max(1, int(round(MAX_WITNESS ** (1 / len(order)))) - 1)
    for total in range(1, reach * len(order) + 1):
        for offsets in _offsets(total, len(order), reach):
            env = {sym: start[sym] + o for sym, o in zip(order, offsets)}
            if _holds_at(domain, env) and not _holds_at(atoms, env):
                return True
    return False


def _offsets(total: int, n: int, reach: int):
    """Tuples of ``n`` ints in ``0..reach`` summing to ``total``."""
    if n == 1:
        if total <= reach:
            yield (total,)
        return
    for first in range(min(total, reach) + 1):
        for tail in _offsets(total - first, n - 1, reach):
            yield (first,) + tail


# ---------------------------------------------------------------------------------------------------------------
# a product of single-symbol factors equal to a constant


def _solve_product(syms, atoms, domain) -> Optional[Verdict]:
    """``K * f(H) * g(W) * ... == c`` with each factor a size of one symbol, and any atoms in one symbol each; None
    if the atoms are not of that form."""
    coupled = [a for a in atoms if len(_symbols(a)) > 1]
    if len(coupled) != 1 or len(coupled[0]) != 1 or coupled[0][0].op != EQ:
        return None
    restrictions = [a for a in atoms if len(_symbols(a)) == 1]
    domain = [a for a in domain if len(_symbols(a)) == 1]  # the others follow from every factor being >= 1
    const, rest = sympy.sympify(coupled[0][0].expr).as_coeff_Add()
    if not rest.is_Mul:
        rest = sympy.factor(rest)
    coeff = sympy.Integer(1)
    factors = {}
    for f in rest.as_ordered_factors():
        if not f.free_symbols:
            coeff *= f
            continue
        c, f = f.as_content_primitive()
        coeff *= c
        fs = f.free_symbols
        if len(fs) != 1:
            return None
        s = next(iter(fs))
        factors[s] = factors.get(s, sympy.Integer(1)) * f
    if set(factors) != set(syms) or coeff == 0:
        return None
    for s, f in factors.items():  # the reasoning below holds only where every factor is a size
        s_domain = [a for a in domain if _symbols(a) == {s}]
        positive, dom = _solve_single(s, [ge(f, 1)], s_domain)
        if positive != dom:
            return None
    target = Fraction(-int(sympy.fraction(const)[0]) * int(sympy.fraction(coeff)[1]),
                      int(sympy.fraction(const)[1]) * int(sympy.fraction(coeff)[0]))
    if target.denominator != 1 or target < 1:
        # every factor is a size (>= 1): the product cannot be this
        return Verdict("never")
    t = int(target)
    choices = {}
    for s, f in sorted(factors.items(), key=lambda kv: kv[0].name):
        s_domain = [a for a in domain if _symbols(a) == {s}] + [ge(f, 1)]
        s_restrictions = [a for a in restrictions if _symbols(a) == {s}]
        bounded, dom = _solve_single(s, [le(f, t)] + s_restrictions, s_domain)
        if dom.empty:
            return None
        if not bounded.finite:
            return None
        q = _quasi(f, s)
        by_value = {}
        for size in bounded.members():
            v = q.value(size)
            if v.denominator == 1 and t % int(v) == 0:
                by_value.setdefault(int(v), []).append(size)
        choices[s] = by_value
    order = sorted(choices, key=lambda s: s.name)
    solutions = []
    explored = 0

    def search(i, remaining, picked):
        nonlocal explored
        explored += 1
        if explored > MAX_SOLUTIONS:
            raise _Unsupported("too many combinations")
        if i == len(order):
            if remaining == 1:
                solutions.append(dict(picked))
            return
        for v, sizes_ in choices[order[i]].items():
            if remaining % v == 0:
                picked[order[i]] = sizes_
                search(i + 1, remaining // v, picked)
        picked.pop(order[i], None)

    search(0, t, {})
    if not solutions:
        return Verdict("never")
    product = sympy.Mul(*[factors[s] for s in order])
    condition = f"{dims.pretty(product)} = {t}"
    if restrictions:
        condition += " and " + " and ".join(
            _solve_single(s, [a for a in restrictions if _symbols(a) == {s}],
                          [a for a in domain if _symbols(a) == {s}])[0].describe(s.name)
            for s in order if any(_symbols(a) == {s} for a in restrictions))
    found = frozenset(tuple((s.name, tuple(sol[s])) for s in order) for sol in solutions)
    return Verdict("some", condition, _smallest_example(solutions, order), solutions=found)


def _smallest_example(solutions, order) -> dict:
    """A smallest solution, preferring one where every symbol has the same value (a square input)."""
    best_equal = None
    for sol in solutions:
        common = set(sol[order[0]])
        for s in order[1:]:
            common &= set(sol[s])
        if common:
            v = min(common)
            if best_equal is None or v < best_equal:
                best_equal = v
    if best_equal is not None:
        return {s.name: best_equal for s in order}
    best = min(solutions, key=lambda sol: (max(min(sol[s]) for s in order), [min(sol[s]) for s in order]))
    return {s.name: min(best[s]) for s in order}


# ---------------------------------------------------------------------------------------------------------------
# relations written by code (a model's own `assert H == 224`), as atoms


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


def near(size_set: "SizeSet", start: int, reach: int = 4096) -> Optional[int]:
    """The member of ``size_set`` nearest above ``start`` (within ``reach``), else its smallest."""
    for s in range(max(start, 1), max(start, 1) + reach):
        if s in size_set:
            return s
    return size_set.smallest()
