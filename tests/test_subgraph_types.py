"""Element types inside control flow after a float16 conversion: `If` branches and `Loop` bodies (CL800 inside a
subgraph, CL804 across it). Each model is converted by onnxconverter-common's float16 converter; the faulty ones then
undo in a subgraph what a converter that does not descend into subgraphs never did, as the cited reports describe.
onnxruntime refuses each faulty session, and convlint names the node, confirmed by onnxruntime's replay of it."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper, parser

from onnx_sessions import lint_saved, session_error

float16 = pytest.importorskip("onnxconverter_common.float16")

# normalize_signal of onnxruntime#6501: `signal / (signal.abs().max(-1) + eps) if signal.numel() > 0 else signal`,
# exported with the condition as an If
NORMALIZE = """<ir_version: 8, opset_import: ["": 17]>
g (float[1, 16] signal) => (float[1, 16] y) {
    n = Size(signal)
    zero = Constant <value = int64 {0}> ()
    c = Greater(n, zero)
    y = If(c) <then_branch = t () => (float[1, 16] a) {
            ab = Abs(signal)
            mx = ReduceMax <axes = [-1], keepdims = 1> (ab)
            eps = Constant <value = float {0.00001}> ()
            den = Add(mx, eps)
            a = Div(signal, den)
        }, else_branch = e () => (float[1, 16] b) { b = Identity(signal) }>
}"""


def _recurrence():
    """A float32 decoder loop as tacotron's (onnxruntime#1212): `h = tanh(h @ W + b)` carried through `n` steps,
    the weights in the body."""
    rng = np.random.default_rng(0)
    body_inits = [numpy_helper.from_array(rng.random((8, 8), dtype=np.float32), "W"),
                  numpy_helper.from_array(rng.random(8, dtype=np.float32), "b")]
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("MatMul", ["h_in", "W"], ["hw"], name="step_matmul"),
         helper.make_node("Add", ["hw", "b"], ["pre"], name="step_add"),
         helper.make_node("Tanh", ["pre"], ["h_out"], name="step_tanh")],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, 8])], body_inits)
    graph = helper.make_graph(
        [helper.make_node("Loop", ["n", "", "h0"], ["h"], name="decoder_loop", body=body)], "g",
        [helper.make_tensor_value_info("n", TensorProto.INT64, []),
         helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 8])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _errors(model, tmp_path):
    return [f for f in lint_saved(model, tmp_path).findings if f.severity == "error"]


def _subgraph(node, name):
    return next(a.g for a in node.attribute if a.name == name)


@pytest.mark.parametrize("keep_io_types", [False, True])
@pytest.mark.parametrize("model", ["normalize", "recurrence"])
def test_conversions_of_models_with_control_flow_are_clean(model, keep_io_types, tmp_path):
    original = parser.parse_model(NORMALIZE) if model == "normalize" else _recurrence()
    converted = float16.convert_float_to_float16(original, keep_io_types=keep_io_types)
    assert session_error(converted) is None
    assert [f.message for f in _errors(converted, tmp_path)] == []


def test_a_branch_constant_the_converter_did_not_reach(tmp_path):
    # onnxruntime#6501: onnxruntime_tools' float16 conversion left the epsilon inside the If branch float32
    converted = float16.convert_float_to_float16(parser.parse_model(NORMALIZE))
    branch = _subgraph(converted.graph.node[-1], "then_branch")
    eps = next(n for n in branch.node if n.output[0] == "eps")
    eps.attribute[0].t.CopyFrom(numpy_helper.from_array(np.array(1e-5, np.float32), "value"))
    assert "bound to different types" in session_error(converted)
    [f] = _errors(converted, tmp_path)
    assert (f.rule, f.node) == ("CL800", "Add -> den")  # unnamed, as the exporter left it
    assert "float16 from ReduceMax" in f.message and "float32 from Constant" in f.message
    assert f.verification.status == "confirmed"


def test_a_loop_body_the_converter_did_not_convert(tmp_path):
    # onnxruntime#1212 and #7981: the main graph converted to float16, the Loop's body left float32
    # ("Tensor element type mismatch. 10 != 1")
    original = _recurrence()
    converted = float16.convert_float_to_float16(_recurrence())
    loop = converted.graph.node[0]
    _subgraph(loop, "body").CopyFrom(_subgraph(original.graph.node[0], "body"))
    assert "element type" in session_error(converted)
    [f] = _errors(converted, tmp_path)
    assert (f.rule, f.node) == ("CL804", loop.name)
    assert f.message == ("Loop 'decoder_loop' carries 'h0' in as float16 (graph input 'h0'), but its body declares "
                         "'h_in' float32: a carried value keeps one type through the iterations")
    assert f.verification.status == "confirmed"


def test_a_branch_converted_alone(tmp_path):
    # one branch of an If returns float16, the other float32: the If has no one output type
    converted = float16.convert_float_to_float16(parser.parse_model(NORMALIZE), keep_io_types=True)
    node = next(n for n in converted.graph.node if n.op_type == "If")
    other = _subgraph(node, "else_branch")
    cast = helper.make_node("Cast", ["signal_as_is"], ["b"], to=TensorProto.FLOAT)
    other.node[0].output[0] = "signal_as_is"
    other.node.append(cast)
    other.output[0].type.tensor_type.elem_type = TensorProto.FLOAT
    assert "Mismatched tensor element type" in session_error(converted)
    [f] = _errors(converted, tmp_path)
    assert (f.rule, f.node) == ("CL804", "If -> _cast_to_y")
    assert "as float16 from its then_branch" in f.message and "as float32 from its else_branch" in f.message
    assert f.verification.status == "confirmed"
