"""Witness sizes: the smallest values of the model's symbols that let an input reach the flagged layer validly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from onnx import helper, numpy_helper

import convlint
from convlint.checking import registry
from convlint.examples import model_from_text
from convlint.rule import ERROR
from convlint.verify import CONFIRMED, verify_findings

from differential import EXAMPLES, RUNNER, differential_settings, model, runtime_verdict, static_findings
from test_verify_differential import convolutions

HEADER = '<ir_version: 8, opset_import: ["": 17]>'


def test_witness_is_the_smallest_input_that_survives_the_downsampling():
    # stem 3x3 stride 2, two 2x2 poolings, then a 3x3 head: the head needs 3 positions, so H >= 25.
    report = convlint.lint(model_from_text(HEADER + """
        net (float[N, 3, H, W] image) => (float[N, 4, H2, W2] y) <float[8, 3, 3, 3] stem_w, float[4, 3, 3, 3] head_w> {
            [stem] s = Conv <strides = [2, 2]> (image, stem_w)
            [pool1] p1 = MaxPool <kernel_shape = [2, 2], strides = [2, 2]> (s)
            [pool2] p2 = MaxPool <kernel_shape = [2, 2], strides = [2, 2]> (p1)
            [head] y = Conv (p2, head_w)
        }"""))
    (f,) = report.errors
    assert (f.rule, f.node) == ("CL101", "head")
    v = f.verification
    assert v.status == CONFIRMED
    assert v.witness.symbols == {"N": 1, "H": 25, "W": 25}
    assert v.witness.inputs == {"p2": (1, 8, 3, 3)}


def test_an_axis_that_never_fits_is_left_to_fail_and_the_others_fit():
    # MaxPool 5x3 on height 2 fails for every W; the witness still gives W the 3 positions its window needs.
    text = registry.load().rules["CL106"].INVALID[1]
    report = convlint.lint(model_from_text(text))
    (f,) = report.errors
    assert f.verification.status == CONFIRMED, f.verification.line()
    assert f.verification.witness.symbols == {"N": 1, "W": 3}


SPATIAL = {1: ["L"], 2: ["H", "W"], 3: ["D", "H", "W"]}


@st.composite
def behind_downsampling(draw):
    """A random convolution (as in the differential test) fed through 0-2 poolings or convolutions from a symbolic
    input (N, C, H, W...). Returns (model, names of the prefix nodes' last output)."""
    layer_model = draw(convolutions())
    x = [d.dim_value for d in layer_model.graph.input[0].type.tensor_type.shape.dim]
    rank, channels = len(x) - 2, x[1]
    nodes, inits, source = [], {}, "image"
    for i in range(draw(st.integers(0, 2))):
        op = draw(st.sampled_from(["MaxPool", "AveragePool", "Conv"]))
        kernel = [draw(st.integers(1, 3)) for _ in range(rank)]
        pads = [draw(st.integers(0, k - 1)) for k in kernel] + [draw(st.integers(0, k - 1)) for k in kernel]
        attrs = {"kernel_shape": kernel, "strides": [draw(st.integers(1, 2)) for _ in range(rank)], "pads": pads}
        inputs = [source]
        if op == "Conv":
            inits[f"pre{i}_w"] = [channels, channels] + kernel
            inputs.append(f"pre{i}_w")
        nodes.append(helper.make_node(op, inputs, [f"pre{i}"], name=f"pre{i}", **attrs))
        source = f"pre{i}"
    layer = layer_model.graph.node[0]
    del layer.input[0]
    layer.input.insert(0, source)
    for t in layer_model.graph.initializer:
        inits[t.name] = numpy_helper.to_array(t)
    dims = ["N", channels] + SPATIAL[rank]
    return model(nodes + [layer], {"image": dims}, inits, ["y"]), source


def _at(m, symbols: dict, output: str = None):
    """``m`` with its input's symbols set to ``symbols`` (1 when absent), cut after ``output`` if given."""
    cut = m.__class__()
    cut.CopyFrom(m)
    for d in cut.graph.input[0].type.tensor_type.shape.dim:
        if d.dim_param:
            d.dim_value = symbols.get(d.dim_param, 1)
    if output is not None:
        keep = []
        for node in cut.graph.node:
            keep.append(node)
            if output in node.output:
                break
        del cut.graph.node[:]
        cut.graph.node.extend(keep)
        del cut.graph.output[:]
        cut.graph.output.add().name = output
    return cut


@differential_settings(max(1, EXAMPLES // 8))
@given(behind_downsampling())
def test_every_symbolic_error_is_confirmed_on_a_witness_that_reaches_the_layer(case):
    m, source = case
    graph, findings = static_findings(m, ("CL1",))
    errors = [f for f in findings if f.severity == ERROR]
    verify_findings(graph, errors, runner=RUNNER)
    for f in errors:
        v = f.verification
        assert v.status == CONFIRMED, f"{f.rule} {f.message} -> {v.line()}"
        if source != "image":  # the layers before it run at the witness sizes, and hand it the replayed input
            prefix = _at(m, v.witness.symbols, source)
            assert runtime_verdict(prefix) is None
        assert runtime_verdict(_at(m, v.witness.symbols)) is not None
