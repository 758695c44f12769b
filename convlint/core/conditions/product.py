"""A product of single-symbol factors equal to a constant: a flattened feature count against a Linear's
``in_features`` (``64*f(H)*g(W) == 9216``), solved by enumerating each factor's bounded values."""

from __future__ import annotations

from fractions import Fraction
from typing import Optional

import sympy

from convlint.core import dims
from convlint.core.conditions.atoms import EQ, _symbols, ge, le
from convlint.core.conditions.limits import MAX_FACTOR_OPS, MAX_SOLUTIONS, _Unsupported
from convlint.core.conditions.single_symbol import _quasi, _solve_single
from convlint.core.conditions.verdict import Verdict


def _solve_product(syms, atoms, domain) -> Optional[Verdict]:
    """``K * f(H) * g(W) * ... == c`` with each factor a size of one symbol, and any atoms in one symbol each; None
    if the atoms are not of that form."""
    coupled = [a for a in atoms if len(_symbols(a)) > 1]
    if len(coupled) == 1 and len(coupled[0]) > 1 and all(c.op == EQ for c in coupled[0]):
        return _either_product(syms, coupled[0], [a for a in atoms if a is not coupled[0]], domain)
    if len(coupled) != 1 or len(coupled[0]) != 1 or coupled[0][0].op != EQ:
        return None
    restrictions = [a for a in atoms if len(_symbols(a)) == 1]
    domain = [a for a in domain if len(_symbols(a)) == 1]  # the others follow from every factor being >= 1
    const, rest = sympy.sympify(coupled[0][0].expr).as_coeff_Add()
    if not rest.is_Mul:
        if sympy.count_ops(rest) > MAX_FACTOR_OPS:
            return None
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
    condition = f"{dims.pretty(product)} == {t}"
    if restrictions:
        condition += " and " + " and ".join(
            _solve_single(s, [a for a in restrictions if _symbols(a) == {s}],
                          [a for a in domain if _symbols(a) == {s}])[0].describe(s.name)
            for s in order if any(_symbols(a) == {s} for a in restrictions))
    found = frozenset(tuple((s.name, tuple(sol[s])) for s in order) for sol in solutions)
    return Verdict("some", condition, _smallest_example(solutions, order), solutions=found)


def _either_product(syms, atom, others, domain) -> Optional[Verdict]:
    """An atom that is a choice of products (a flattened position count broadcast against a table of 16 rows:
    ``f(H)*g(W) == 16 or f(H)*g(W) == 1``): each solved alone, and the sizes of any of them."""
    if any(len(_symbols((cmp,))) < 2 for cmp in atom):
        return None  # a choice in fewer symbols: beyond this solver
    cases = []
    for cmp in atom:
        case = _solve_product(syms, [(cmp,)] + others, domain)
        if case is None or not (case.some or case.never):
            return None
        if case.some:
            cases.append(case)
    if not cases:
        return Verdict("never")
    if len(cases) == 1:
        return cases[0]
    order = sorted(syms, key=lambda x: x.name)
    solutions = frozenset().union(*(c.solutions for c in cases))
    example = min((c.example for c in cases), key=lambda e: (max(e.values()), [e[x.name] for x in order]))
    return Verdict("some", " or ".join(c.condition for c in cases), example, solutions=solutions)


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
