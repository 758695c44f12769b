"""``--format text``: one line per finding, ``target: node (Op): CODE severity: message``, with onnxruntime's
verdict on it (when verified) and its hint below."""

from __future__ import annotations

import click

from convlint.rule import ERROR, INFO, WARNING

COLORS = {ERROR: "red", WARNING: "yellow", INFO: "cyan"}
LABELS = {ERROR: "error", WARNING: "warning", INFO: "note"}


def finding_line(target: str, f) -> str:
    loc = f.location
    where = f"{loc['file']}:{loc['line']}" if loc.get("line") and loc.get("file") else target
    if f.layer:
        where += f": {f.layer}"
    sev = click.style(f"{LABELS.get(f.severity, f.severity)}", fg=COLORS.get(f.severity), bold=True)
    code = click.style(f.rule, bold=True)
    return f"{where}: {code} {sev}: {f.message}"


def render(report) -> str:
    lines = []
    counts = {ERROR: 0, WARNING: 0, INFO: 0}
    for result in sorted(report.results, key=lambda r: r.target):
        for f in sorted(result.findings, key=lambda f: f.sort_key()):
            counts[f.severity] = counts.get(f.severity, 0) + 1
            lines.append(finding_line(result.target, f))
            if f.verification is not None:
                lines.append(click.style(f"    {f.verification.line()}", dim=True))
            if f.hint:
                lines.append(click.style(f"    hint: {f.hint}", fg="green"))
    lines.append(summary(report, counts))
    return "\n".join(lines) + "\n"


def summary(report, counts) -> str:
    n = len(report.results)
    models = f"{n} model{'s' if n != 1 else ''}"
    failed = len(report.input_errors)
    hidden = sum(len(r.suppressed) for r in report.results)
    hidden = f" ({hidden} suppressed by the configuration)" if hidden else ""
    parts = [f"{counts[s]} {LABELS[s]}{'s' if counts[s] != 1 else ''}" for s in (ERROR, WARNING, INFO) if counts[s]]
    limited = [r for r in report.results if _limits(r.domain)]
    if n == 1 and limited:
        runs = f"; it runs when {limited[0].domain.text()}"
    else:
        runs = "".join(f"; {r.target} runs when {r.domain.text()}" for r in limited)
    if not parts and not failed:
        return click.style(f"All clean: {models}, no findings{hidden}{runs}.", fg="green", bold=True)
    text = f"Found {', '.join(parts) or 'nothing'} in {models}{hidden}"
    if failed:
        text += f"; {failed} could not be read"
    return click.style(text + runs + ".", bold=True)


def _limits(domain) -> bool:
    """Whether a model's input domain is worth a word: it runs for some sizes only (or convlint could not join its
    conditions). "No size" goes without saying beside an error, and "every size" beside no finding."""
    return domain is not None and (domain.status == "some" or (domain.status == "unknown" and bool(domain.condition)))
