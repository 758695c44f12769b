"""Tests generated from every rule's VALID and INVALID examples, checked against onnxruntime too."""

from __future__ import annotations

import pytest

import convlint
from convlint import registry
from convlint.examples import model_from_text
from convlint.rule import ERROR

from conftest import ort_run

RULES = registry.load().rules


def _cases(kind):
    for code, rule in RULES.items():
        for i, text in enumerate(getattr(rule, kind)):
            yield pytest.param(rule, text, id=f"{code}-{kind.lower()}-{i}")


def test_every_rule_has_examples():
    for code, rule in RULES.items():
        assert rule.VALID and rule.INVALID, f"{code} needs VALID and INVALID examples"


@pytest.mark.parametrize("rule,text", list(_cases("VALID")))
def test_valid_example_is_silent(rule, text):
    report = convlint.lint(model_from_text(text))
    assert not report.input_errors
    assert [f for f in report.findings if f.rule == rule.code] == []
    assert report.errors == []


@pytest.mark.parametrize("rule,text", list(_cases("INVALID")))
def test_invalid_example_yields_exactly_one_finding(rule, text):
    report = convlint.lint(model_from_text(text))
    mine = [f for f in report.findings if f.rule == rule.code]
    assert len(mine) == 1, [f.message for f in report.findings]
    assert mine[0].severity == rule.severity
    others = [f for f in report.errors if f.rule != rule.code]
    assert others == [], [f.message for f in others]


@pytest.mark.parametrize("rule,text", [p for p in _cases("INVALID") if p.values[0].severity == ERROR])
def test_error_examples_are_refused_by_onnxruntime(rule, text):
    assert ort_run(model_from_text(text)) is not None


@pytest.mark.parametrize("rule,text", list(_cases("VALID")))
def test_valid_examples_run_in_onnxruntime(rule, text):
    assert ort_run(model_from_text(text)) is None
