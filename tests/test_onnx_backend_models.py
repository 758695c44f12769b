"""Every model that ships inside the installed onnx package (``onnx/backend/test/data``): convlint reads each one
without an error finding or a crash of a shape function, and every shape it propagates agrees with onnxruntime.

Most of these models are opset 6, which onnxruntime no longer runs; for the comparison they are converted to opset 7
with onnx's version converter (value names are kept), while convlint reads the original.
"""

from __future__ import annotations

import glob
import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper, version_converter

import convlint

from shape_oracle import Comparison, compare, propagated, run_all, sizes_from_feeds

DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
MODELS = sorted(os.path.relpath(p, DATA) for p in glob.glob(os.path.join(DATA, "**", "*.onnx"), recursive=True))

# Models with values convlint leaves unknown, as it should: sizes that depend on the data (StringNormalizer drops
# stopwords; an Expand whose target shape is a graph input), and the outputs of an op of a non-standard domain.
NOT_FULLY_KNOWN = {"test_strnorm_model", "test_expand_shape_model", "test_gradient_of_add"}


def test_the_onnx_package_ships_models():
    assert len(MODELS) > 100, DATA


@pytest.mark.parametrize("rel", MODELS)
def test_backend_model_lints_without_errors(rel):
    path = os.path.join(DATA, rel)
    report = convlint.lint(path)
    assert report.input_errors == []
    assert [(f.rule, f.node, f.message) for f in report.errors] == []
    graph = propagated(path)
    assert graph.shape_errors == []


def _feeds(path: str, model: onnx.ModelProto) -> dict:
    """The model's inputs: the test data shipped beside it, else random values of the declared (static) shapes."""
    inits = {t.name for t in model.graph.initializer}
    inputs = [vi for vi in model.graph.input if vi.name not in inits]
    folder = os.path.join(os.path.dirname(path), "test_data_set_0")
    rng = np.random.default_rng(0)
    feeds = {}
    for i, vi in enumerate(inputs):
        pb = os.path.join(folder, f"input_{i}.pb")
        if os.path.exists(pb):
            with open(pb, "rb") as f:
                raw = f.read()
            if vi.type.HasField("sequence_type"):
                proto = onnx.SequenceProto()
                proto.ParseFromString(raw)
                feeds[vi.name] = numpy_helper.to_list(proto)
            else:
                proto = onnx.TensorProto()
                proto.ParseFromString(raw)
                feeds[vi.name] = numpy_helper.to_array(proto)
        else:
            tt = vi.type.tensor_type
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)
            feeds[vi.name] = rng.random([d.dim_value for d in tt.shape.dim]).astype(dtype)
    return feeds


def _runnable(model: onnx.ModelProto) -> onnx.ModelProto:
    opset = {i.domain or "": i.version for i in model.opset_import}.get("", 7)
    return version_converter.convert_version(model, 7) if opset < 7 else model


def _shipped_outputs(path: str, model: onnx.ModelProto) -> dict:
    """The graph outputs the onnx package ships beside the model (its expected results), by name."""
    folder = os.path.join(os.path.dirname(path), "test_data_set_0")
    out = {}
    for i, vi in enumerate(model.graph.output):
        pb = os.path.join(folder, f"output_{i}.pb")
        if vi.type.HasField("tensor_type") and os.path.exists(pb):
            proto = onnx.TensorProto()
            with open(pb, "rb") as f:
                proto.ParseFromString(f.read())
            out[vi.name] = numpy_helper.to_array(proto)
    return out


def compare_with_onnxruntime(rel: str) -> Comparison:
    """Every value against onnxruntime; where onnxruntime cannot run the model (an op it lacks, a locale this
    machine lacks), the graph outputs against the results shipped with it."""
    path = os.path.join(DATA, rel)
    model = onnx.load(path)
    feeds = _feeds(path, model)
    try:
        actual = run_all(_runnable(model), feeds)
    except Exception as e:  # onnxruntime raises several types
        actual = _shipped_outputs(path, model)
        if not actual:
            pytest.skip(f"onnxruntime cannot run it and no results ship with it: {str(e).splitlines()[0][:160]}")
    graph = propagated(path)
    return compare(graph, actual, sizes_from_feeds(graph, feeds))


@pytest.mark.parametrize("rel", MODELS)
def test_backend_model_shapes_match_onnxruntime(rel):
    result = compare_with_onnxruntime(rel)
    assert result.mismatches == []
    assert result.values > 0
    if not any(key in rel for key in NOT_FULLY_KNOWN):
        assert result.known == result.values, f"{result.values - result.known} of {result.values} not fully known"
