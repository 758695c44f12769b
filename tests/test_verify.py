"""Verification: every error is replayed alone in onnxruntime and comes back confirmed, not reproduced (then it is
lowered to a warning) or unverifiable with the reason; nothing leaks to the terminal and nothing aborts the lint."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import convlint
from convlint.checking import registry
from convlint.checking.engine import run_rules
from convlint.examples import model_from_text
from convlint.frontends.onnx_model import load, load_proto
from convlint.core.ir import Graph, Node, Origin, Value
from convlint.shapes.propagate import propagate
from convlint.rule import ERROR, WARNING, Rule
from convlint.verify import CONFIRMED, GRAPH_FAULT, NOT_REPRODUCED, UNVERIFIABLE, verify_findings, verify_node
from convlint.verify.replay import build
from convlint.verify.runner import CANNOT, Runner, shared

from conftest import FIXTURES, run_cli

sys.path.insert(0, FIXTURES)
import build_onnx_fixtures as fx  # noqa: E402

RULES = registry.load().rules
HEADER = '<ir_version: 8, opset_import: ["": 17]>'


class FlagEveryNode(Rule):
    """## What it does
    Reports every node of the ops it is given as an error, right or wrong: a stand-in for a rule that is wrong."""

    code = "TST900"
    name = "flag-every-node"
    ops = ("Conv", "Relu", "Reshape")

    def check(self, node, ctx):
        yield self.finding(node, "flagged by the test rule")


def _graph(text: str):
    graph = load_proto(model_from_text(text), "<test>")
    propagate(graph)
    return graph


def _flag_all(graph):
    findings = run_rules(graph, [FlagEveryNode()])
    verify_findings(graph, findings)
    return findings


def _error_examples():
    for code, rule in RULES.items():
        if rule.severity != ERROR:
            continue
        for i, text in enumerate(rule.INVALID):
            yield pytest.param(rule, text, id=f"{code}-invalid-{i}")


@pytest.mark.parametrize("rule,text", list(_error_examples()))
def test_every_error_example_is_confirmed(rule, text):
    """Confirmed; only a whole-graph rule that gives no evidence for a replay may be unverifiable, and says why."""
    report = convlint.lint(model_from_text(text))
    mine = [f for f in report.findings if f.rule == rule.code]
    assert mine, [f.message for f in report.findings]
    for f in mine:
        if f.severity != ERROR:  # a rule may report some of its examples at a lower severity
            continue
        v = f.verification
        if f.order == 0 and not (f.evidence.nodes or f.evidence.undefined):
            assert (v.status, v.message) == (UNVERIFIABLE, GRAPH_FAULT)
            continue
        assert v is not None and v.status == CONFIRMED, (f.message, v and v.line())
        assert v.message and v.witness is not None


ONNX_FIXTURES = sorted(f[:-len(".onnx")] for f in os.listdir(os.path.join(FIXTURES, "onnx")) if f.endswith(".onnx"))


def test_every_onnx_fixture_file_has_expectations():
    assert ONNX_FIXTURES == sorted(fx.FIXTURES)


@pytest.mark.parametrize("name", ONNX_FIXTURES)
def test_fixture_errors_are_confirmed_and_clean_ones_are_not_flagged(name):
    """Every file in fixtures/onnx: its expected errors, each confirmed by onnxruntime; none in a clean one."""
    report = convlint.lint(os.path.join(FIXTURES, "onnx", f"{name}.onnx"))
    assert sorted((f.rule, f.node) for f in report.errors) == sorted(fx.FIXTURES[name][1])
    assert [f.verification.status for f in report.errors] == [CONFIRMED] * len(report.errors)
    assert all(f.verification is None for f in report.findings if f.severity != ERROR)


def test_verdict_in_text_and_json_and_nothing_on_stderr():
    seed = "fixtures/onnx/seed_conv_channels.onnx"
    text = run_cli(seed)
    assert text.stderr == ""
    assert ('    confirmed — onnxruntime refuses this layer on input (1, 1, 1, 1) with N=1, H=1, W=1: '
            '"Input channels '
            'C is not equal to kernel channels * group. C: 1 kernel channels: 3 group: 1"\n') in text.stdout
    doc = json.loads(run_cli(seed, "--format", "json").stdout)
    (finding,) = doc["results"][0]["findings"]
    v = finding["verification"]
    assert sorted(v) == ["message", "seconds", "status", "witness"]
    assert v["status"] == "confirmed"
    assert v["witness"] == {"inputs": {"image": [1, 1, 1, 1]}, "symbols": {"N": 1, "H": 1, "W": 1}}
    assert isinstance(v["seconds"], float) and v["seconds"] >= 0


def test_no_verify_skips_the_replay():
    seed = "fixtures/onnx/seed_conv_channels.onnx"
    doc = json.loads(run_cli(seed, "--no-verify", "--format", "json").stdout)
    assert doc["results"][0]["findings"][0]["verification"] is None
    report = convlint.lint(seed, verify=False)
    assert [f.verification for f in report.errors] == [None]


def test_native_log_is_captured_and_keeps_the_users_node_name(capfd):
    graph = _graph(fx.FIXTURES["seed_conv_channels"][0])
    findings = run_rules(graph, [RULES["CL101"]()])
    verify_findings(graph, findings)
    (f,) = findings
    assert f.verification.status == CONFIRMED
    assert "Name:'conv1'" in f.verification.log  # optimizations off: onnxruntime names the user's node
    assert capfd.readouterr().err == ""


def test_an_error_onnxruntime_runs_is_lowered_to_a_warning():
    graph = _graph(HEADER + """
        g (float[N, 3, H, W] x) => (float[N, 4, H2, W2] y) <float[4, 3, 3, 3] w> {
            [ok] y = Conv<pads = [1, 1, 1, 1]>(x, w)
        }""")
    (f,) = _flag_all(graph)
    assert f.verification.status == NOT_REPRODUCED
    assert f.severity == WARNING
    assert f.verification.line() == ("not reproduced — onnxruntime ran this layer on input (1, 3, 1, 1) with N=1, "
                                     "H=1, W=1; reported as a warning, not an error")


def test_contents_the_analysis_knows_are_replayed_with_the_witness_values():
    # Reshape's shape is computed from Shape(x): the analysis knows it as [N, 3, 4 * W], the replay as numbers.
    graph = _graph(HEADER + """
        g (float[N, 3, 4, W] x) => (float[N, 3, HW] y) {
            zero = Constant<value = int64[1] {0}>()
            one = Constant<value = int64[1] {1}>()
            two = Constant<value = int64[1] {2}>()
            three = Constant<value = int64[1] {3}>()
            four = Constant<value = int64[1] {4}>()
            s = Shape(x)
            n = Slice(s, zero, one)
            h = Slice(s, two, three)
            w = Slice(s, three, four)
            hw = Mul(h, w)
            shape = Concat<axis = 0>(n, three, hw)
            [flat] y = Reshape(x, shape)
        }""")
    flat = next(n for n in graph.nodes if n.name == "flat")
    replay = build(flat, graph)
    (shape,) = [t for t in replay.model.graph.initializer if t.name == "shape"]
    assert numpy_helper.to_array(shape).tolist() == [1, 3, 4]
    assert replay.witness.inputs == {"x": (1, 3, 4, 1)}
    (f,) = [f for f in _flag_all(graph) if f.node == "flat"]
    assert f.verification.status == NOT_REPRODUCED, f.verification.line()


def test_external_weights_are_never_read(tmp_path):
    model = model_from_text(fx.FIXTURES["seed_conv_channels"][0])
    path = str(tmp_path / "model.onnx")
    onnx.save(model, path, save_as_external_data=True, location="weights.bin", size_threshold=0)
    graph = load(path)
    os.remove(tmp_path / "weights.bin")  # from here on, reading it would fail
    propagate(graph)
    findings = run_rules(graph, [RULES["CL101"]()])
    verify_findings(graph, findings)
    assert [f.verification.status for f in findings] == [CONFIRMED]


def test_torch_node_described_in_onnx_terms_replays_with_the_modules_tensors():
    x = Value("input", (1, 1, 8, 8), "float32")
    weight = Value("encoder.conv.weight", (4, 3, 3, 3), "float32", is_param=True)
    bias = Value("encoder.conv.bias", (4,), "float32", is_param=True)
    out = Value("encoder.conv:0")
    conv = Node("Conv", "encoder.conv", [x, weight, bias], [out],
                {"group": 1, "pads": [1, 1, 1, 1], "strides": (1, 1), "padding_mode": "zeros"},
                origin=Origin("torch", file="model.py", line=12, module="encoder.conv", module_class="Conv2d"))
    graph = Graph(nodes=[conv], inputs=[x], outputs=[out], opset={"": 17},
                  values={v.name: v for v in (x, weight, bias, out)})
    tensors = {weight: np.ones((4, 3, 3, 3), np.float32)}  # the bias is on the meta device: None
    graph.tensor_data = tensors.get
    propagate(graph)
    findings = run_rules(graph, [RULES["CL101"]()])
    verify_findings(graph, findings)
    (f,) = findings
    assert f.location["module"] == "encoder.conv"
    assert f.verification.status == CONFIRMED, f.verification.line()
    assert "C: 1 kernel channels: 3" in f.verification.message


@pytest.mark.parametrize("build", ["nn.Conv1d(4, 8, 3, padding='same', dilation=2)",
                                   "Functional()"])
def test_pytorch_same_padding_with_dilation_is_described_and_replayed_with_explicit_pads(build):
    """PyTorch runs ``padding="same"`` with a dilation, padding ``dilation * (k - 1)`` in all, the odd one at the end
    (as torch.onnx.export writes it). The front end records those pads: ``auto_pad="SAME_UPPER"`` means another
    padding for a dilated kernel, and onnxruntime refuses it, so a replay of it would make a fault-free layer look
    refused."""
    torch = pytest.importorskip("torch")
    from torch import nn

    from convlint.app import input_shapes
    from convlint.frontends.torch_model import load

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(8, 4, 3))

        def forward(self, x):
            return nn.functional.conv1d(x, self.weight, padding="same", dilation=2)

    model = eval(build, {"nn": nn, "Functional": Functional})
    graph = load(model, input_shapes.coerce("1,4,9"))
    [conv] = [n for n in graph.nodes if n.op == "Conv"]
    assert "auto_pad" not in conv.attrs and conv.attrs["pads"] == [2, 2]
    assert conv.outputs[0].shape == tuple(model(torch.zeros(1, 4, 9)).shape) == (1, 8, 9)
    assert verify_node(conv, graph, shared()).status == NOT_REPRODUCED


def _declared(text):
    def build():
        from torch import nn

        return eval(text, {"nn": nn})
    return build


@pytest.mark.parametrize("layer,pytorch,replayed,said", [
    ("nn.Conv2d(1, 4, 3, groups=2)", "ValueError: in_channels must be divisible by groups",
     "an ONNX Conv with group=2 and weight (4, 1, 3, 3)",
     "Input channels C is not equal to kernel channels * group. C: 1 kernel channels: 1 group: 2"),
    ("nn.Conv1d(2, 3, 5, groups=2)", "ValueError: out_channels must be divisible by groups",
     "an ONNX Conv with group=2 and weight (3, 1, 5)", "Output channels M is not divisible by group. M: 3 group: 2"),
    ("nn.ConvTranspose2d(3, 4, 3, groups=2)", "ValueError: in_channels must be divisible by groups",
     "an ONNX ConvTranspose with group=2 and weight (3, 2, 3, 3)", "C=3 group=2"),
])
def test_a_layer_pytorch_refuses_to_construct_is_constructed_again_and_its_declaration_replayed(layer, pytorch,
                                                                                                replayed, said):
    """PyTorch judges: it constructs the layer again from its declared arguments (on the meta device) and refuses;
    onnxruntime's verdict on the ONNX equivalent of the declaration is the statement about the export."""
    pytest.importorskip("torch")
    report = convlint.lint(_declared(layer), input_shape="N,1,H,W")
    (f,) = report.errors
    assert f.rule == "CL102"
    v = f.verification
    assert (v.status, v.runtime, v.message) == (CONFIRMED, "PyTorch", pytorch), v.line()
    assert v.replayed.startswith(layer.split("(")[0][len("nn."):] + "(in_channels=")
    assert v.line().startswith(f'confirmed — PyTorch refuses to construct the layer as declared, {v.replayed}: '
                               f'"{pytorch}"; onnxruntime refuses its export ({replayed}) too: ')
    assert (v.export.status, v.export.replayed) == (CONFIRMED, replayed)
    assert said in v.export.message
    doc = v.to_json()
    assert (doc["runtime"], doc["replayed"], doc["onnxruntime"]["replayed"]) == ("PyTorch", v.replayed, replayed)


def test_a_declaration_onnx_cannot_express_is_still_judged_by_pytorch():
    pytest.importorskip("torch")
    # ConvTranspose makes W.shape[1] * group output channels: 3 declared ones cannot be split into 2 groups in ONNX.
    report = convlint.lint(_declared("nn.ConvTranspose2d(4, 3, 3, groups=2)"), input_shape="N,4,H,W")
    (f,) = report.errors
    assert (f.rule, f.verification.status, f.verification.message) == \
        ("CL102", CONFIRMED, "ValueError: out_channels must be divisible by groups")
    assert f.verification.export.status == UNVERIFIABLE
    assert "out_channels=3 with groups=2 has no ONNX equivalent" in f.verification.export.message


def test_an_empty_output_pytorch_refuses_is_not_taken_for_a_run():
    # A 5x5 pooling window on 4x4: PyTorch refuses it; onnxruntime returns an empty tensor instead of failing.
    x = Value("input", (1, 1, 4, 4), "float32")
    out = Value("pool:0")
    pool = Node("MaxPool", "pool", [x], [out], {"kernel_shape": [5, 5]},
                origin=Origin("torch", module="pool", module_class="MaxPool2d"))
    graph = Graph(nodes=[pool], inputs=[x], outputs=[out], opset={"": 17}, values={"input": x, "pool:0": out})
    propagate(graph)
    findings = run_rules(graph, [RULES["CL106"]()])
    verify_findings(graph, findings)
    (f,) = findings
    assert (f.severity, f.verification.status) == (ERROR, UNVERIFIABLE)
    assert "empty tensor" in f.verification.message


@pytest.mark.parametrize("domain,op,why", [
    ("com.example", "FancyConv", "custom domain 'com.example'"),
    ("ai.onnx.preview.training", "Adagrad", "training operator"),
])
def test_custom_and_training_ops_are_unverifiable(domain, op, why):
    x = Value("x", (1, 3, 8, 8), "float32")
    node = Node(op, "odd", [x], [Value("y")], domain=domain, origin=Origin("onnx"))
    graph = Graph(nodes=[node], inputs=[x], opset={"": 17, domain: 1})
    v = verify_node(node, graph, shared())
    assert v.status == UNVERIFIABLE and why in v.message


@pytest.mark.parametrize("header,why", [
    ('<ir_version: 8, opset_import: ["": 30]>', "does not load models of IR version 8 with opsets ai.onnx 30"),
    ('<ir_version: 99, opset_import: ["": 17]>', "does not load models of IR version 99"),
])
def test_models_onnxruntime_does_not_load_are_unverifiable(header, why):
    report = convlint.lint(model_from_text(header + """
        g (float[1, 1, 8, 8] x) => (float[1, 4, 6, 6] y) <float[4, 3, 3, 3] w> { y = Conv(x, w) }"""))
    (f,) = report.errors
    assert f.verification.status == UNVERIFIABLE and why in f.verification.message


def test_an_op_without_kernel_at_that_opset_is_unverifiable():
    graph = _graph('<ir_version: 3, opset_import: ["": 5]> g (float[1, 3] x) => (float[1, 3] y) { y = Relu(x) }')
    (f,) = _flag_all(graph)
    assert f.verification.status == UNVERIFIABLE
    assert "no kernel for this layer" in f.verification.message
    assert f.severity == ERROR


def test_huge_dims_are_unverifiable_not_allocated():
    report = convlint.lint(model_from_text(HEADER + """
        g (float[1, 1, 4611686018427387904, 8] x) => (float[1, 4, H2, 6] y) <float[4, 3, 3, 3] w> {
            y = Conv(x, w)
        }"""))
    (f,) = report.errors
    assert f.verification.status == UNVERIFIABLE
    assert "convlint replays layers of up to" in f.verification.message


def test_graph_faults_are_replayed_from_the_rules_evidence():
    # CL003: the replay leaves the value undefined, as the model does; CL004: it replays every node of the cycle.
    report = convlint.lint(onnx.parser.parse_model(HEADER + """
        g (float[1, 3, 8, 8] x) => (float[1, 4, 6, 6] y) <float[4, 3, 3, 3] w> { [conv] y = Conv(x, w_missing) }"""))
    (f,) = [f for f in report.errors if f.rule == "CL003"]
    assert f.verification.status == CONFIRMED and "w_missing" in f.verification.message
    assert f.verification.witness.inputs == {"x": (1, 3, 8, 8)}
    report = convlint.lint(model_from_text(RULES["CL004"].INVALID[0]))
    (f,) = [f for f in report.errors if f.rule == "CL004"]
    assert f.verification.status == CONFIRMED


def test_each_finding_is_replayed_on_its_own_node_even_when_names_repeat():
    # two convolutions called "conv": the first fits its input, the second does not; the error is on the second
    graph = _graph(HEADER + """
        g (float[1, 3, 8, 8] x) => (float[1, 4, 4, 4] z) <float[4, 3, 3, 3] w, float[4, 3, 3, 3] v> {
            [conv] y = Conv(x, w)
            [conv] z = Conv(y, v)
        }""")
    findings = run_rules(graph, [RULES["CL101"]()])
    verify_findings(graph, findings)
    (f,) = findings
    assert f.node_ref is graph.nodes[1]
    assert f.verification.status == CONFIRMED and f.verification.witness.inputs == {"y": (1, 4, 6, 6)}


def test_a_reports_findings_do_not_hold_the_graph():
    report = convlint.lint(model_from_text(RULES["CL101"].INVALID[0]))
    assert report.errors and all(f.node_ref is None for f in report.findings)


class WholeGraphRule(Rule):
    """## What it does
    Reports the first node as an error from a whole-graph check, with no evidence for a replay (a test rule)."""

    code = "TST901"
    name = "whole-graph"

    def check_graph(self, graph, ctx):
        yield self.finding(graph.nodes[0], "the graph as a whole is wrong")


def test_whole_graph_findings_without_evidence_are_unverifiable():
    graph = _graph(fx.FIXTURES["seed_conv_channels_clean"][0])
    findings = run_rules(graph, [WholeGraphRule()])
    verify_findings(graph, findings)
    (f,) = findings
    assert f.verification.status == UNVERIFIABLE
    assert f.verification.message == "the fault lies in how the graph connects this node, which a replay of the " \
                                     "node alone cannot show"


def test_a_broken_front_end_source_does_not_abort_the_lint():
    graph = _graph(HEADER + """
        g (float[1, 1, 32, 32] x) => (float[1, 64, 26, 26] y) <float[64, 3, 7, 7] w> { [big] y = Conv(x, w) }""")

    def broken(value):
        raise RuntimeError("tensor store went away")
    graph.tensor_data = broken  # a weight this large is never read by the analysis, so the replay asks
    findings = run_rules(graph, [RULES["CL101"]()])
    verify_findings(graph, findings)
    (f,) = findings
    assert f.verification.status == UNVERIFIABLE
    assert "bug in convlint" in f.verification.message and "tensor store went away" in f.verification.message
    assert f.severity == ERROR


def test_a_run_over_its_time_limit_is_stopped():
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["acc_in", "one"], ["acc_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1])],
        [helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])])
    loop = helper.make_node("Loop", ["trips", "", "acc"], ["total"], name="forever", body=body)
    graph = helper.make_graph([loop], "g", [helper.make_tensor_value_info("acc", TensorProto.FLOAT, [1])],
                              [onnx.ValueInfoProto(name="total")],
                              [helper.make_tensor("trips", TensorProto.INT64, [], [10**12])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    outcome = Runner(timeout=0.2).run(model, {"acc": np.zeros(1, np.float32)})
    assert outcome.status == CANNOT
    assert outcome.message == "onnxruntime did not finish within the 0.2 s limit"
