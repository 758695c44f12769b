"""Nodes onnxruntime's CPU provider has no kernel for (CL805): real PyTorch exports in bfloat16, float16 and float64,
each checked against the session onnxruntime creates or refuses. A bfloat16 model fails to load on the CPU (there is
no bfloat16 arithmetic there, and no cast to float32 as for float16), which a float16 model, cast by onnxruntime's
InsertCastTransformer, does not."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import convlint

torch = pytest.importorskip("torch")
nn = torch.nn


class SLSTMCell(nn.Module):
    """TiRex's sLSTM cell, reduced (onnx/onnx#7393, onnxruntime#26311): the recurrent kernel is cast to bfloat16
    inside forward "because prediction accuracy is better", so its MatMul runs in bfloat16."""

    def __init__(self, hidden: int = 16):
        super().__init__()
        self._recurrent_kernel_ = nn.Parameter(torch.randn(hidden, 4 * hidden))

    def forward(self, x, h):
        recurrent = h.to(torch.bfloat16) @ self._recurrent_kernel_.to(dtype=torch.bfloat16)
        return torch.sigmoid(x + recurrent.float())


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def _export(model, inputs, path) -> onnx.ModelProto:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), inputs, str(path), opset_version=17, dynamo=False)
    return onnx.load(str(path))


def _session_error(path):
    try:
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:
        return str(e)
    return None


def _errors(path):
    report = convlint.lint(str(path))
    assert not report.input_errors, report.input_errors
    return [f for f in report.findings if f.severity == "error"]


def test_a_bfloat16_recurrent_kernel_has_no_cpu_matmul(tmp_path):
    path = tmp_path / "slstm.onnx"
    model = _export(SLSTMCell(), (torch.randn(2, 64), torch.randn(2, 16)), path)
    assert "Could not find an implementation for MatMul(13)" in _session_error(path)
    [f] = _errors(path)
    matmul = next(n.name for n in model.graph.node if n.op_type == "MatMul")
    assert (f.rule, f.node) == ("CL805", matmul)
    assert "for MatMul(13) with T = bfloat16" in f.message and "T = float32, float64" in f.message
    assert f.verification.status == "confirmed" and "MatMul(13)" in f.verification.message


def test_a_whole_model_in_bfloat16_is_reported_once_per_operator(tmp_path):
    path = tmp_path / "bf16.onnx"
    model = _export(Block().to(torch.bfloat16), (torch.randn(1, 3, 8, 8, dtype=torch.bfloat16),), path)
    # Conv's schema has no bfloat16 at opset 17 (a type fault, CL800); the others have no CPU kernel (CL805)
    assert "Type 'tensor(bfloat16)' of input parameter (input) of operator (Conv)" in _session_error(path)
    errors = _errors(path)
    assert [(f.rule, f.op) for f in errors] == [("CL800", "Conv"), ("CL805", "Relu"), ("CL805", "ReduceMean"),
                                                ("CL805", "Gemm")]  # one finding per operator and types
    assert all(f.verification.status == "confirmed" for f in errors)
    # with the Conv kept in float32, as the hint says, onnxruntime stops at the next: Relu
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    for name in conv.input[:1]:
        model.graph.node.insert(0, onnx.helper.make_node("Cast", [name], [name + "_f32"], to=onnx.TensorProto.FLOAT))
    conv.input[0] = conv.input[0] + "_f32"
    for t in model.graph.initializer:
        if t.name in conv.input:
            t.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(t).astype(np.float32), t.name))
    out = conv.output[0]
    conv.output[0] = out + "_f32"
    model.graph.node.insert(list(model.graph.node).index(conv) + 1,
                            onnx.helper.make_node("Cast", [out + "_f32"], [out], to=onnx.TensorProto.BFLOAT16))
    onnx.save(model, str(path))
    assert "Could not find an implementation for Relu(14)" in _session_error(path)
    assert [(f.rule, f.op) for f in _errors(path)] == [("CL805", "Relu"), ("CL805", "ReduceMean"), ("CL805", "Gemm")]


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_float32_and_float16_models_have_their_kernels(dtype, tmp_path):
    # float16 nodes without a CPU kernel (Conv, ReduceMean) run cast to float32: onnxruntime loads the model
    path = tmp_path / f"{dtype}.onnx"
    t = getattr(torch, dtype)
    _export(Block().to(t), (torch.randn(1, 3, 8, 8, dtype=t),), path)
    assert _session_error(path) is None
    assert [f.message for f in _errors(path)] == []
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [out] = session.run(None, {session.get_inputs()[0].name: np.zeros((1, 3, 8, 8), dtype)})
    assert out.shape == (1, 4)


def test_a_double_convolution(tmp_path):
    # a model left in float64 (`model.double()`): the CPU provider's Conv is float32 only
    path = tmp_path / "double.onnx"
    _export(Block().double(), (torch.randn(1, 3, 8, 8, dtype=torch.float64),), path)
    assert "Could not find an implementation for Conv(11)" in _session_error(path)
    errors = _errors(path)
    assert [f.op for f in errors] == ["Conv"] and errors[0].rule == "CL805"
    assert "T = float64" in errors[0].message and errors[0].verification.status == "confirmed"
