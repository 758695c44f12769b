"""What the tests of converted and quantized ONNX models share: onnxruntime's word on a model, and convlint's
report on it saved as a file (as a user lints it)."""

from __future__ import annotations

import onnx
import onnxruntime as ort

import convlint


def session_error(model):
    """What onnxruntime says when it makes a session for ``model`` (a ModelProto); None if it makes one."""
    try:
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as e:
        return str(e)
    return None


def lint_saved(model, folder):
    """convlint's report on ``model`` saved as ``folder``/model.onnx; fails the test on an input error."""
    path = folder / "model.onnx"
    onnx.save(model, str(path))
    report = convlint.lint(str(path))
    assert not report.input_errors, report.input_errors
    return report
