"""The model's input domain: the input sizes for which the whole model runs, as one statement.

It is the conjunction of every size condition found in the model: the conditions of the findings that hold for some
sizes only (their atoms, :attr:`~convlint.rule.Evidence.atoms`) and the size checks of the model's own code that a
PyTorch trace found (:attr:`~convlint.core.ir.Trace.requirements`), and the sizes every convolution and pooling window needs (its output at least 1 on each axis: too
common to report on every layer, yet part of what the model accepts), solved together by
:func:`convlint.core.conditions.solve`, so that a U-Net's four per-skip conditions (``H % 2 == 0``, ``H // 2 % 2 ==
0``...) read as one (``H % 16 == 0``). An error finding means no size: the model cannot run as given. Where a
condition has no atoms, or the solver cannot join them, the statement lists the conditions as found, and says it is
not simplified. Where the trace stopped early, the statement holds up to where it stopped, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import sympy

from convlint.core import conditions as cond
from convlint.core import dims
from convlint.rule import ERROR

EVERY, SOME, NONE, UNKNOWN = "every", "some", "none", "unknown"


@dataclass
class Domain:
    """The input sizes for which the model runs: ``status`` is "every", "some", "none" or "unknown"."""

    status: str
    condition: str = ""
    """For "some": the condition in the user's dim names (``H % 16 == 0 and W % 16 == 0``); for "unknown", the
    conditions as found, joined with "and" (not simplified), or ""."""
    symbols: tuple = ()
    """The names of the input dims that are symbols; none when every size was given."""
    partial: Optional[str] = None
    """Why the statement covers part of the model only (the trace stopped, say), or None."""
    example: Optional[dict] = None
    """For "some": a smallest size that meets the condition (symbol name -> value)."""
    classes: Optional[dict] = None
    """For "some": the symbols whose sizes form one residue class, name -> (period, residue) (``H % 16 == 0``:
    ``(16, 0)``), so that a formula can be stated for those sizes (``⌊H/16⌋`` is then ``H/16``)."""
    atoms: tuple = field(default=(), repr=False, compare=False)
    """For "some": the conditions the statement was solved from, which :meth:`holds` evaluates."""
    followed: tuple = field(default=(), repr=False, compare=False)
    """The comparisons torch decided on the example sizes that the statement does not imply (Trace.followed), as
    atoms: the statement is for the sizes that meet them, and ``partial`` says so."""

    def holds(self, sizes: dict) -> Optional[bool]:
        """Whether the model runs at ``sizes`` (symbol name -> int, every symbol given): True or False, or None
        when the domain is unknown."""
        if self.status == NONE:
            return False
        if self.status not in (EVERY, SOME) or (self.partial and not self.followed):
            return None  # unknown, or stated for part of the model only
        missing = set(self.symbols) - set(sizes)
        if missing:
            raise ValueError(f"no size given for {', '.join(sorted(missing))}")
        env = {dims.symbol(name): int(v) for name, v in sizes.items()}
        if self.followed and not cond.holds(self.followed, env):
            return None  # sizes the trace did not follow
        return True if self.status == EVERY else cond.holds(self.atoms, env)

    def text(self) -> str:
        """The statement as the reports print it: ``every size``, ``no size``, the condition, or ``unknown``."""
        if self.status == EVERY:
            said = "every size" if self.symbols else "the given sizes"
        elif self.status == NONE:
            said = "no size"
        elif self.status == SOME:
            said = self.condition
        else:
            said = f"unknown ({self.condition}: not simplified)" if self.condition else "unknown"
        return f"{said} ({self.partial})" if self.partial else said


def model_domain(graph, findings) -> Domain:
    """The input domain of the model ``graph`` (propagated, its rules run and joined) given its ``findings``."""
    symbols = tuple(s.name for s in dims.symbols_of(*[d for v in graph.inputs for d in (v.shape or ())]))
    partial = _partial(graph)
    if any(f.severity == ERROR and f.rule != "CL000" for f in findings):
        return Domain(NONE, symbols=symbols, partial=partial)
    if graph.trace is not None and graph.trace.stop is not None and graph.trace.stop.kind == "no-input":
        return Domain(UNKNOWN, symbols=symbols, partial=partial)
    unsure = _unsure(graph, findings)
    if unsure:
        return Domain(UNKNOWN, symbols=symbols, partial="; ".join(([partial] if partial else []) + unsure))
    atoms, domain, loose = [], [], []
    trace = graph.trace
    required = [r for r in trace.requirements if r.verdict is not None and r.verdict.some] if trace else []
    for r in required:
        atoms += r.atoms
    said = {r.verdict.condition for r in required}
    for f in findings:
        if not f.condition or f.severity == ERROR:
            continue
        if f.evidence.atoms:
            atoms += list(f.evidence.atoms)
            domain += list(f.evidence.domain)
        elif f.condition not in said:
            loose.append(f.condition)
    windows = _window_atoms(graph)
    followed, scope = _followed(trace, atoms + windows, domain) if partial is None else ([], "")
    if followed:
        partial, atoms = scope, atoms + followed
    if not atoms and not windows and not loose:
        return Domain(EVERY, symbols=symbols, partial=partial)
    if loose:
        parts = [cond.solve(atoms + windows, domain).condition] if atoms or windows else []
        return Domain(UNKNOWN, _joined(sorted(set(parts + loose))), symbols, partial)
    verdict = cond.solve(atoms + windows, domain)
    if atoms and windows and verdict.some:
        alone = cond.solve(atoms, domain)
        if alone.some and alone.key() == verdict.key():
            verdict = alone  # the windows add nothing: say it as the findings do
    if verdict.some:
        return Domain(SOME, verdict.condition, symbols, partial, dict(verdict.example), _classes(verdict),
                      tuple(atoms + windows + domain), tuple(followed))
    if verdict.never:
        return Domain(NONE, symbols=symbols, partial=partial)
    if verdict.always:
        return Domain(EVERY, symbols=symbols, partial=partial)
    found = [f.condition for f in findings if f.condition and f.severity != ERROR]
    found += [r.verdict.condition for r in required]
    return Domain(UNKNOWN, _joined(sorted(set(found))), symbols, partial)


WINDOW_OPS = frozenset({"Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool"})


def _window_atoms(graph) -> list:
    """``out >= 1`` for each symbolic spatial output size of a convolution or pooling (each distinct size once)."""
    seen, out = set(), []
    for g in graph.graphs():
        for node in g.nodes:
            if node.op not in WINDOW_OPS or not node.outputs or node.outputs[0].shape is None:
                continue
            for d in node.outputs[0].shape[2:]:
                if d is None or type(d) is int or d in seen:
                    continue
                seen.add(d)
                out.append(cond.ge(d, 1))
    return out


def _followed(trace, atoms, domain) -> tuple:
    """(atoms, text) of the comparisons torch decided on the example sizes (Trace.followed) that ``atoms`` do not
    imply and that hold for some sizes only: the statement then covers the sizes that meet them."""
    out, said = [], []
    weighed = {sympy.expand(c.expr) for atom in atoms for c in atom if len(atom) > 1}
    for relation in (trace.followed if trace is not None else []):
        these = cond.relation_atoms(relation)
        other_way = cond.relation_atoms(sympy.Not(relation))
        if these is None or other_way is None or not cond.solve(these, domain).some:
            continue
        if all(len(a) == 1 and (sympy.expand(a[0].expr) in weighed or sympy.expand(-a[0].expr) in weighed)
               for a in these):
            continue  # one way of a choice a rule weighed whole (a broadcast: equal, or one of them 1)
        if cond.solve(atoms + out + other_way, domain).never:
            continue  # what the model needs anyway
        out += these
        said.append(cond.solve(these, domain).condition)
    text = f"convlint followed the sizes with {' and '.join(said)} only; for others PyTorch may go another way"
    return out, text if out else ""


def _unsure(graph, findings) -> list:
    """Why no statement can be made for every size: PyTorch fixed a symbol to its example value (the sizes after
    that point hold for that value only), or refused a call for the sizes convlint tried, with no condition."""
    out = []
    fixed = graph.trace.specialized if graph.trace is not None else {}
    for name, where in sorted(fixed.items()):
        out.append(f"PyTorch fixed {name} to {where.value} at {where.node}, so convlint followed the model for "
                   f"{name} = {where.value} only")
    for f in findings:
        if f.rule == "CL010" and f.severity != ERROR and not f.condition:
            sizes = (f.node_ref.facts.refusal.sizes if f.node_ref is not None and f.node_ref.facts.refusal else {})
            tried = ", ".join(f"{k} = {v}" for k, v in sizes.items())
            out.append(f"PyTorch refuses {f.location.get('node') or f.node} at {tried or 'the sizes tried'}, and "
                       f"convlint cannot say for which sizes it would not")
    return out


def _classes(verdict) -> dict:
    out = {}
    for name, sizes in verdict.sets.items():
        key = sizes.canonical()
        if key[0] == "periodic" and key[1] > 1 and len(key[2]) == 1 and not key[4]:
            out[name] = (key[1], key[2][0])
    return out


def _joined(conditions) -> str:
    return " and ".join(f"({c})" if " or " in c else c for c in conditions if c)


def _partial(graph) -> Optional[str]:
    stop = graph.trace.stop if graph.trace is not None else None
    if stop is None:
        return None
    if stop.kind == "no-input":
        return "no input shape given"
    if stop.kind == "assumed":
        return None  # the trace went on, on sizes that meet the check
    where = f" at {stop.module or stop.node}" if (stop.module or stop.node) else ""
    return f"up to where the trace stopped{where}"
