"""``--format github``: GitHub Actions workflow commands, one annotation per finding.

``::error file=models/net.py,line=12,title=convlint CL101 (conv-input-channels)::encoder.conv1 (Conv): ...``.
Findings on ONNX models name the model file without a line; PyTorch findings point at the source line. Info
findings become notices. Targets that could not be read are errors on their file; the summary line follows.
"""

from __future__ import annotations

from collections import Counter

from convlint.rule import ERROR, INFO, WARNING
from convlint.app.targets import file_of
from convlint.reports import plain_text, repo_path
from convlint.reports.text_format import summary

COMMANDS = {ERROR: "error", WARNING: "warning", INFO: "notice"}


def render(report) -> str:
    lines = [_command("warning", problem, title="convlint") for problem in report.problems]
    for result in sorted(report.results, key=lambda r: r.target):
        if result.error:
            lines.append(_command("error", result.error, file=repo_path(file_of(result.target)),
                                  title="convlint: cannot read the model"))
        for f in sorted(result.findings, key=lambda f: f.sort_key()):
            loc = f.location
            lines.append(_command(COMMANDS.get(f.severity, "warning"), plain_text(f),
                                  file=repo_path(loc.get("file") or file_of(result.target)), line=loc.get("line"),
                                  title=f"convlint {f.rule} ({f.name})"))
    counts = Counter(f.severity for f in report.findings)
    lines.append(summary(report, {s: counts.get(s, 0) for s in (ERROR, WARNING, INFO)}))
    return "\n".join(lines) + "\n"


def _command(kind: str, message: str, **props) -> str:
    params = ",".join(f"{k}={_escape_property(str(v))}" for k, v in props.items() if v is not None)
    return f"::{kind}{' ' + params if params else ''}::{_escape_data(message)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
