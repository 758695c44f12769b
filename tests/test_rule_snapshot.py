"""The words of every rule, pinned: each finding of each built-in rule's VALID and INVALID examples (rule, severity,
layer, message, hint, condition) is written down in tests/snapshots/rule_examples.txt, and a change of wording shows
here as a diff to review. After reviewing it, rewrite the file with

    CONVLINT_UPDATE_SNAPSHOTS=1 scripts/dev test tests/test_rule_snapshot.py

The examples are linted without verification (its verdicts quote onnxruntime and PyTorch, whose words are not
ours), all in one test, in code order and from the repository's root, so the file does not depend on the tests run
before, on xdist or on the working directory. The source line of a PyTorch finding's layer is left out (it moves
whenever a rule's file is edited); a message that names a line keeps it.
"""

from __future__ import annotations

import difflib
import functools
import os
import tempfile

import pytest

import convlint
from convlint.checking import registry
from convlint.examples import TorchExample, weights_file, model_from_text
from convlint.reports.text_format import LABELS

from conftest import ROOT

SNAPSHOT = os.path.join(ROOT, "tests", "snapshots", "rule_examples.txt")
KINDS = ("VALID", "INVALID", "TORCH_VALID", "TORCH_INVALID")
HEADER = ("# Every finding of every built-in rule's VALID and INVALID examples, linted without verification.\n"
          "# Checked by tests/test_rule_snapshot.py; after reviewing a change, rewrite it with\n"
          "#     CONVLINT_UPDATE_SNAPSHOTS=1 scripts/dev test tests/test_rule_snapshot.py")


def _built_in_rules() -> dict:
    reg = registry.load()
    return {code: rule for code, rule in reg.rules.items() if reg.sources[code] == registry.BUILTIN}


WEIGHTS = tempfile.mkdtemp(prefix="convlint-example-weights-")  # the examples' checkpoints, named by their build


def _lint(example):
    if isinstance(example, TorchExample):
        return convlint.lint(example.build, input_shape=example.input_shape, input_dtype=example.input_dtype,
                             weights=weights_file(example, WEIGHTS), verify=False)
    return convlint.lint(model_from_text(example), verify=False)


@functools.cache
def _linted() -> tuple:
    """``(code, name, kind, index, example, report)`` for every example, in code order."""
    here = os.getcwd()
    os.chdir(ROOT)  # a PyTorch finding names files relative to the working directory
    try:
        return tuple((code, rule.name, kind, i, example, _lint(example))
                     for code, rule in _built_in_rules().items()
                     for kind in KINDS for i, example in enumerate(getattr(rule, kind)))
    finally:
        os.chdir(here)


def render(linted) -> str:
    """A block per rule, a line per example, each finding below it as the text report prints it, hint included."""
    lines, previous = [HEADER], None
    for code, name, kind, i, example, report in linted:
        if code != previous:
            lines += ["", f"{code} {name}"]
            previous = code
        findings = [_finding(f) for f in report.findings] + [f"input error: {e}" for e in report.input_errors]
        label = f"{kind}[{i}]" + (f" {example}" if isinstance(example, TorchExample) else "")
        lines.append(f"  {label}:" + ("" if findings else " no findings"))
        lines += ["    " + line for finding in findings for line in finding.splitlines()]
    return ("\n".join(lines) + "\n").replace(WEIGHTS + os.sep, "")


def _finding(f) -> str:
    text = f"{f.layer or '(the model)'}: {f.rule} {LABELS[f.severity]}: {f.message}"
    if f.hint:
        text += f"\n    hint: {f.hint}"
    if f.condition:
        text += f"\n    condition: {f.condition}"
    return text


def test_the_snapshot_is_current():
    pytest.importorskip("torch")
    text = render(_linted())
    if os.environ.get("CONVLINT_UPDATE_SNAPSHOTS") == "1":
        os.makedirs(os.path.dirname(SNAPSHOT), exist_ok=True)
        with open(SNAPSHOT, "w", encoding="utf-8") as f:
            f.write(text)
        return
    with open(SNAPSHOT, encoding="utf-8") as f:
        current = f.read()
    if current != text:
        diff = difflib.unified_diff(current.splitlines(keepends=True), text.splitlines(keepends=True),
                                    "tests/snapshots/rule_examples.txt", "the rules' findings now")
        pytest.fail("the rules' findings differ from the snapshot; if the change is meant, rewrite it with "
                    "CONVLINT_UPDATE_SNAPSHOTS=1 (see tests/test_rule_snapshot.py)\n" + "".join(diff), pytrace=False)


def test_every_rule_has_an_invalid_example_it_reports():
    pytest.importorskip("torch")
    reported = {code for code, _, kind, _, _, report in _linted() if kind.endswith("INVALID")
                for f in report.findings if f.rule == code}
    missing = sorted(_built_in_rules().keys() - reported)
    assert missing == [], "these rules have no INVALID or TORCH_INVALID example that they report: write one"
