"""``convlint summary``'s formats: an aligned table for the terminal, markdown for a pull request, and JSON.

Counts are exact. The table writes a formula whole when it fits its column, and its leading term otherwise (``≈ 81.6
k·H·W``, the floors taken as the fractions they round); numbers with thousands separators, and SI prefixes in the
line for ``--at``. JSON writes formulas in sympy's syntax (``216*H*W +
1152*floor(H/2)*floor(W/2)``), which ``sympy.sympify`` reads back, and numbers when every symbol is fixed.
"""

from __future__ import annotations

import json
import re
import shutil

import sympy

from convlint.core import dims
from convlint.version import __version__

COLUMNS = ("layer", "class", "output shape", "params", "MACs")
MAX_FORMULA = 44  # the widest exact formula a table cell shows; longer ones show their leading term


def render(summaries, fmt: str = "text", width: int = 0) -> str:
    if fmt == "json":
        return json.dumps({"convlint": __version__, "summaries": [s.to_json() for s in summaries]}, indent=2,
                          sort_keys=True) + "\n"
    draw = markdown if fmt == "markdown" else text
    return "\n".join(draw(s, width) for s in summaries)


# -- numbers and formulas ------------------------------------------------------------------------------------------

def grouped(n: int) -> str:
    """``1,792``."""
    return f"{n:,}"


def si(x) -> str:
    """``31.0 M``, ``3.58 G``, ``812``."""
    x = float(x)
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            v = x / scale
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{x:.3g}" if x != int(x) else str(int(x))


def formula(expr) -> str:
    """An exact count: ``1,728·H·W``, ``216·H·W + 1,152·⌊H/2⌋·⌊W/2⌋``, ``216·⌊(H-1)/2⌋·⌊(W-1)/2⌋``: the shorter
    of the count as the dim printer factors it and as a sum of terms."""
    if expr is None:
        return "?"
    if type(expr) is int:
        return grouped(expr)
    factored = re.sub(r"(?<![/\d])\d{4,}", lambda m: grouped(int(m.group())), dims.pretty(expr))
    summed = _terms(expr)
    return factored if len(factored) < len(summed) else summed


def _terms(expr) -> str:
    terms = sympy.Add.make_args(sympy.expand(expr))
    parts = []
    for term in sorted(terms, key=_degree, reverse=True):
        coeff, rest = term.as_coeff_Mul()
        sign = "-" if coeff < 0 else "+"
        coeff = abs(coeff)
        if rest == 1:
            body = grouped(int(coeff)) if coeff.is_Integer else str(coeff)
        elif coeff == 1:
            body = dims.pretty(rest)
        else:
            body = f"{grouped(int(coeff)) if coeff.is_Integer else coeff}·{dims.pretty(rest)}"
        parts.append((sign, body))
    out = ("-" if parts[0][0] == "-" else "") + parts[0][1]
    for sign, body in parts[1:]:
        out += f" {sign} {body}"
    return out


def leading(expr) -> str:
    """The leading term of a count, the floors and ceilings taken as the fractions they round: ``≈ 81.6 k·H·W``."""
    if type(expr) is int or expr is None:
        return formula(expr)
    smooth = sympy.expand(expr.replace(sympy.floor, lambda a: a).replace(sympy.ceiling, lambda a: a))
    terms = sympy.Add.make_args(smooth)
    top = max(_degree(t) for t in terms)
    parts = []
    for term in sorted((t for t in terms if _degree(t) == top), key=str):
        coeff, rest = term.as_coeff_Mul()
        parts.append(si(coeff) if rest == 1 else (dims.pretty(rest) if coeff == 1 else f"{si(coeff)}·{dims.pretty(rest)}"))
    return "≈ " + " + ".join(parts)


def _degree(term) -> int:
    syms = term.free_symbols
    if not syms:
        return 0
    smooth = term.replace(sympy.floor, lambda a: a).replace(sympy.ceiling, lambda a: a)
    try:
        return int(sympy.Poly(smooth, *sorted(syms, key=lambda s: s.name)).total_degree())
    except (sympy.PolynomialError, sympy.GeneratorsNeeded, ValueError):
        return len(syms)


def cell(expr) -> str:
    """A count in a table cell: exact when it fits, else its leading term."""
    exact = formula(expr)
    return exact if len(exact) <= MAX_FORMULA else leading(expr)


def total(expr) -> str:
    """A total: exact, with thousands separators, or the formula (or its leading term)."""
    return cell(expr)


def shapes(layer) -> str:
    if not layer.output_shapes:
        return "—"
    return ", ".join(dims.pretty_shape(s) for s in layer.output_shapes)


def params(layer) -> str:
    if layer.shared:
        return "(shared)"
    return "—" if not layer.params else grouped(layer.params)


def macs(layer) -> str:
    return "—" if layer.macs == 0 else cell(layer.macs)


def marks(layer) -> str:
    said = ", ".join(layer.codes)
    if layer.after and not layer.codes:
        said = f"after {layer.after}"
    return said


# -- text ----------------------------------------------------------------------------------------------------------

def text(summary, width: int = 0) -> str:
    if summary.error:
        return f"{summary.target}: {summary.error}\n"
    width = width or shutil.get_terminal_size((120, 24)).columns
    head = list(COLUMNS)
    if summary.batch:
        head[4] = f"MACs ({summary.batch} = 1)"
    rows = [[layer.name, layer.kind, shapes(layer), params(layer), macs(layer), marks(layer)]
            for layer in summary.layers]
    rows.append(["total", "", "", total(summary.params), total(summary.macs), ""])
    widths = [max(len(r[i]) for r in rows + [head + [""]]) for i in range(6)]
    fixed = sum(widths[i] for i in (0, 1, 3, 4, 5)) + 2 * 5
    widths[2] = max(12, min(widths[2], width - fixed)) if width > fixed + 12 else widths[2]
    lines = [f"{summary.target}:"]
    lines.append(_line(head + ["finding"], widths))
    for r in rows:
        lines.append(_line(r, widths))
    lines.append(f"runs when: {summary.domain.text() if summary.domain else 'unknown'}")
    if summary.at:
        lines.append(_at_line(summary))
    if summary.layers and any(layer.after for layer in summary.layers):
        first = next(layer.after for layer in summary.layers if layer.after)
        lines.append(f"rows marked 'after {first}' follow an error: their shapes are those convlint carried on with")
    return "\n".join(lines) + "\n"


def _line(cells, widths) -> str:
    out = []
    for i, (c, w) in enumerate(zip(cells, widths)):
        if i == 2 and len(c) > w:
            c = c[:w - 1] + "…"
        out.append(c.rjust(w) if i in (3, 4) else c.ljust(w))
    return "  ".join(out).rstrip()


def _at_line(summary) -> str:
    fixed = dict(summary.at)
    if summary.batch and summary.batch not in fixed:
        fixed[summary.batch] = 1
    where = ", ".join(f"{k} = {v}" for k, v in sorted(fixed.items()))
    parts = []
    if type(summary.macs) is int:
        parts.append(f"{si(summary.macs)} MACs")
    if type(summary.activation_bytes) is int:
        parts.append(f"activations {si(summary.activation_bytes)}B")
    return f"at {where}: {', '.join(parts) or 'counts still depend on other sizes'}"


# -- markdown ------------------------------------------------------------------------------------------------------

def markdown(summary, width: int = 0) -> str:
    if summary.error:
        return f"**{summary.target}**: {summary.error}\n"
    mac_head = f"MACs ({summary.batch} = 1)" if summary.batch else "MACs"
    lines = [f"### {summary.target}", "", f"| layer | class | output shape | params | {mac_head} | finding |",
             "| --- | --- | --- | ---: | ---: | --- |"]
    for layer in summary.layers:
        lines.append("| " + " | ".join(_md(c) for c in (layer.name, layer.kind, shapes(layer), params(layer),
                                                           macs(layer), marks(layer))) + " |")
    lines.append(f"| **total** | | | **{total(summary.params)}** | **{_md(total(summary.macs))}** | |")
    lines += ["", f"Runs when: {_md(summary.domain.text() if summary.domain else 'unknown')}"]
    if summary.at:
        lines.append(f"{_md(_at_line(summary))}")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*")


