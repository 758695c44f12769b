"""The bundled ONNX fixtures: each yields exactly its expected errors, on the right nodes, and onnxruntime agrees."""

from __future__ import annotations

import filecmp
import os
import sys

import onnx
import pytest

import convlint

from conftest import FIXTURES, ort_run

sys.path.insert(0, FIXTURES)
import build_onnx_fixtures as fx  # noqa: E402


@pytest.mark.parametrize("name", sorted(fx.FIXTURES))
def test_fixture_yields_expected_errors(name):
    path = os.path.join(FIXTURES, "onnx", f"{name}.onnx")
    report = convlint.lint(path)
    got = sorted((f.rule, f.node) for f in report.errors)
    assert got == sorted(fx.FIXTURES[name][1])


@pytest.mark.parametrize("name", sorted(fx.FIXTURES))
def test_fixture_verdict_matches_onnxruntime(name):
    model = onnx.load(os.path.join(FIXTURES, "onnx", f"{name}.onnx"))
    refused = ort_run(model)
    if fx.FIXTURES[name][1]:
        assert refused is not None
    else:
        assert refused is None, refused


def test_fixture_files_are_what_the_script_builds(tmp_path):
    for path in fx.build(str(tmp_path)):
        committed = os.path.join(FIXTURES, "onnx", os.path.basename(path))
        assert filecmp.cmp(path, committed, shallow=False), f"{committed} is stale: run fixtures/build_onnx_fixtures.py"
