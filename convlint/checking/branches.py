"""Conditions across the branches a PyTorch trace followed.

A trace follows one way through each branch of the user's code on sizes (``if pad_h: x = F.pad(...)``): the way
the example sizes take. A condition a rule finds after it (``H % 32 == 0``) then holds for the sizes that go the same
way only; stated for every size it would be false (the model pads ``H = 225`` and runs). So for each such branch
whose sizes a condition mentions, the model is traced again on sizes that go the other way, the same rules run, and
the layer's two conditions are joined: the layer works for the sizes that go the first way and meet the first
condition, or go the other way and meet the second. The result is exact for one branch at a time; it replaces the
finding's condition, in its message and hint too, or drops the finding when every size works. Where the joined condition is
beyond the solver (several branches on several sizes), the finding becomes a note scoped to the way followed: a
condition stated for every size must be true for every size.
"""

from __future__ import annotations

import dataclasses
import re

import sympy

from convlint.core import conditions as cond
from convlint.checking.engine import run_rules
from convlint.rule import ERROR, INFO

MAX_BRANCHES = 3  # branches traced the other way, per model


def widen_conditions(graph, findings: list, rules, decided: frozenset = frozenset(), path: tuple = ()) -> list:
    """``findings`` with each size condition stated for the sizes that take the other way through the branches the
    trace followed (but those in ``decided``, sites already joined by the caller); the findings are changed in
    place, and those that hold for every size are dropped. The trace the other way is itself joined over the
    branches after it, so that each way of every branch is covered; ``path`` (atoms) is what the sizes of this
    trace meet by the ways the callers chose."""
    trace = graph.trace
    if trace is None or not trace.branches or trace.retrace is None:
        return findings
    required = [a for r in trace.requirements for a in r.atoms]
    dropped, tried = set(), 0
    for branch in trace.branches:
        site = (branch.file, branch.line)
        concerned = [f for f in findings if id(f) not in dropped and _mentions(f, branch.relation)]
        if site in decided or not concerned:
            continue
        took, other_way = cond.relation_atoms(branch.relation), cond.relation_atoms(sympy.Not(branch.relation))
        twins = None
        if took is not None and other_way is not None and tried + len(decided) < MAX_BRANCHES:
            domain = [a for f in concerned for a in f.evidence.domain]
            flip = cond.solve(required + list(path) + other_way, domain)
            if flip.never:
                continue  # no size goes the other way: the conditions hold as found
            if flip.some or flip.always:
                tried += 1
                try:
                    other = trace.retrace(flip)
                    twins = widen_conditions(other, run_rules(other, rules), rules, decided | {site},
                                             path + tuple(other_way))
                except Exception:  # the other way cannot be traced
                    twins = None
        if twins is None:  # not joined (beyond the solver, no trace left, or none possible): the way followed only
            for f in concerned:
                _scoped(f, branch)
            continue
        found = {(f.rule, f.node): f for f in twins}
        for f in concerned:
            verdict = _joined(f, found.get((f.rule, f.node)), took, other_way, path)
            if verdict.always:
                dropped.add(id(f))
            elif verdict.some:
                _restate(f, verdict)
            else:
                _scoped(f, branch)
    return [f for f in findings if id(f) not in dropped]


def _mentions(finding, relation) -> bool:
    atoms = finding.evidence.atoms
    if not atoms or not finding.condition:
        return False
    return bool(_names(atoms) & {s.name for s in relation.free_symbols})


def _joined(finding, twin, took, other_way, path) -> cond.Verdict:
    """Where the layer works: the sizes that go the way followed and meet the finding's condition, or go the other
    way and meet its twin's there (every size there when the other trace found nothing; none for an error)."""
    mine = list(finding.evidence.atoms)
    if twin is None:
        theirs = []
    elif twin.severity == ERROR and not twin.condition:
        theirs = [cond.FALSE]
    elif twin.evidence.atoms:
        theirs = list(twin.evidence.atoms)
    else:
        return cond.Verdict("unknown")
    domain = list(finding.evidence.domain) + list(twin.evidence.domain if twin else ())
    branch = _names(took + other_way)
    mine_b, mine_rest = _split(mine, branch)
    theirs_b, theirs_rest = _split(theirs, branch)
    if mine_rest is not None and theirs_rest is not None and \
            cond.solve(mine_rest, domain).key() == cond.solve(theirs_rest, domain).key():
        # the sizes the branch does not decide on need the same either way: join the branch's own sizes only
        mine, theirs, rest = mine_b, theirs_b, mine_rest
    else:
        rest = []
    # (took and mine) or (other_way and theirs), as a conjunction of atoms:
    # (not took or mine) and (took or theirs); "not took" is other_way, "not other_way" is took
    atoms = rest + [o + m for o in other_way for m in mine] + [t + x for t in took for x in theirs]
    verdict = cond.solve(atoms, domain + list(path))
    return verdict if not verdict.some else dataclasses.replace(verdict, domain=tuple(domain))


def _names(atoms) -> set:
    return {s.name for a in atoms for c in a if type(c.expr) is not int for s in c.expr.free_symbols}


def _split(atoms, names: set) -> tuple:
    """(the atoms on ``names`` only, the atoms on other symbols only); (.., None) when an atom mixes both."""
    on, rest = [], []
    for a in atoms:
        mentioned = _names([a])
        if mentioned <= names:
            on.append(a)
        elif mentioned & names:
            return on, None
        else:
            rest.append(a)
    return on, rest


def _scoped(finding, branch) -> None:
    """A condition that could not be joined with the other way's: it holds for the sizes that go the way followed
    only, so it is no longer stated as the condition (a note says what it is and where it holds)."""
    finding.message += (f" — for the sizes that take the way convlint followed at `{branch.code}` "
                        f"({branch.file}:{branch.line}); convlint could not state it for the other way")
    finding.severity = INFO
    finding.condition = None
    finding.evidence.atoms = None


def _restate(finding, verdict) -> None:
    old = finding.condition
    for attr in ("message", "hint"):
        text = getattr(finding, attr)
        if text:
            text = text.replace(old, verdict.condition)
            text = re.sub(r"\(smallest: [^)]*\)", f"(smallest: {verdict.example_text()})", text)
            setattr(finding, attr, text)
    finding.condition = verdict.condition
    finding.evidence.atoms, finding.evidence.domain = verdict.atoms, verdict.domain


def scope_specialized(graph, findings: list) -> list:
    """Findings whose size condition names a symbol PyTorch fixed to its example value earlier in the trace (a size
    computed in floating point: CL011 says where): the sizes after that point were computed for that value only, so
    the condition is no longer stated as the condition for every size; the finding becomes a note that says so."""
    fixed = graph.trace.specialized if graph.trace is not None else {}
    if not fixed:
        return findings
    for f in findings:
        atoms = f.evidence.atoms
        names = _names(atoms) if atoms else set()
        hit = sorted(n for n in names & set(fixed))
        if f.condition and hit:
            where = fixed[hit[0]]
            f.message += (f" — for {hit[0]} = {where.value} only: PyTorch fixed {hit[0]} to that value at "
                          f"{where.node}, so convlint could not state the condition for other sizes")
            f.severity = INFO
            f.condition = None
            f.evidence.atoms = None
    return findings
