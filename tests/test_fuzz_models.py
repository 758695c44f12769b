"""Property tests: mutated real models never crash convlint, hang it, or end without a clear answer.

Seeds are the bundled fixtures and small models that ship inside the installed ``onnx`` package. Hypothesis
mutates their bytes (bit flips, overwrites, truncation, insertion, duplicated ranges, splices of two models) and,
since most such files no longer parse, also their protobuf fields (dims, attributes, op types, wiring, opsets,
external data, nesting). Every example runs the real command, ``convlint.cli.main``, in process and must end with
exit 0 or 1 and a JSON report without internal errors, or exit 2 and exactly one line on stderr that names no
internal error. Shape functions must not raise on them either. A SIGALRM guard fails an example that runs for
more than 20 s. Hypothesis runs derandomized and without a database, so CI sees the same examples every time.
"""

from __future__ import annotations

import glob
import json
import os
import signal

import onnx
import pytest
from click.testing import CliRunner
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import AttributeProto as A
from onnx import TensorProto, helper, numpy_helper

from convlint.cli import main
from convlint.core.errors import InputError
from convlint.shapes.propagate import propagate
from convlint.frontends import load_graph

from conftest import FIXTURES, run_cli

BACKEND = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
BACKEND_SEEDS = [
    "pytorch-converted/test_Conv2d_groups", "pytorch-converted/test_ConvTranspose2d",
    "pytorch-converted/test_Conv3d_dilated_strided", "pytorch-converted/test_MaxPool2d_stride_padding_dilation",
    "pytorch-converted/test_BatchNorm2d_eval", "pytorch-converted/test_Embedding",
    "pytorch-operator/test_operator_view", "pytorch-operator/test_operator_pad", "pytorch-operator/test_operator_chunk",
    "pytorch-operator/test_operator_index",
    "simple/test_expand_shape_model1", "simple/test_sequence_model1",
    "simple/test_strnorm_model_monday_casesensintive_lower",
]
SEED_PATHS = sorted(glob.glob(os.path.join(FIXTURES, "onnx", "*.onnx"))) + [
    os.path.join(BACKEND, name, "model.onnx") for name in BACKEND_SEEDS]
SEEDS = [open(p, "rb").read() for p in SEED_PATHS]
SETTINGS = dict(derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TIME_LIMIT = 20  # seconds per example: a guard against hangs, not a timing assertion


class Hang(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` in convlint can swallow it."""


def _alarm(signum, frame):
    raise Hang(f"one example ran for more than {TIME_LIMIT} s")


def check_model_bytes(data: bytes, tmp_dir: str) -> None:
    """Lint ``data`` as ``model.onnx`` with the real command and assert the contract for bad input."""
    path = os.path.join(tmp_dir, "model.onnx")
    with open(path, "wb") as f:
        f.write(data)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIME_LIMIT)
    try:
        result = CliRunner().invoke(main, [path, "--format", "json"])
        shape_errors = _shape_errors(path) if result.exit_code != 2 else []
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2), result.exit_code
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    if result.exit_code == 2:
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("convlint: error: "), result.stderr
        assert "internal error" not in result.stderr, result.stderr
    else:
        [res] = json.loads(result.stdout)["results"]
        crashed = [f["message"] for f in res["findings"] if f["rule"] == "CL000"]
        assert crashed == [], crashed
        assert shape_errors == [], shape_errors


def _shape_errors(path):
    """Shape functions that raised on the model (the pipeline records them and goes on; each is a bug of ours)."""
    try:
        graph = load_graph(path)
    except InputError:
        return []
    propagate(graph)
    return graph.shape_errors


# --- byte mutations ----------------------------------------------------------------------------------------------

def _mutation(draw, data: bytes) -> bytes:
    kind = draw(st.sampled_from(["flip", "overwrite", "truncate", "insert", "duplicate", "splice"]))
    n = len(data)
    at = draw(st.integers(0, max(n - 1, 0)))
    if kind == "flip" and n:
        return data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1:]
    if kind == "overwrite" and n:
        byte = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01]) | st.integers(0, 255))
        return data[:at] + bytes([byte]) + data[at + 1:]
    if kind == "truncate":
        return data[:at]
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    if kind == "duplicate":
        length = draw(st.integers(1, 256))
        to = draw(st.integers(0, n))
        return data[:to] + data[at:at + length] + data[to:]
    other = draw(st.sampled_from(SEEDS))
    return data[:at] + other[draw(st.integers(0, len(other) - 1)):]


@st.composite
def mutated_bytes(draw):
    data = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 3))):
        data = _mutation(draw, data)
    return data


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("fuzz"))


@settings(max_examples=600, **SETTINGS)
@given(data=mutated_bytes())
def test_mutated_bytes(data, workdir):
    check_model_bytes(data, workdir)


# --- protobuf field mutations --------------------------------------------------------------------------------------

ODD_INTS = [-(2**63), -(2**31), -7, -1, 0, 1, 2, 3, 7, 2**31, 2**62, 2**63 - 1]
STANDARD_OPS = sorted({s.name for s in onnx.defs.get_all_schemas() if s.domain == ""})
ATTRIBUTE_NAMES = ["group", "kernel_shape", "pads", "strides", "dilations", "auto_pad", "axis", "axes", "perm",
                   "to", "value", "shape", "split", "output_shape", "output_padding", "ceil_mode", "then_branch"]


def _graphs(g):
    yield g
    for n in g.node:
        for a in n.attribute:
            if a.type == A.GRAPH:
                yield from _graphs(a.g)
            for sub in a.graphs:
                yield from _graphs(sub)


def _names(g):
    return [""] + [o for n in g.node for o in n.output] + [v.name for v in g.input] + [t.name for t in g.initializer]


def _field_mutation(draw, model: onnx.ModelProto) -> None:
    g = draw(st.sampled_from(list(_graphs(model.graph))))
    kind = draw(st.sampled_from([
        "dim", "init_dims", "op_type", "drop_node", "rewire", "shuffle", "attr_type", "attr_value", "add_attr",
        "domain", "opset", "init_type", "raw_data", "rename_output", "more_inputs", "duplicate_node", "external",
        "shape_data", "nest"]))
    nodes = list(g.node)
    odd = st.sampled_from(ODD_INTS)
    if kind == "dim":
        vis = [v for v in list(g.input) + list(g.output) + list(g.value_info) if v.type.tensor_type.shape.dim]
        if vis:
            dims = draw(st.sampled_from(vis)).type.tensor_type.shape.dim
            dims[draw(st.integers(0, len(dims) - 1))].dim_value = draw(odd)
    elif kind == "init_dims" and g.initializer:
        t = draw(st.sampled_from(list(g.initializer)))
        if t.dims:
            t.dims[draw(st.integers(0, len(t.dims) - 1))] = draw(odd)
        else:
            t.dims.append(draw(odd))
    elif kind == "op_type" and nodes:
        draw(st.sampled_from(nodes)).op_type = draw(st.sampled_from(STANDARD_OPS + ["", "conv", "Custom"]))
    elif kind == "drop_node" and nodes:
        del g.node[draw(st.integers(0, len(nodes) - 1))]
    elif kind == "rewire" and nodes:
        n = draw(st.sampled_from(nodes))
        if n.input:
            n.input[draw(st.integers(0, len(n.input) - 1))] = draw(st.sampled_from(_names(g) + ["nowhere"]))
    elif kind == "shuffle" and nodes:
        order = draw(st.permutations(nodes))
        del g.node[:]
        g.node.extend(order)
    elif kind == "attr_type" and nodes:
        n = draw(st.sampled_from(nodes))
        if n.attribute:
            draw(st.sampled_from(list(n.attribute))).type = draw(st.sampled_from(list(A.AttributeType.values())))
    elif kind == "attr_value":
        for n in g.node:
            for a in n.attribute:
                if a.type == A.INTS and a.ints:
                    a.ints[draw(st.integers(0, len(a.ints) - 1))] = draw(odd)
                elif a.type == A.INT:
                    a.i = draw(odd)
    elif kind == "add_attr" and nodes:
        a = draw(st.sampled_from(nodes)).attribute.add()
        a.name = draw(st.sampled_from(ATTRIBUTE_NAMES))
        a.type = draw(st.sampled_from([A.INT, A.INTS, A.STRING, A.FLOAT, A.TENSOR, A.GRAPH]))
        a.i = draw(odd)
        a.ints.extend(draw(st.lists(odd, max_size=5)))
        a.s = draw(st.sampled_from([b"SAME_UPPER", b"VALID", b"\xff\xfe", b""]))
    elif kind == "domain" and nodes:
        draw(st.sampled_from(nodes)).domain = draw(st.sampled_from(["", "ai.onnx", "com.microsoft", "x.y"]))
    elif kind == "opset":
        del model.opset_import[:]
        if draw(st.booleans()):
            model.opset_import.add(domain="", version=draw(st.sampled_from([0, 1, 6, 7, 9, 13, 21, 99, -1, 2**62])))
    elif kind == "init_type" and g.initializer:
        draw(st.sampled_from(list(g.initializer))).data_type = draw(st.integers(0, 30))
    elif kind == "raw_data" and g.initializer:
        t = draw(st.sampled_from(list(g.initializer)))
        for f in ("float_data", "int32_data", "int64_data", "double_data"):
            t.ClearField(f)
        t.raw_data = draw(st.binary(max_size=24))
    elif kind == "rename_output" and nodes:
        n = draw(st.sampled_from(nodes))
        if n.output:
            n.output[0] = draw(st.sampled_from(_names(g)))
    elif kind == "more_inputs" and nodes:
        draw(st.sampled_from(nodes)).input.extend(draw(st.lists(st.sampled_from(_names(g)), min_size=1, max_size=3)))
    elif kind == "duplicate_node" and nodes:
        g.node.append(draw(st.sampled_from(nodes)))
    elif kind == "external" and g.initializer:
        t = draw(st.sampled_from(list(g.initializer)))
        t.data_location = TensorProto.EXTERNAL
        t.external_data.add(key="location", value=draw(st.sampled_from(
            ["weights.bin", "../../etc/passwd", "/etc/passwd", "", ".", "model.onnx", "a/../../b"])))
        t.external_data.add(key=draw(st.sampled_from(["offset", "length"])),
                            value=draw(st.sampled_from(["1", "-1", "x", str(2**70)])))
    elif kind == "shape_data":
        small = [t for t in g.initializer if t.data_type == TensorProto.INT64 and 0 < len(t.dims) <= 1]
        small += [a.t for n in g.node for a in n.attribute if a.type == A.TENSOR and a.t.data_type == TensorProto.INT64]
        if small:
            t = draw(st.sampled_from(small))
            try:
                arr = numpy_helper.to_array(t).copy()
            except Exception:  # already broken by an earlier mutation
                return
            if arr.size and arr.size <= 64:
                arr.reshape(-1)[draw(st.integers(0, arr.size - 1))] = draw(odd)
                t.CopyFrom(numpy_helper.from_array(arr, t.name))
    elif kind == "nest":
        for _ in range(draw(st.integers(1, 30))):
            outs = list(model.graph.output)
            body = helper.make_graph(list(model.graph.node), "then", [], outs, list(model.graph.initializer))
            empty = helper.make_graph([], "else", [], outs)
            try:
                node = helper.make_node("If", ["cond"], [o.name for o in outs], then_branch=body, else_branch=empty)
            except DecodeError:  # protobuf's own nesting limit: deeper models cannot even be written
                break
            del model.graph.node[:]
            del model.graph.initializer[:]
            model.graph.node.append(node)
            if not any(v.name == "cond" for v in model.graph.input):
                model.graph.input.append(helper.make_tensor_value_info("cond", TensorProto.BOOL, []))


@st.composite
def mutated_protos(draw):
    model = onnx.ModelProto.FromString(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        _field_mutation(draw, model)
    return model.SerializeToString()


@settings(max_examples=1000, **SETTINGS)
@given(data=mutated_protos())
def test_mutated_protos(data, workdir):
    check_model_bytes(data, workdir)


# --- the same through a real process ---------------------------------------------------------------------------------

@settings(max_examples=4, **SETTINGS)
@given(data=st.one_of(mutated_bytes(), mutated_protos()))
def test_mutated_models_through_the_command(data, workdir):
    with open(os.path.join(workdir, "model.onnx"), "wb") as f:
        f.write(data)
    result = run_cli("model.onnx", cwd=workdir)
    assert result.returncode in (0, 1, 2)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    if result.returncode == 2:
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("convlint: error: "), result.stderr


def test_seeds_are_real_models():
    # The seeds must load: otherwise every mutation would only test the protobuf parser.
    for path in SEED_PATHS:
        assert load_graph(path).nodes, path

