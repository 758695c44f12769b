"""Shape results shared by the nodes of one signature (:mod:`convlint.shapes.signatures`) are exactly the results each
node gets on its own: every value's shape, element type and contents are compared, propagation with reuse and
without, over graphs where nodes share signatures (a generated ResNet-style net, every rule example, every ONNX
fixture) and over built cases where they nearly do (same shapes, other contents)."""

from __future__ import annotations

import glob
import os
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from convlint.checking import registry
from convlint.examples import model_from_text
from convlint.frontends import load_graph
from convlint.shapes.propagate import Propagation

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "bench"))
import models  # noqa: E402  (bench/models.py: the benchmark's generated conv nets)


def _propagated(path, reuse):
    graph = load_graph(path)
    prop = Propagation(graph, reuse)
    prop.propagate(graph)
    return graph, prop


def _values(graph) -> dict:
    out = {}
    for name, v in graph.values.items():
        data = None if v.data is None else (np.asarray(v.data).dtype.str, np.asarray(v.data).tolist())
        out[name] = (v.shape, v.dtype, data)
    for node in graph.nodes:
        for key, sub in node.subgraphs.items():
            out.update({f"{node.name}/{key}/{k}": a for k, a in _values(sub).items()})
    return out


def _same_with_and_without(path):
    plain, _ = _propagated(path, reuse=False)
    shared, prop = _propagated(path, reuse=True)
    assert _values(shared) == _values(plain)
    assert shared.shape_errors == plain.shape_errors
    return prop.signatures


def _example_texts():
    for code, rule in registry.load().rules.items():
        for kind in ("VALID", "INVALID"):
            for i, text in enumerate(getattr(rule, kind)):
                if isinstance(text, str):
                    yield pytest.param(text, id=f"{code}-{kind.lower()}-{i}")


def test_a_generated_net_shares_nearly_every_result(tmp_path):
    path = models.write(str(tmp_path / "net.onnx"), 600, 4)
    found = _same_with_and_without(path)
    assert found.hits > 0.9 * (found.hits + found.misses)


@pytest.mark.parametrize("text", list(_example_texts()))
def test_rule_examples_propagate_alike(text, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(model_from_text(text), path)
    _same_with_and_without(str(path))


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "fixtures", "onnx", "*.onnx"))),
                         ids=os.path.basename)
def test_fixtures_propagate_alike(path):
    _same_with_and_without(path)


def _save(tmp_path, nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = str(tmp_path / "m.onnx")
    onnx.save(model, path)
    return path


def test_targets_read_from_initializers_are_not_shared(tmp_path):
    # two Reshapes of one input, their targets initializers of one shape and type but other contents
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 12])
    ys = [helper.make_tensor_value_info(y, TensorProto.FLOAT, None) for y in ("a", "b")]
    targets = [helper.make_tensor("s1", TensorProto.INT64, [3], [0, 3, 4]),
               helper.make_tensor("s2", TensorProto.INT64, [3], [0, 6, 2])]
    nodes = [helper.make_node("Reshape", ["x", "s1"], ["a"]), helper.make_node("Reshape", ["x", "s2"], ["b"])]
    path = _save(tmp_path, nodes, [x], ys, targets)
    _same_with_and_without(path)
    graph, _ = _propagated(path, reuse=True)
    assert graph.values["a"].shape[1:] == (3, 4) and graph.values["b"].shape[1:] == (6, 2)


def test_computed_contents_are_part_of_the_signature(tmp_path):
    # Shape -> Gather(0) and Gather(1): same shapes and types, other index contents, other results
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T", 8])
    outs = [helper.make_tensor_value_info(y, TensorProto.FLOAT, None) for y in ("a", "b")]
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Constant", [], ["i0"], value=helper.make_tensor("v0", TensorProto.INT64, [1], [0])),
             helper.make_node("Constant", [], ["i1"], value=helper.make_tensor("v1", TensorProto.INT64, [1], [1])),
             helper.make_node("Gather", ["s", "i0"], ["n"]), helper.make_node("Gather", ["s", "i1"], ["t"]),
             helper.make_node("Concat", ["n", "t"], ["nt"], axis=0),
             helper.make_node("Concat", ["t", "n"], ["tn"], axis=0),
             helper.make_node("Constant", [], ["e"], value=helper.make_tensor("v2", TensorProto.INT64, [1], [8])),
             helper.make_node("Concat", ["nt", "e"], ["s1"], axis=0),
             helper.make_node("Concat", ["tn", "e"], ["s2"], axis=0),
             helper.make_node("Reshape", ["x", "s1"], ["a"]), helper.make_node("Reshape", ["x", "s2"], ["b"])]
    path = _save(tmp_path, nodes, [x], outs)
    _same_with_and_without(path)
    graph, _ = _propagated(path, reuse=True)
    assert [str(d) for d in graph.values["a"].shape] == ["N", "T", "8"]
    assert [str(d) for d in graph.values["b"].shape] == ["T", "N", "8"]


def test_weights_of_one_shape_share_a_convolution_result(tmp_path):
    # the weights differ in contents, not shape: the Conv's shape function never reads them, so they stay unread
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    weights = [helper.make_tensor(f"w{i}", TensorProto.FLOAT, [4, 4, 3, 3], np.full(144, i, np.float32))
               for i in range(3)]
    nodes = [helper.make_node("Conv", [a, f"w{i}"], [b], pads=[1, 1, 1, 1])
             for i, (a, b) in enumerate((("x", "c0"), ("c0", "c1"), ("c1", "y")))]
    path = _save(tmp_path, nodes, [x], [y], weights)
    found = _same_with_and_without(path)
    assert found.hits == 2
    graph, _ = _propagated(path, reuse=True)
    assert all(graph.values[f"w{i}"].unread for i in range(3))  # never read
