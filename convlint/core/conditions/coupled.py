"""Atoms that couple symbols through equalities (``H == W``, ``H == H2``, ``H == 2*W``): one case per comparison,
an equality solved for a symbol and substituted, each case solved again exactly (:func:`_solve_coupled`)."""

from __future__ import annotations

from typing import Optional

import sympy

from convlint.core import dims
from convlint.core.conditions.atoms import EQ, Cmp, _is_const, _symbols, ge
from convlint.core.conditions.limits import MAX_WITNESS, _Unsupported
from convlint.core.conditions.single_symbol import _solve_single, _value
from convlint.core.conditions.verdict import _VOID, Verdict, _wrap


def _solve_coupled(syms, atoms, domain, budget, solve_case) -> Verdict:
    """Atoms in several symbols, split into one case per comparison of an atom that couples them. An equality that
    is linear in a symbol with coefficient ±1 (``H == W``, ``H == 2*W``, ``W == 1``) is solved for that symbol,
    which is substituted everywhere else; a comparison in one symbol becomes an atom of its own. The valid sizes
    are the union of the cases, each solved exactly (recursively); the union is "some" once a size of the domain
    outside every case is exhibited, and "unknown" if none is found. ``solve_case`` is the solver's own
    ``_solve`` (:mod:`~convlint.core.conditions.solver`), passed in so that this module does not import it back."""
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
        v = solve_case(c_atoms, c_domain, True, budget)
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
    """Whether every atom holds with its symbols set to the ints in ``env`` (sympy symbol -> int)."""
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
