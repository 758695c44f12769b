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


_QLINEAR_CONV = """<ir_version: 8, opset_import: ["": 17]>
g (uint8[N, {c}, H, W] x) => (uint8[N, 8, H, W] y)
<float x_scale, uint8 x_zero_point, int8[8, 4, 3, 3] w, float[8] w_scale, int8 w_zero_point, float y_scale,
 uint8 y_zero_point, int32[{m}] bias>
{{ y = QLinearConv <pads = [1, 1, 1, 1]> (x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point,
                                         bias) }}"""
_CONV_INTEGER = """<ir_version: 8, opset_import: ["": 17]>
g (uint8[N, {c}, H, W] x) => (int32[N, 8, H, W] y)
<int8[8, 4, 3, 3] w, uint8 x_zero_point, int8 w_zero_point>
{{ y = ConvInteger <pads = [1, 1, 1, 1]> (x, w, x_zero_point, w_zero_point) }}"""
_QLINEAR_MATMUL = """<ir_version: 8, opset_import: ["": 17]>
g (uint8[N, {k}] a) => (uint8[N, 10] y)
<float a_scale, uint8 a_zero_point, int8[128, 10] b, float b_scale, int8 b_zero_point, float y_scale,
 uint8 y_zero_point>
{{ y = QLinearMatMul (a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point) }}"""
_MATMUL_INTEGER = """<ir_version: 8, opset_import: ["": 17]>
g (uint8[{n}, 5, 16] a) => (int32[{n}, 5, 8] y)
<int8[2, 16, 8] b, uint8 a_zero_point, int8 b_zero_point>
{{ y = MatMulInteger (a, b, a_zero_point, b_zero_point) }}"""


@pytest.mark.parametrize("text, found", [
    (_QLINEAR_CONV.format(c=4, m=8), None),
    (_QLINEAR_CONV.format(c=3, m=8), ("CL101", "error", "input 'x' has 3 channels, but weight 'w' (8, 4, 3, 3) with "
                                                       "group=1 expects 4")),
    (_QLINEAR_CONV.format(c=4, m=6), ("CL103", "error", "bias 'bias' has shape (6,), but the layer has 8 output "
                                                       "channels")),
    (_CONV_INTEGER.format(c=4), None),
    (_CONV_INTEGER.format(c=3), ("CL101", "error", "input 'x' has 3 channels")),
    (_QLINEAR_MATMUL.format(k=128), None),
    (_QLINEAR_MATMUL.format(k=100), ("CL220", "error", "receives 100 features, but its weight 'b' (128, 10) takes "
                                                       "in_features=128")),
    (_MATMUL_INTEGER.format(n=2), None),
    (_MATMUL_INTEGER.format(n="N"), ("CL221", "warning", "they broadcast only when N <= 2")),
], ids=["qlinearconv", "qlinearconv-channels", "qlinearconv-bias", "convinteger", "convinteger-channels",
        "qlinearmatmul", "qlinearmatmul-inner", "matmulinteger", "matmulinteger-batch"])
def test_the_shape_rules_read_the_quantized_ops(text, found, tmp_path):
    """The convolution and matmul rules read a quantized op's weight, bias and B where it keeps them (QLinearConv's
    weight is its fourth input, its bias the ninth; ConvInteger has no bias); each error is onnxruntime's refusal."""
    from convlint.examples import model_from_text

    report = lint_saved(model_from_text(text), tmp_path)
    if found is None:
        assert report.findings == []
        return
    [f] = report.findings
    assert (f.rule, f.severity) == found[:2] and found[2] in f.message
    if f.severity == "error":
        assert f.verification.status == "confirmed"


@pytest.mark.parametrize("shape, accepted", [((), True), ((1,), True), ((10,), True), ((1, 10), True),
                                             ((9,), False), ((10, 1), False), ((2, 10), False)])
def test_the_forms_a_2d_b_takes_are_onnxruntimes(shape, accepted, tmp_path):
    """Per-column parameters of a 2-D ``b``: 1-D, or shaped (1, N), as onnxruntime takes them; anything else it
    refuses, and so does convlint."""
    from convlint.examples import model_from_text

    text = _QLINEAR_MATMUL.format(k=128).replace("float b_scale", f"float{list(shape) if shape else ''} b_scale")
    model = model_from_text(text)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    try:
        session.run(None, {"a": np.zeros((2, 128), np.uint8)})
        ran = True
    except Exception:
        ran = False
    assert ran == accepted
    found = [f for f in lint_saved(model, tmp_path).findings if f.rule == "CL802"]
    assert [f.severity for f in found] == ([] if accepted else ["error"])
    assert all(f.verification.status == "confirmed" for f in found)
