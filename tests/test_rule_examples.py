"""Tests generated from every rule's VALID and INVALID examples, checked against onnxruntime too."""

from __future__ import annotations

import pytest

import convlint
from convlint.checking import registry
from convlint.examples import model_from_text, weights_file
from convlint.rule import ERROR

from conftest import ort_run, torch_run

RULES = registry.load().rules


def _cases(kind):
    for code, rule in RULES.items():
        for i, text in enumerate(getattr(rule, kind)):
            yield pytest.param(rule, text, id=f"{code}-{kind.lower()}-{i}")


def test_every_rule_has_examples():
    for code, rule in RULES.items():
        assert (rule.VALID and rule.INVALID) or (rule.TORCH_VALID and rule.TORCH_INVALID), \
            f"{code} needs VALID and INVALID examples (ONNX, or PyTorch for rules about PyTorch modules)"


def test_rules_beyond_convolutions_have_examples_from_both_front_ends():
    # CL2xx-CL6xx: a rule with an ONNX example of the fault has a PyTorch one too (PyTorch-only rules, about
    # modules' declared attributes, have no ONNX fault to show)
    missing = [code for code, rule in RULES.items() if "CL200" <= code < "CL700" and rule.INVALID
               and not (rule.TORCH_VALID and rule.TORCH_INVALID)]
    assert missing == []


@pytest.mark.parametrize("rule,text", list(_cases("VALID")))
def test_valid_example_is_silent(rule, text):
    report = convlint.lint(model_from_text(text))
    assert not report.input_errors
    assert [f for f in report.findings if f.rule == rule.code] == []
    assert report.errors == []


def _exactly_one_finding(rule, report):
    """One finding of ``rule``, at its severity (an error states no condition: it fails for every size), and no
    error of another rule."""
    mine = [f for f in report.findings if f.rule == rule.code]
    assert len(mine) == 1, [f.message for f in report.findings]
    assert mine[0].severity == rule.severity
    assert mine[0].severity != ERROR or mine[0].condition is None, mine[0].condition
    others = [f for f in report.errors if f.rule != rule.code]
    assert others == [], [f.message for f in others]


@pytest.mark.parametrize("rule,text", list(_cases("INVALID")))
def test_invalid_example_yields_exactly_one_finding(rule, text):
    _exactly_one_finding(rule, convlint.lint(model_from_text(text)))


@pytest.mark.parametrize("rule,text", [p for p in _cases("INVALID") if p.values[0].severity == ERROR])
def test_error_examples_are_refused_by_onnxruntime(rule, text):
    assert ort_run(model_from_text(text)) is not None


@pytest.mark.parametrize("rule,text", list(_cases("VALID")))
def test_valid_examples_run_in_onnxruntime(rule, text):
    assert ort_run(model_from_text(text)) is None


# PyTorch examples: TorchExample(build, input_shape, input_dtype), linted through the Python API and run in PyTorch.

@pytest.mark.parametrize("rule,example", list(_cases("TORCH_VALID")))
def test_torch_valid_example_is_silent(rule, example, tmp_path):
    pytest.importorskip("torch")
    report = convlint.lint(example.build, input_shape=example.input_shape, input_dtype=example.input_dtype,
                           weights=weights_file(example, str(tmp_path)), verify=False)
    assert not report.input_errors, report.input_errors
    assert [f.message for f in report.findings if f.rule == rule.code] == []
    assert [f.message for f in report.errors] == []


@pytest.mark.parametrize("rule,example", list(_cases("TORCH_INVALID")))
def test_torch_invalid_example_yields_exactly_one_finding(rule, example, tmp_path):
    pytest.importorskip("torch")
    report = convlint.lint(example.build, input_shape=example.input_shape, input_dtype=example.input_dtype,
                           weights=weights_file(example, str(tmp_path)), verify=False)
    assert not report.input_errors, report.input_errors
    _exactly_one_finding(rule, report)


@pytest.mark.parametrize("rule,example", [p for p in _cases("TORCH_INVALID") if p.values[0].severity == ERROR])
def test_torch_error_examples_are_refused_by_pytorch(rule, example):
    pytest.importorskip("torch")
    assert torch_run(example.build, example.input_shape, example.input_dtype, weights=example.weights) is not None


@pytest.mark.parametrize("rule,example", [p for p in _cases("TORCH_VALID") if p.values[1].input_shape])
def test_torch_valid_examples_run_in_pytorch(rule, example):
    pytest.importorskip("torch")
    assert torch_run(example.build, example.input_shape, example.input_dtype, weights=example.weights) is None
