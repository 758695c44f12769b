"""The held-out corpus (tests/corpus/): faulty PyTorch models reduced from public reports, each with a clean twin.

For every case, eager PyTorch refuses the faulty model and runs the twin on real CPU tensors at the case's sizes
(so the corpus itself is right), and convlint reports an error on the module where PyTorch fails and no error on
the twin. The cases convlint does not get right today are listed, with the reason, in KNOWN_MISSES (and twins
with false errors in KNOWN_FALSE_ERRORS); those tests are strict xfails, so a fixed case fails until it is removed
from the list. `python bench/corpus_recall.py` prints the same measurement as a table."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

import corpus_cases as cc  # noqa: E402

NAMES = cc.case_names()

# Faulty models convlint does not report as an error on FAULT_MODULE today, and why (what is not modelled).
KNOWN_MISSES: dict[str, str] = {}  # every case is found today; a case of a fault class convlint does not handle yet
# goes here, with the reason

# Clean twins on which convlint reports an error today.
KNOWN_FALSE_ERRORS: dict[str, str] = {}


def _marked(names, known):
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=known[n])) if n in known else n
            for n in names]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_corpus_is_large_and_lists_are_current():
    assert len(NAMES) >= 40
    assert set(KNOWN_MISSES) <= set(NAMES), set(KNOWN_MISSES) - set(NAMES)
    assert set(KNOWN_FALSE_ERRORS) <= set(NAMES), set(KNOWN_FALSE_ERRORS) - set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_case_is_well_formed_and_cited(name):
    case = cc.load(name)
    doc = case.__doc__ or ""
    assert "Reported:" in doc and ("https://" in doc), "the docstring cites the public report"
    assert isinstance(case.FAULT_MODULE, str)
    assert callable(case.build) and callable(case.build_clean)
    assert len(cc.dtypes(case)) == len(cc.specs(case))


@pytest.mark.parametrize("name", NAMES)
def test_eager_pytorch_refuses_the_faulty_model_and_runs_the_twin(name):
    case = cc.load(name)
    assert cc.eager_error(case, case.build) is not None, "the faulty model runs in eager PyTorch"
    assert cc.eager_error(case, case.build_clean) is None


@pytest.mark.parametrize("name", _marked(NAMES, KNOWN_MISSES))
def test_convlint_reports_an_error_on_the_faulty_module(name):
    case = cc.load(name)
    findings = cc.lint(case, case.build).findings
    assert cc.classify(findings, case.FAULT_MODULE) == cc.FOUND, [cc.describe(f) for f in findings]


# Errors the replay of the layer alone cannot confirm, and why (they stay errors, marked unverifiable).
UNCONFIRMABLE = {
    "view_after_transpose": "the fault is the input's strides (a transposed view); the replay feeds a fresh "
                            "contiguous tensor, which view accepts",
}


@pytest.mark.parametrize("name", _marked([n for n in NAMES if n not in KNOWN_MISSES], UNCONFIRMABLE))
def test_the_error_is_confirmed_by_pytorch(name):
    """Verified as the CLI verifies by default: the error on the faulty module is replayed in PyTorch, alone, and
    PyTorch refuses it."""
    case = cc.load(name)
    errors = [f for f in cc.lint(case, case.build, verify=True).findings
              if f.severity == "error" and cc.on_module(f, case.FAULT_MODULE)]
    assert errors, "no error on the faulty module"
    assert any(f.verification.status == "confirmed" and f.verification.runtime == "PyTorch" for f in errors), \
        [(f.rule, f.verification.line()) for f in errors]


@pytest.mark.parametrize("name", _marked(NAMES, KNOWN_FALSE_ERRORS))
def test_convlint_reports_no_error_on_the_clean_twin(name):
    case = cc.load(name)
    errors = [cc.describe(f) for f in cc.lint(case, case.build_clean).findings if f.severity == "error"]
    assert errors == []


def test_recall_bench_reports_a_case(capsys):
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(cc.CORPUS), os.pardir, "bench", "corpus_recall.py")
    spec = importlib.util.spec_from_file_location("corpus_recall", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    names = ["bn2d_after_linear", "bigru_h0_directions"]
    assert bench.main(["--json", *names]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert [c["case"] for c in out["cases"]] == names
    found = [c["outcome"] == cc.FOUND for c in out["cases"]]
    assert found == [n not in KNOWN_MISSES for n in names]
    assert out["totals"]["cases"] == 2 and out["totals"]["recall"] == sum(found) / 2
    assert out["totals"]["clean_twins_with_errors"] == sum(n in KNOWN_FALSE_ERRORS for n in names)
