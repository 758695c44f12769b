"""The outcome of a lint: one Result per target, and the Report that gathers them (the same for CLI and API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from convlint.rule import ERROR, SEVERITY_RANK
from convlint.version import __version__


@dataclass
class Result:
    """What convlint found in one target, or why it could not lint it (``error``, one line)."""

    target: str
    findings: list = field(default_factory=list)
    error: Optional[str] = None
    suppressed: list = field(default_factory=list)  # (finding, reason) silenced by the configuration
    domain: Optional[object] = None
    """The input sizes for which the whole model runs (a :class:`~convlint.checking.domain.Domain`); None when the
    target could not be read."""

    def to_json(self) -> dict:
        return {
            "target": self.target,
            "error": self.error,
            "domain": self.domain.text() if self.domain is not None else None,
            "findings": [f.to_json() for f in sorted(self.findings, key=lambda f: f.sort_key())],
        }


class LintError(Exception):
    """Raised by :meth:`Report.raise_for_errors`; its message lists every error finding."""


@dataclass
class Report:
    results: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # plugin problems and other notes for stderr

    @property
    def findings(self) -> list:
        return [f for r in self.results for f in sorted(r.findings, key=lambda f: f.sort_key())]

    @property
    def errors(self) -> list:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def input_errors(self) -> list:
        return [r for r in self.results if r.error]

    @property
    def ok(self) -> bool:
        """True when every target was read and none has an error finding."""
        return not self.errors and not self.input_errors

    def at_or_above(self, severity: str) -> list:
        floor = SEVERITY_RANK[severity]
        return [f for f in self.findings if SEVERITY_RANK.get(f.severity, 0) >= floor]

    def exit_code(self, fail_on: str = ERROR) -> int:
        """0 clean, 1 findings at or above ``fail_on``, 2 a target could not be read."""
        if self.input_errors:
            return 2
        return 1 if self.at_or_above(fail_on) else 0

    def to_json(self) -> dict:
        return {"convlint": __version__, "results": [r.to_json() for r in sorted(self.results, key=lambda r: r.target)]}

    def raise_for_errors(self) -> None:
        if self.ok:
            return
        lines = [f"{r.target}: {r.error}" for r in self.input_errors]
        for f in self.errors:
            lines.append(f"{f.layer or 'model'}: {f.rule} {f.message}")
        raise LintError(f"convlint found {len(lines)} error(s):\n" + "\n".join(f"  {line}" for line in lines))
