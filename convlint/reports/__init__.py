"""Report formats. Each renders a :class:`~convlint.results.Report` to a string."""

from __future__ import annotations

import os

from convlint.core.words import display_path


def repo_path(path: str) -> str:
    """``path`` as CI annotations and code scanning want it: relative to the working directory (the repository
    root in CI) with ``/`` separators, or absolute when it lies outside."""
    return display_path(path).replace(os.sep, "/")


def plain_text(f, verification_label: str = "", hint_label: str = "hint: ") -> str:
    """A finding as plain lines for annotations and SARIF messages: where and what, the verdict, the hint."""
    text = f"{f.layer}: {f.message}" if f.layer else f.message
    if f.verification is not None:
        text += f"\n{verification_label}{f.verification.line()}"
    if f.hint:
        text += f"\n{hint_label}{f.hint}"
    return text
