"""The PyTorch fixtures (fixtures/torch/*.py): each yields exactly its expected findings, on the right module path
and source line, in one run, through the API and the CLI alike; and eager PyTorch agrees on which ones fail."""

from __future__ import annotations

import importlib.util
import json
import os

import click
import pytest

pytest.importorskip("torch")

import convlint  # noqa: E402

from conftest import FIXTURES, run_cli, torch_run  # noqa: E402

FOLDER = os.path.join(FIXTURES, "torch")
NAMES = sorted(f[:-3] for f in os.listdir(FOLDER) if f.endswith(".py") and not f.startswith("_"))


def fixture(name):
    spec = importlib.util.spec_from_file_location(f"_torch_fixture_{name}", os.path.join(FOLDER, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def target(name) -> str:
    return f"fixtures/torch/{name}.py:build"


def found(findings) -> list:
    return sorted((f["rule"], f["severity"], f["location"].get("module")) for f in findings)


def expected(name) -> list:
    return sorted(fixture(name).EXPECTED)


@pytest.mark.parametrize("name", NAMES)
def test_api_yields_expected_findings(name, monkeypatch):
    from conftest import ROOT

    monkeypatch.chdir(ROOT)
    report = convlint.lint(target(name), input_shape=fixture(name).INPUT_SHAPE, verify=False)
    assert not report.input_errors, report.input_errors
    assert found(f.to_json() for f in report.findings) == expected(name)


@pytest.fixture(scope="module")
def cli_results():
    """One CLI run per input shape (each run pays for importing torch once), JSON results by target."""
    by_shape = {}
    for name in NAMES:
        by_shape.setdefault(fixture(name).INPUT_SHAPE, []).append(name)
    out = {}
    for shape, names in by_shape.items():
        proc = run_cli(*[target(n) for n in names], "--input-shape", shape, "--format", "json")
        assert proc.stderr == ""
        assert proc.returncode == (1 if any(e[1] == "error" for n in names for e in expected(n)) else 0)
        out.update({r["target"]: r for r in json.loads(proc.stdout)["results"]})
    return out


@pytest.mark.parametrize("name", NAMES)
def test_cli_yields_the_same_findings(name, cli_results):
    result = cli_results[target(name)]
    assert result["error"] is None
    assert found(result["findings"]) == expected(name)


@pytest.mark.parametrize("name", NAMES)
def test_every_error_is_confirmed_by_pytorch(name, cli_results):
    """The CLI verifies by default: each error of an invalid fixture comes back confirmed by PyTorch, with PyTorch's
    words and the input it ran on (or the declaration it constructed again), and onnxruntime's word on the export
    beside it; a clean fixture has no error at all."""
    errors = [f for f in cli_results[target(name)]["findings"] if f["severity"] == "error"]
    assert len(errors) == sum(e[1] == "error" for e in expected(name))
    for f in errors:
        v = f["verification"]
        assert (v["status"], v["runtime"]) == ("confirmed", "PyTorch"), (f["rule"], f["message"], v)
        assert v["message"] and (v["witness"]["inputs"] if v["witness"] else v["replayed"]), v
        assert v["onnxruntime"]["status"] in ("confirmed", "not reproduced", "unverifiable"), v
        assert v["onnxruntime"]["message"] or v["onnxruntime"]["status"] == "not reproduced", v


@pytest.mark.parametrize("name", NAMES)
def test_pytorch_agrees(name):
    mod = fixture(name)
    refused = torch_run(mod.build, mod.INPUT_SHAPE)
    if any(e[1] == "error" for e in mod.EXPECTED):
        assert refused is not None
    else:
        assert refused is None, refused


def _line_of(name, text) -> int:
    with open(os.path.join(FOLDER, f"{name}.py")) as f:
        return next(i for i, line in enumerate(f, start=1) if text in line)


def test_question_is_answered_at_the_layer_that_builds_it(monkeypatch):
    from conftest import ROOT

    monkeypatch.chdir(ROOT)
    report = convlint.lint(target("replaced_weight"), input_shape=("N", 1, "H", "W"), verify=False)
    by_rule = {f.rule: f for f in report.findings}
    line = _line_of("replaced_weight", "nn.Conv2d(1, 4, 3)")
    for f in report.findings:
        assert f.location == {"file": "fixtures/torch/replaced_weight.py", "line": line, "module": "features.0",
                              "class": "Conv2d", "node": "features.0"}
    assert by_rule["CL110"].message == ("weight was replaced — declared in_channels=1, but weight (4, 3, 3, 3) with "
                                        "groups=1 expects 3 input channels; the input here has 1")
    assert "input 'x' has 1 channel" in by_rule["CL101"].message


def test_construction_refusal_is_a_finding_not_a_traceback(monkeypatch, cli_results):
    from conftest import ROOT
    from convlint.reports import text_format

    monkeypatch.chdir(ROOT)
    report = convlint.lint(target("grouped_conv"), input_shape="N,1,H,W", verify=False)
    text = click.unstyle(text_format.render(report))
    line = _line_of("grouped_conv", "nn.Conv2d(1, 4, 3, groups=2)")
    assert (f"fixtures/torch/grouped_conv.py:{line}: features.0 (Conv2d): CL102 error: declared in_channels=1 is not "
            f"divisible by groups=2") in text
    assert cli_results[target("grouped_conv")]["findings"][0]["location"]["line"] == line
