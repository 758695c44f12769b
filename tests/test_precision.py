"""Constants that hold an infinity and make NaN (CL806), in real half-precision exports: PyTorch's eager model
returns numbers, the exported ONNX model returns NaN in onnxruntime, and convlint names the node, confirmed by
running it in onnxruntime. Intentional infinities that never make NaN (a causal mask) stay silent."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import convlint

torch = pytest.importorskip("torch")
nn = torch.nn


class MaskedAttention(nn.Module):
    """BERT's extended attention mask, `(1 - mask) * fill`, in a model run in half precision (onnxruntime#11384,
    google/flax#982): PyTorch multiplies by the Python scalar in higher precision, the export stores it as a
    float16 constant, and -1e9 is -inf there."""

    def __init__(self, fill: float):
        super().__init__()
        self.q, self.k, self.fill = nn.Linear(8, 8), nn.Linear(8, 8), fill

    def forward(self, x, mask):
        scores = self.q(x) @ self.k(x).transpose(1, 2)
        return torch.softmax(scores + (1.0 - mask[:, None, :]) * self.fill, -1)


def _export_half(fill, path):
    torch.manual_seed(0)
    model = MaskedAttention(fill).half().eval()
    x, mask = torch.randn(2, 5, 8).half(), torch.ones(2, 5).half()
    mask[1, 3:] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x, mask), str(path), opset_version=17, dynamo=False, input_names=["x", "mask"])
    eager = model(x, mask).detach().numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [exported] = session.run(None, {"x": x.numpy(), "mask": mask.numpy()})
    return eager, exported


def _findings(path, rule="CL806"):
    report = convlint.lint(str(path))
    assert not report.input_errors, report.input_errors
    assert report.errors == []
    return [f for f in report.findings if f.rule == rule]


def test_a_mask_fill_of_minus_1e9_exported_in_half_precision(tmp_path):
    path = tmp_path / "attn.onnx"
    eager, exported = _export_half(-1e9, path)
    assert np.isfinite(eager).all() and np.isnan(exported).all()
    [f] = _findings(path)
    mul = next(n for n in onnx.load(str(path)).graph.node if n.op_type == "Mul")
    assert (f.node, f.severity) == (mul.name, "warning")
    assert f.message == (f"Mul {mul.name!r} multiplies Sub '/Sub''s output by the Constant {mul.input[1]!r} "
                         f"(float16), which holds -inf in 1 of its 1 values: the product is NaN wherever that output "
                         f"is 0 (0 × inf)")
    assert "torch.finfo(torch.float16).min" in f.hint
    assert f.verification.status == "confirmed" and "inf in" in f.verification.message


def test_the_fill_transformers_uses_is_clean(tmp_path):
    path = tmp_path / "attn.onnx"
    eager, exported = _export_half(torch.finfo(torch.float16).min, path)
    assert np.isfinite(exported).all()
    assert _findings(path) == []


def _masked_softmax(mask: np.ndarray):
    x = helper.make_tensor_value_info("scores", TensorProto.FLOAT16, [1, 4, 4])
    y = helper.make_tensor_value_info("probs", TensorProto.FLOAT16, [1, 4, 4])
    nodes = [helper.make_node("Add", ["scores", "mask"], ["masked"], name="add_mask"),
             helper.make_node("Softmax", ["masked"], ["probs"], name="softmax", axis=-1)]
    with np.errstate(over="ignore"):  # -1e9 becomes -inf: the fault under test
        half = numpy_helper.from_array(mask.astype(np.float16), "mask")
    graph = helper.make_graph(nodes, "g", [x], [y], [half])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_a_padding_mask_with_whole_rows_at_minus_inf(tmp_path):
    # a key-padding mask saved as a float16 buffer, -1e9 become -inf, with the last query rows masked whole
    mask = np.zeros((4, 4), np.float32)
    mask[:, 3] = -1e9
    mask[2:, :] = -1e9
    model = _masked_softmax(mask)
    out = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"scores": np.zeros((1, 4, 4), np.float16)})[0]
    assert np.isnan(out[0, 2:]).all() and np.isfinite(out[0, :2]).all()
    path = tmp_path / "padding.onnx"
    onnx.save(model, str(path))
    [f] = _findings(path)
    assert f.node == "softmax" and f.message.startswith("Softmax 'softmax' gives NaN on 2 of the 4 rows the mask "
                                                        "covers: initializer 'mask' (float16) is -inf")
    assert f.verification.status == "confirmed" and f.verification.message.startswith("NaN in 'probs'")


def test_a_causal_mask_at_minus_inf_is_intentional(tmp_path):
    # nn.Transformer.generate_square_subsequent_mask: -inf above the diagonal, never a whole row
    mask = np.triu(np.full((4, 4), -np.inf, np.float32), 1)
    model = _masked_softmax(mask)
    out = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"scores": np.zeros((1, 4, 4), np.float16)})[0]
    assert np.isfinite(out).all()
    path = tmp_path / "causal.onnx"
    onnx.save(model, str(path))
    assert _findings(path) == []
