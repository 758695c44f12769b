"""Scales and zero points of onnxruntime's quantized ops (CL802 beyond Q/DQ): QLinearConv, QLinearMatMul,
ConvInteger and MatMulInteger, in models made by onnxruntime's own quantizer and in the hand edits after it. Each
faulty model is refused by onnxruntime when it runs; convlint names the node and the parameter, and its replay of
that node alone confirms it. The quantizer's good outputs are clean."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx_sessions import lint_saved

quantization = pytest.importorskip("onnxruntime.quantization")


def _model(nodes, x_shape, inits, opset=17):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [x], [y], [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _conv_then_matmul():
    """A float32 Conv followed by a MatMul on its flattened output: the two ops the quantizer turns into
    QLinearConv/QLinearMatMul (static, QOperator) or ConvInteger/MatMulInteger (dynamic)."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
             helper.make_node("MatMul", ["f", "fc_w"], ["y"], name="fc")]
    return _model(nodes, [2, 3, 4, 4], {"w": rng.standard_normal((8, 3, 3, 3)).astype(np.float32),
                                        "fc_w": rng.standard_normal((128, 10)).astype(np.float32)})


class _Reader(quantization.CalibrationDataReader):
    def __init__(self, shape):
        self.batches = iter([{"x": np.random.default_rng(i).random(shape, dtype=np.float32)} for i in range(2)])

    def get_next(self):
        return next(self.batches, None)


def _run_error(model):
    """What onnxruntime says when it loads and runs ``model`` on zeros; None if it runs."""
    try:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        x = session.get_inputs()[0]
        session.run(None, {x.name: np.zeros(x.shape, np.float32)})
    except Exception as e:
        return str(e)
    return None


def _errors(report):
    return [f for f in report.findings if f.severity == "error"]


def _static(tmp_path, model, shape, per_channel=True):
    onnx.save(model, str(tmp_path / "fp32.onnx"))
    quantization.quantize_static(str(tmp_path / "fp32.onnx"), str(tmp_path / "int8.onnx"), _Reader(shape),
                                 quant_format=quantization.QuantFormat.QOperator, per_channel=per_channel)
    return onnx.load(str(tmp_path / "int8.onnx"))


def _init(model, name):
    return next(t for t in model.graph.initializer if t.name == name)


def _replace(model, name, array):
    _init(model, name).CopyFrom(numpy_helper.from_array(array, name))


def test_dynamic_per_channel_quantization_of_a_batched_matmul_weight(tmp_path):
    # onnxruntime#25489 (open): quantize_dynamic(per_channel=True) on a model with a 3-D MatMul weight gives
    # MatMulInteger a zero point of shape (N,), which onnxruntime refuses for a batched B ("MatmulInteger : b zero
    # point is not valid"); per_channel=False runs
    rng = np.random.default_rng(0)
    model = _model([helper.make_node("MatMul", ["x", "heads"], ["y"], name="/MatMul_1")], [2, 5, 16],
                   {"heads": rng.standard_normal((2, 16, 8)).astype(np.float32)})
    onnx.save(model, str(tmp_path / "fp32.onnx"))
    for per_channel in (True, False):
        out = str(tmp_path / f"int8_{per_channel}.onnx")
        quantization.quantize_dynamic(str(tmp_path / "fp32.onnx"), out, per_channel=per_channel)
        quantized = onnx.load(out)
        matmul = next(n for n in quantized.graph.node if n.op_type == "MatMulInteger")
        if not per_channel:
            assert _run_error(quantized) is None
            assert _errors(lint_saved(quantized, tmp_path)) == []
            continue
        # onnxruntime fuses the MatMulInteger into DynamicQuantizeMatMul, whose words are "b zero point"
        assert "b zero point is not valid" in _run_error(quantized).lower()
        [f] = _errors(lint_saved(quantized, tmp_path))
        assert (f.rule, f.node) == ("CL802", matmul.name)
        assert f.message == (f"MatMulInteger {matmul.name!r} has zero point 'heads_zero_point' (8,) for its input b "
                             f"'heads_quantized' (2, 16, 8), but onnxruntime takes one, or one per column of each of "
                             f"its matrices, shaped (2, 1, 8) (a 1-D tensor only when input b is 2-D)")
        assert f.hint == "give the zero point the shape (2, 1, 8), or one for the whole input b"
        assert f.verification.status == "confirmed" and "B zero point is not valid" in f.verification.message


@pytest.mark.parametrize("per_channel", [True, False])
def test_static_qoperator_quantization_is_clean(per_channel, tmp_path):
    quantized = _static(tmp_path, _conv_then_matmul(), (2, 3, 4, 4), per_channel)
    ops = {n.op_type for n in quantized.graph.node}
    assert {"QLinearConv", "QLinearMatMul"} <= ops
    assert _run_error(quantized) is None
    assert _errors(lint_saved(quantized, tmp_path)) == []


def test_a_qlinearconv_whose_weight_scales_were_cut_to_the_input_channels(tmp_path):
    # a hand edit (pruning the conv's output channels without its scales): 3 scales for 8 output channels
    quantized = _static(tmp_path, _conv_then_matmul(), (2, 3, 4, 4))
    conv = next(n for n in quantized.graph.node if n.op_type == "QLinearConv")
    w_scale = conv.input[4]
    _replace(quantized, w_scale, numpy_helper.to_array(_init(quantized, w_scale))[:3].copy())
    assert "filter scale shape invalid" in _run_error(quantized)
    [f] = _errors(lint_saved(quantized, tmp_path))
    assert (f.rule, f.node) == ("CL802", conv.name)
    assert f.message == (f"QLinearConv {conv.name!r} has scale {w_scale!r} (3,) for its weight {conv.input[3]!r} "
                         f"(8, 3, 3, 3), but onnxruntime takes one, or one per output channel (8) in a 1-D tensor")
    assert f.hint == "give 8 scales (one per output channel), or one"
    assert f.verification.status == "confirmed" and "filter scale shape invalid" in f.verification.message


def test_a_qlinearmatmul_with_per_row_input_scales(tmp_path):
    # the ONNX spec allows one scale per row of a; onnxruntime's CPU kernel takes one for all of a
    quantized = _static(tmp_path, _conv_then_matmul(), (2, 3, 4, 4))
    matmul = next(n for n in quantized.graph.node if n.op_type == "QLinearMatMul")
    scale, zero = (numpy_helper.to_array(_init(quantized, name)) for name in matmul.input[1:3])
    a_scale, a_zero = matmul.input[1], matmul.input[2] = "fc_a_scale", "fc_a_zero_point"  # the conv shares them
    quantized.graph.initializer.extend([numpy_helper.from_array(scale.reshape(1), a_scale),  # one value for all of a
                                        numpy_helper.from_array(zero, a_zero)])
    assert _run_error(quantized) is None and _errors(lint_saved(quantized, tmp_path)) == []
    _replace(quantized, a_scale, np.stack([scale, scale]))
    _replace(quantized, a_zero, np.stack([zero, zero]))
    assert "must be a scalar or 1D tensor of size 1" in _run_error(quantized)
    found = _errors(lint_saved(quantized, tmp_path))
    assert [(f.rule, f.node) for f in found] == [("CL802", matmul.name)] * 2
    assert found[0].message.endswith("but onnxruntime takes one (a scalar or a 1-element tensor) (the ONNX spec "
                                     "allows one per row; onnxruntime does not)")
    assert {f.message.split(" has ")[1].split(" for ")[0] for f in found} == {
        f"scale {a_scale!r} (2,)", f"zero point {a_zero!r} (2,)"}
    assert all(f.verification.status == "confirmed" for f in found)


def test_per_channel_zero_points_in_a_convinteger(tmp_path):
    # quantize_dynamic gives ConvInteger one zero point for the weight, even with per_channel=True (onnxruntime
    # has no per-channel ConvInteger: "Non per-tensor quantization is not supported now"); a hand edit or another
    # quantizer that gives it one per output channel makes a model onnxruntime refuses
    onnx.save(_conv_then_matmul(), str(tmp_path / "fp32.onnx"))
    quantization.quantize_dynamic(str(tmp_path / "fp32.onnx"), str(tmp_path / "int8.onnx"), per_channel=True)
    quantized = onnx.load(str(tmp_path / "int8.onnx"))
    assert _run_error(quantized) is None and _errors(lint_saved(quantized, tmp_path)) == []
    conv = next(n for n in quantized.graph.node if n.op_type == "ConvInteger")
    w_zero = conv.input[3]
    zero = numpy_helper.to_array(_init(quantized, w_zero))
    _replace(quantized, w_zero, np.full(8, zero, zero.dtype))
    assert "Non per-tensor quantization is not supported now" in _run_error(quantized)
    [f] = _errors(lint_saved(quantized, tmp_path))
    assert (f.rule, f.node) == ("CL802", conv.name)
    assert f.message == (f"ConvInteger {conv.name!r} has zero point {w_zero!r} (8,) for its weight {conv.input[1]!r} "
                         f"(8, 3, 3, 3), but onnxruntime takes one (a scalar or a 1-element tensor) (the ONNX spec "
                         f"allows one per output channel; onnxruntime's ConvInteger does not)")
    assert f.verification.status == "confirmed"


def test_a_weight_zero_point_of_another_type_than_the_weight(tmp_path):
    # the zero point's type must be the quantized tensor's (QLinearConv's type variable T2): the schema says so,
    # and CL800 reads it there
    quantized = _static(tmp_path, _conv_then_matmul(), (2, 3, 4, 4))
    conv = next(n for n in quantized.graph.node if n.op_type == "QLinearConv")
    w_zero = conv.input[5]
    zero = numpy_helper.to_array(_init(quantized, w_zero))
    other = np.uint8 if zero.dtype == np.int8 else np.int8
    _replace(quantized, w_zero, zero.astype(other))
    assert _run_error(quantized) is not None
    [f] = _errors(lint_saved(quantized, tmp_path))
    assert (f.rule, f.node) == ("CL800", conv.name) and w_zero in f.message
    assert f.verification.status == "confirmed"
