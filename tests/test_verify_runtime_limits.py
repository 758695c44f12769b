"""Layers PyTorch runs but onnxruntime refuses once exported (CL107, CL108): what convlint says about the PyTorch
model, and about the ONNX file each exporter writes from it, checked against PyTorch and onnxruntime themselves."""

from __future__ import annotations

import onnx
import pytest

torch = pytest.importorskip("torch")

import convlint  # noqa: E402
from convlint.rule import ERROR, WARNING  # noqa: E402
from convlint.verify import CONFIRMED  # noqa: E402

import torch_models as tm  # noqa: E402
from conftest import ort_run, torch_run  # noqa: E402


def _deconv_padded_below_the_dilation():
    return torch.nn.ConvTranspose1d(4, 2, 3, stride=1, dilation=2, output_padding=1)


def _dilated_same_conv():
    return torch.nn.Conv1d(4, 2, 3, padding="same", dilation=2)


def _exported(build, exporter, tmp_path):
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    case = tm.Case(build, (torch.randn(1, 4, 9),), {"x": {0: "N", 2: "L"}}, {"y": ("N", 2, "L")})
    return tm.export(case, tmp_path / f"{exporter}.onnx", exporter)


def _rules(findings) -> list:
    return [(f.rule, f.severity) for f in findings]


def test_output_padding_below_the_dilation_runs_in_pytorch_and_is_a_warning():
    assert torch_run(_deconv_padded_below_the_dilation, "N,4,L") is None
    report = convlint.lint(_deconv_padded_below_the_dilation, input_shape="N,4,L")
    assert _rules(report.findings) == [("CL107", WARNING)]
    assert report.findings[0].message == (
        "output_padding (1,) with strides (1,) and dilations (2,) is not within 0 .. stride - 1 on the length axis: "
        "PyTorch runs it, since output_padding stays below the dilation there, but onnxruntime refuses this layer once "
        "exported to ONNX")


@pytest.mark.parametrize("exporter", tm.EXPORTERS)
def test_its_export_is_an_error_onnxruntime_confirms(exporter, tmp_path):
    path = _exported(_deconv_padded_below_the_dilation, exporter, tmp_path)
    assert ort_run(onnx.load(path)) is not None
    report = convlint.lint(path)
    assert _rules(report.findings) == [("CL107", ERROR)]
    assert report.findings[0].verification.status == CONFIRMED


def test_dilated_same_padding_is_not_reported_on_a_pytorch_model():
    assert torch_run(_dilated_same_conv, "N,4,L") is None
    assert convlint.lint(_dilated_same_conv, input_shape="N,4,L").findings == []


@pytest.mark.parametrize("exporter,refused", [("dynamo", False), ("torchscript", True)])
def test_its_export_is_an_error_exactly_when_the_exporter_writes_auto_pad(exporter, refused, tmp_path):
    """The default exporter writes the padding out in ``pads``; the TorchScript one writes a dilated SAME_UPPER."""
    path = _exported(_dilated_same_conv, exporter, tmp_path)
    assert (ort_run(onnx.load(path)) is not None) == refused
    report = convlint.lint(path)
    assert _rules(report.findings) == ([("CL108", ERROR)] if refused else [])
    assert all(f.verification.status == CONFIRMED for f in report.findings)
