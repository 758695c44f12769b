"""Element types after float16 conversion and quantization (CL800): real conversions by onnxconverter-common's
float16 converter and onnxruntime's quantizer, and the hand edits public reports describe. For each faulty model,
onnxruntime refuses the session and convlint reports the node, with the types and where each came from,
confirmed by onnxruntime's replay of that node alone; the clean conversions are clean."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx_sessions import lint_saved, session_error

float16 = pytest.importorskip("onnxconverter_common.float16")


def _attention_like():
    """A float32 model of what conversions trip on: a Conv, a Resize with its scales, a mask added before a
    Softmax."""
    rng = np.random.default_rng(0)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    inits = [numpy_helper.from_array(rng.random((4, 3, 3, 3), dtype=np.float32), "conv_w"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "up_scales"),
             numpy_helper.from_array(np.full((1, 4, 16, 16), -1e4, np.float32), "mask")]
    nodes = [helper.make_node("Conv", ["x", "conv_w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Resize", ["c", "", "up_scales"], ["r"], name="up", mode="nearest"),
             helper.make_node("Add", ["r", "mask"], ["m"], name="mask_add"),
             helper.make_node("Softmax", ["m"], ["y"], name="softmax", axis=-1)]
    graph = helper.make_graph(nodes, "g", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _without_io_cast(model, name: str):
    """``model`` without the Cast that keep_io_types put at the graph input or output ``name`` (a hand edit)."""
    nodes = model.graph.node
    cast = next(n for n in nodes if n.op_type == "Cast" and name in (n.input[0], n.output[0]))
    inner = cast.output[0] if cast.input[0] == name else cast.input[0]
    for n in nodes:
        n.input[:] = [name if i == inner else i for i in n.input]
        n.output[:] = [name if o == inner else o for o in n.output]
    nodes.remove(cast)
    return model


def _types(report):
    return [f for f in report.findings if f.rule == "CL800"]


@pytest.mark.parametrize("options", [{}, {"keep_io_types": True}, {"keep_io_types": True, "op_block_list": ["Resize"]}],
                         ids=["default", "keep_io_types", "block_list_with_resize"])
def test_clean_conversions_are_clean(options, tmp_path):
    converted = float16.convert_float_to_float16(_attention_like(), **options)
    assert session_error(converted) is None
    assert [f for f in lint_saved(converted, tmp_path).findings if f.severity == "error"] == []


def test_a_block_list_that_leaves_resize_out_converts_its_scales(tmp_path):
    # onnxconverter-common#306 (and onnxruntime#1760, #8327): a block list of one's own replaces the default one,
    # which kept Resize in float32; its scales become float16, which Resize does not take
    converted = float16.convert_float_to_float16(_attention_like(), op_block_list=["Softmax"])
    assert "of input parameter (up_scales) of operator (Resize)" in session_error(converted)
    [f] = _types(lint_saved(converted, tmp_path))
    assert f.node == "up" and f.severity == "error"
    assert f.message == "Resize 'up' takes float32 for its input 'scales', but initializer 'up_scales' is float16"
    assert f.verification.status == "confirmed" and "up_scales" in f.verification.message


def test_an_initializer_left_in_float32_meets_a_converted_value(tmp_path):
    # onnxruntime#11119 (a T5 decoder converted to float16): "Type parameter (T) of Optype (Add) bound to different
    # types (tensor(float16) and tensor(float)": one input of the Add float16, the other float32
    converted = float16.convert_float_to_float16(_attention_like(), keep_io_types=True)
    mask = next(t for t in converted.graph.initializer if t.name == "mask")
    mask.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(mask).astype(np.float32), "mask"))
    assert "bound to different types" in session_error(converted)
    [f] = _types(lint_saved(converted, tmp_path))
    assert f.node == "mask_add"
    assert f.message == ("Add 'mask_add' binds its type T (A, B) to float16 from Cast 'up_output_cast0' and float32 "
                         "from initializer 'mask': one type is needed")
    assert f.hint.startswith("convert it to float16: initializer 'mask'")
    assert f.verification.status == "confirmed"


def test_a_graph_input_kept_in_float32_without_its_cast(tmp_path):
    # keep_io_types keeps the input float32 and casts it; a hand edit that drops the Cast feeds it to float16 weights
    converted = _without_io_cast(float16.convert_float_to_float16(_attention_like(), keep_io_types=True), "x")
    assert "bound to different types" in session_error(converted)
    [f] = _types(lint_saved(converted, tmp_path))
    assert f.node == "conv" and "float32 from graph input 'x'" in f.message and "float16 from initializer" in f.message


def test_a_dequantize_with_a_zero_point_of_another_type(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.UINT8, [4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    inits = [numpy_helper.from_array(np.array(0.1, np.float32), "scale"),
             numpy_helper.from_array(np.array(0, np.int8), "zero_point")]
    node = helper.make_node("DequantizeLinear", ["x", "scale", "zero_point"], ["y"], name="dq")
    model = helper.make_model(helper.make_graph([node], "g", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    assert session_error(model) is not None
    [f] = _types(lint_saved(model, tmp_path))
    assert f.node == "dq" and "uint8 from graph input 'x' and int8 from initializer 'zero_point'" in f.message


def test_a_quantized_model_from_onnxruntime_is_clean(tmp_path):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    inits = [numpy_helper.from_array(rng.random((16, 8), dtype=np.float32), "w"),
             numpy_helper.from_array(rng.random(8, dtype=np.float32), "b")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="fc"), helper.make_node("Add", ["h", "b"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, str(tmp_path / "fp32.onnx"))
    quantize_dynamic(str(tmp_path / "fp32.onnx"), str(tmp_path / "int8.onnx"), weight_type=QuantType.QInt8)
    quantized = onnx.load(str(tmp_path / "int8.onnx"))
    assert session_error(quantized) is None
    assert [f for f in lint_saved(quantized, tmp_path).findings if f.severity == "error"] == []


def test_where_takes_a_boolean_condition(tmp_path):
    c = helper.make_tensor_value_info("c", TensorProto.FLOAT, [2, 3])
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    model = helper.make_model(helper.make_graph([helper.make_node("Where", ["c", "a", "a"], ["y"], name="pick")], "g",
                                                [c, a], [y]), opset_imports=[helper.make_opsetid("", 17)],
                              ir_version=8)
    assert session_error(model) is not None
    [f] = _types(lint_saved(model, tmp_path))
    assert f.message == "Where 'pick' takes bool for its input 'condition', but graph input 'c' is float32"


def test_a_mask_value_float16_cannot_hold_turns_softmax_into_nan(tmp_path):
    # a float32 mask value of -1e9 cast to float16 in an exported half-precision model: -inf, and the Softmax of a
    # row masked whole is NaN (huggingface/transformers uses torch.finfo(dtype).min for this reason)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT16, [2, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT16, [2, 4])
    nodes = [helper.make_node("Constant", [], ["c"], name="mask_value",
                              value=numpy_helper.from_array(np.array(-1e9, np.float32))),
             helper.make_node("Cast", ["c"], ["h"], name="mask_to_half", to=TensorProto.FLOAT16),
             helper.make_node("Add", ["x", "h"], ["s"], name="masked"),
             helper.make_node("Softmax", ["s"], ["y"], name="softmax")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)],
                              ir_version=8)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert np.isnan(session.run(None, {"x": np.zeros((2, 4), np.float16)})[0]).all()
    [f] = [f for f in lint_saved(model, tmp_path).findings if f.rule == "CL801"]
    assert (f.node, f.severity) == ("mask_to_half", "warning")
    assert f.message == ("Cast 'mask_to_half' turns 'c' (float32, -1e+09) into float16, whose largest value is 65504: "
                         "-1e+09 becomes -inf; Softmax 'softmax' after it then gives NaN where it meets it (a row "
                         "masked whole)")
    # verified by running the Cast, the Add and the Softmax in onnxruntime on a witness
    assert (f.verification.status, f.verification.message) == ("confirmed", "NaN in 'y' (inf in 'h', 's')")
    assert f.verification.line().startswith("confirmed — onnxruntime runs these 3 layers on input (2, 4) and returns")
    clamped = float16.convert_float_to_float16(_attention_like())  # the converter clamps to ±1e4: nothing to say
    assert [f for f in lint_saved(clamped, tmp_path).findings if f.rule == "CL801"] == []


def test_static_per_channel_quantization_and_a_scale_on_the_wrong_axis(tmp_path):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": np.random.default_rng(i).random((1, 3, 8, 8), dtype=np.float32)}
                                 for i in range(2)])

        def get_next(self):
            return next(self.batches, None)

    rng = np.random.default_rng(0)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1])
    model = helper.make_model(helper.make_graph([conv], "g", [x], [y],
                                                [numpy_helper.from_array(rng.random((8, 3, 3, 3), dtype=np.float32),
                                                                         "w")]),
                              opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, str(tmp_path / "fp32.onnx"))
    quantize_static(str(tmp_path / "fp32.onnx"), str(tmp_path / "qdq.onnx"), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True)
    quantized = onnx.load(str(tmp_path / "qdq.onnx"))
    assert session_error(quantized) is None
    assert [f for f in lint_saved(quantized, tmp_path).findings if f.severity == "error"] == []
    # a hand edit that moves the weight's per-channel scales to axis 1 (3 input channels for 8 scales)
    dq = next(n for n in quantized.graph.node if n.op_type == "DequantizeLinear" and len(
        [a for a in n.attribute if a.name == "axis"]))
    next(a for a in dq.attribute if a.name == "axis").i = 1
    [f] = [f for f in lint_saved(quantized, tmp_path).findings if f.rule == "CL802"]
    assert f.node == dq.name and "along axis 1, which has 3 channels, but scale" in f.message and "holds 8" in f.message
    assert f.verification.status == "confirmed"


def test_an_output_kept_float32_whose_cast_was_removed(tmp_path):
    # keep_io_types declares the output float32 and casts to it; without the Cast the Softmax makes float16
    converted = _without_io_cast(float16.convert_float_to_float16(_attention_like(), keep_io_types=True), "y")
    assert "does not match expected type" in session_error(converted) or \
        "Type Error" in session_error(converted)
    [f] = [f for f in lint_saved(converted, tmp_path).findings if f.rule == "CL803"]
    assert (f.node, f.severity) == ("softmax", "error")
    assert f.message == "graph output 'y' is declared float32, but Softmax 'softmax' makes float16"
    assert f.verification.status == "confirmed" and "tensor(float)" in f.verification.message


@pytest.mark.parametrize("name", ["resnet", "mobilenet_v2", "vgg", "gpt"])
def test_float16_conversions_of_the_exported_models_are_clean(name, tmp_path):
    """The models the other tests export (tests/torch_models.py), converted to float16 as the converter does it
    right (keep_io_types): onnxruntime loads them, and convlint finds no error in them."""
    torch = pytest.importorskip("torch")
    import torch_models as tm

    case = tm.CASES[name]
    torch.manual_seed(0)
    path = tm.export(case, tmp_path / f"{name}.onnx", "torchscript")
    converted = float16.convert_float_to_float16(onnx.load(path), keep_io_types=True)
    assert session_error(converted) is None
    assert [f.message for f in lint_saved(converted, tmp_path).findings if f.severity == "error"] == []


def test_a_cast_to_float32_the_converter_leaves_in_attention(tmp_path):
    # onnxconverter-common#320 (open; also #331, onnxruntime#2974): nn.TransformerEncoder's export computes the
    # attention scale with a Cast to float32; the converter declares the Cast's output float16 and keeps its `to`
    torch = pytest.importorskip("torch")
    import torch_models as tm

    torch.manual_seed(0)
    path = tm.export(tm.CASES["transformer_encoder"], tmp_path / "encoder.onnx", "torchscript")
    converted = float16.convert_float_to_float16(onnx.load(path), keep_io_types=True)
    assert "does not match expected type (tensor(float))" in session_error(converted)
    findings = [f for f in lint_saved(converted, tmp_path).findings if f.severity == "error"]
    assert {f.rule for f in findings} == {"CL803"}  # the Casts themselves, not what follows from them
    casts = [n.name for n in converted.graph.node if n.op_type == "Cast" and n.attribute[0].i == 1
             and "self_attn" in n.name]
    assert sorted(f.node for f in findings) == sorted(casts) and len(casts) == 4
    assert all(f.message.endswith("is declared float16, but Cast '" + f.node + "' makes float32 (its `to`)")
               for f in findings)
    assert "onnxconverter-common#320" in findings[0].hint
    assert all(f.verification.status == "confirmed" for f in findings)  # each Cast alone, its output float16
