""":func:`solve`: atoms grouped by the symbols they connect, each group given to the solver that fits it (one
symbol, a product of factors, symbols coupled by equalities), and the answers joined into one :class:`Verdict`."""

from __future__ import annotations

import dataclasses

from convlint.core.conditions.atoms import _const_holds, _is_const, _obvious, _symbols
from convlint.core.conditions.coupled import _solve_coupled
from convlint.core.conditions.limits import MAX_BRANCHES, _Unsupported
from convlint.core.conditions.product import _solve_product
from convlint.core.conditions.single_symbol import _solve_single
from convlint.core.conditions.verdict import _VOID, Verdict, _wrap


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
                sub = _solve_coupled(syms, g_atoms, g_domain, budget, _solve)
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
