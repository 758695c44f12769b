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


def _where_softmax(condition):
    """``Softmax(Where(condition, scores, -inf))``, as GPT-2's export masks its attention scores; ``condition`` is
    a bool constant, or None for one the model computes (a causal mask built from the sequence length)."""
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 4, 4])
    probs = helper.make_tensor_value_info("probs", TensorProto.FLOAT, None)
    inits = [numpy_helper.from_array(np.array(-np.inf, np.float32), "minus_inf")]
    nodes = [helper.make_node("Where", ["keep", "scores", "minus_inf"], ["masked"], name="where"),
             helper.make_node("Softmax", ["masked"], ["probs"], name="softmax", axis=-1)]
    if condition is None:  # keep = the lower triangle of the scores' size: Trilu on ones of Shape(scores)
        nodes[:0] = [helper.make_node("Shape", ["scores"], ["size"], start=1),
                     helper.make_node("ConstantOfShape", ["size"], ["ones"],
                                      value=numpy_helper.from_array(np.array([1], np.bool_))),
                     helper.make_node("Cast", ["ones"], ["ones_i"], to=TensorProto.INT32),
                     helper.make_node("Trilu", ["ones_i"], ["lower"], upper=0),
                     helper.make_node("Cast", ["lower"], ["keep"], to=TensorProto.BOOL)]
    else:
        inits.append(numpy_helper.from_array(condition, "keep"))
    graph = helper.make_graph(nodes, "g", [scores], [probs], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize("condition, nan", [(None, False), (np.tril(np.ones((4, 4), np.bool_)), False),
                                            (np.zeros((4, 4), np.bool_), True)],
                         ids=["computed-causal", "constant-causal", "constant-all-false"])
def test_a_where_mask_makes_nan_only_where_its_condition_always_picks_minus_inf(condition, nan, tmp_path):
    # GPT-2's TorchScript export masks its scores with Where(causal_mask, scores, -inf): a computed condition keeps
    # part of every row, and convlint cannot know which, so it says nothing (it said "every row" before); a constant
    # condition that is False throughout sends -inf to every row
    model = _where_softmax(condition)
    out = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"scores": np.zeros((1, 4, 4), np.float32)})[0]
    assert np.isnan(out).all() == nan and (nan or np.isfinite(out).all())
    path = tmp_path / "where.onnx"
    onnx.save(model, str(path))
    found = _findings(path)
    assert [f.rule for f in found] == (["CL806"] if nan else [])
    if nan:
        assert found[0].verification.status == "confirmed"


def test_a_transformers_gpt2_export_is_silent(tmp_path):
    # the TorchScript export of transformers' GPT-2 masks its attention with Where(causal mask, scores, -inf) in
    # every layer: onnxruntime returns numbers, and convlint says nothing of it
    transformers = pytest.importorskip("transformers")

    class LastHidden(nn.Module):
        def __init__(self):
            super().__init__()
            config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=100, use_cache=False)
            self.model = transformers.GPT2Model(config)

        def forward(self, ids):
            return self.model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state

    torch.manual_seed(0)
    path = str(tmp_path / "gpt2.onnx")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(LastHidden().eval(), (torch.randint(0, 100, (1, 8)),), path, input_names=["ids"],
                          dynamic_axes={"ids": {0: "N", 1: "T"}}, opset_version=17, dynamo=False)
    model = onnx.load(path)
    assert any(n.op_type == "Where" for n in model.graph.node)
    out = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
        None, {"ids": np.arange(12, dtype=np.int64).reshape(2, 6)})[0]
    assert np.isfinite(out).all()
    assert [f.rule for f in _findings(path)] == []
