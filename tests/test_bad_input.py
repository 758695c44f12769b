"""Bad input, end to end through ``python -m convlint``: one line and exit 2, or a normal report where the model
loads; never a traceback, a hang, or a read outside the model's folder.

The cases run the real command in a subprocess (``run_cli`` has a timeout, so a hang fails the test), except the
weird protos near the end, which test the front end and shape functions through the same pipeline in process.
Messages are asserted whole where they are ours; paths are given relative to the model's folder so that they are
stable. Two tests watch, with an audit hook and inotify, every file convlint opens.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import subprocess
import sys
import zipfile

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from convlint.examples import model_from_text

from conftest import FIXTURES, run_cli

H = '<ir_version: 8, opset_import: ["": 17]>'
BIG = 2**62
SEED_MODEL = os.path.join(FIXTURES, "onnx", "many_faults.onnx")
CLEAN_CONV = H + """
    net (float[N, 3, H, W] image) => (float[N, 4, H, W] y) <float[4, 3, 3, 3] w> {
        [conv] y = Conv <pads = [1, 1, 1, 1]> (image, w)
    }"""


def assert_input_error(result, message=None):
    """Exit 2, nothing on stdout, exactly one line on stderr starting ``convlint: error:`` (``message`` if given)."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("convlint: error: "), result.stderr
    assert result.stdout == ""
    if message is not None:
        assert result.stderr == f"convlint: error: {message}\n"


def findings(result):
    """(rule, node, message) of each finding of a ``--format json`` run, which must have read its model."""
    assert "Traceback" not in result.stderr
    assert result.stderr == "", result.stderr
    report = json.loads(result.stdout)
    [res] = report["results"]
    assert res["error"] is None
    return [(f["rule"], f["node"], f["message"]) for f in res["findings"]]


def lint_json(folder, *args, verify=False):
    return run_cli("model.onnx", "--format", "json", "--verify" if verify else "--no-verify", *args, cwd=str(folder))


def save(folder, model, name="model.onnx"):
    path = os.path.join(str(folder), name)
    with open(path, "wb") as f:
        f.write(model.SerializeToString() if isinstance(model, onnx.ModelProto) else model)
    return path


# --- files that are not models -----------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    assert_input_error(run_cli("model.onnx", cwd=str(tmp_path)), "model.onnx: no such file")


def test_directory_without_models(tmp_path):
    (tmp_path / "models.onnx").mkdir()
    result = run_cli("models.onnx", cwd=str(tmp_path))
    assert_input_error(result)
    assert result.stderr.startswith("convlint: error: models.onnx: ")


def test_empty_file(tmp_path):
    save(tmp_path, b"")
    assert_input_error(run_cli("model.onnx", cwd=str(tmp_path)), "model.onnx: empty file, not an ONNX model")


@pytest.mark.parametrize("cut", [1, 17, 11610, 23220], ids=lambda cut: f"first-{cut}-bytes")
def test_truncated_model(tmp_path, cut):
    data = open(SEED_MODEL, "rb").read()
    assert len(data) > cut
    save(tmp_path, data[:cut])
    result = run_cli("model.onnx", cwd=str(tmp_path))
    assert_input_error(result)
    assert result.stderr.startswith(
        "convlint: error: model.onnx: not a valid ONNX model: the protobuf does not parse ("), result.stderr


def test_model_truncated_between_fields(tmp_path):
    # Cut just before the opset imports, the bytes still parse, as a model that imports no opset.
    model = onnx.load(SEED_MODEL)
    data = model.SerializeToString()
    tail = onnx.ModelProto(opset_import=model.opset_import).SerializeToString()
    assert data.endswith(tail)
    save(tmp_path, data[:-len(tail)])
    assert_input_error(run_cli("model.onnx", cwd=str(tmp_path)),
                       "model.onnx: the model imports no opset, which ONNX requires since IR version 3; is the file "
                       "truncated?")


def test_random_bytes(tmp_path):
    save(tmp_path, random.Random(2).randbytes(5000))
    result = run_cli("model.onnx", cwd=str(tmp_path))
    assert_input_error(result)
    assert result.stderr.startswith(
        "convlint: error: model.onnx: not a valid ONNX model: the protobuf does not parse"), result.stderr


def test_text_file(tmp_path):
    save(tmp_path, b"name,channels\nconv1,3\n")
    assert_input_error(run_cli("model.onnx", cwd=str(tmp_path)), "model.onnx: is a text file, not an ONNX model")


def test_onnx_text_that_does_not_parse(tmp_path):
    save(tmp_path, b"<ir_version: 8> graph (float[1] x) => (y) { y = Relu(x ")
    result = run_cli("model.onnx", cwd=str(tmp_path))
    assert_input_error(result)
    assert result.stderr.startswith("convlint: error: model.onnx: ONNX text format does not parse: ")


def test_zip_archive(tmp_path):
    with zipfile.ZipFile(tmp_path / "model.onnx", "w") as z:
        z.writestr("archive/data.pkl", b"weights")
    assert_input_error(run_cli("model.onnx", cwd=str(tmp_path)),
                       "model.onnx: is a zip archive (a PyTorch checkpoint or .pt2 file?), not an ONNX model")


class _Booby:
    """Unpickling this creates the file named ``path``: proof that a pickle was (or was not) loaded."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("protocol", [2, 5])
def test_pickle_is_refused_and_never_unpickled(tmp_path, protocol):
    witness = tmp_path / "unpickled"
    save(tmp_path, pickle.dumps(_Booby(str(witness)), protocol=protocol))
    assert_input_error(run_cli("model.onnx", cwd=str(tmp_path)),
                       "model.onnx: is a Python pickle, not an ONNX model; convlint does not unpickle files")
    assert not witness.exists()


def test_model_without_a_graph(tmp_path):
    save(tmp_path, onnx.ModelProto(ir_version=8, producer_name="exporter"))
    assert_input_error(run_cli("model.onnx", cwd=str(tmp_path)), "model.onnx: not an ONNX model (no graph or opset)")


# --- external data --------------------------------------------------------------------------------------------------

def external_model(folder, location, offset=None, length=None, data_bytes=4 * 108):
    """The clean conv model with its weight ``w`` stored externally at ``location``; ``data_bytes`` of it are written
    to ``folder/weights.bin`` (None: no data file)."""
    model = model_from_text(CLEAN_CONV)
    [w] = model.graph.initializer
    w.ClearField("raw_data")
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value=location)
    for key, value in (("offset", offset), ("length", length)):
        if value is not None:
            w.external_data.add(key=key, value=str(value))
    if data_bytes is not None:
        with open(os.path.join(str(folder), "weights.bin"), "wb") as f:
            f.write(bytes(data_bytes))
    return save(folder, model)


def test_external_data_inside_the_folder_is_fine(tmp_path):
    external_model(tmp_path, "weights.bin", offset=0, length=4 * 108)
    assert findings(lint_json(tmp_path)) == []


def test_external_data_missing(tmp_path):
    external_model(tmp_path, "weights.bin", data_bytes=None)
    assert_input_error(run_cli("model.onnx", cwd=str(tmp_path)),
                       "model.onnx: tensor 'w': external data file 'weights.bin' is missing")


def test_external_data_names_no_file(tmp_path):
    external_model(tmp_path, "")
    assert_input_error(run_cli("model.onnx", cwd=str(tmp_path)),
                       "model.onnx: tensor 'w' is stored externally but names no file")


def test_external_data_escaping_the_folder(tmp_path):
    external_model(tmp_path, "../../etc/passwd")
    assert_input_error(run_cli("model.onnx", cwd=str(tmp_path)),
                       "model.onnx: tensor 'w': external data '../../etc/passwd' points outside the model's folder; "
                       "refusing it")


def test_external_data_at_an_absolute_path(tmp_path):
    external_model(tmp_path, "/etc/passwd")
    assert_input_error(run_cli("model.onnx", cwd=str(tmp_path)),
                       "model.onnx: tensor 'w': external data '/etc/passwd' is an absolute path; it must lie in the "
                       "model's folder")


def test_external_data_through_a_symlink_out_of_the_folder(tmp_path):
    outside = tmp_path / "outside.bin"
    outside.write_bytes(bytes(4 * 108))
    folder = tmp_path / "model"
    folder.mkdir()
    os.symlink(str(outside), str(folder / "link.bin"))
    external_model(folder, "link.bin", data_bytes=None)
    assert_input_error(run_cli("model.onnx", cwd=str(folder)),
                       "model.onnx: tensor 'w': external data 'link.bin' points outside the model's folder; "
                       "refusing it")


def test_external_data_is_a_folder(tmp_path):
    (tmp_path / "weights").mkdir()
    external_model(tmp_path, "weights", data_bytes=None)
    assert_input_error(run_cli("model.onnx", cwd=str(tmp_path)),
                       "model.onnx: tensor 'w': external data 'weights' is not a file")


@pytest.mark.parametrize("offset,length,message", [
    (400, 100, "model.onnx: tensor 'w': external data 'weights.bin' is 432 bytes, shorter than the 500 it claims"),
    (2**70, None, f"model.onnx: tensor 'w': external data 'weights.bin' is 432 bytes, shorter than the {2**70} it "
                  f"claims"),
    (-8, None, "model.onnx: tensor 'w': external data offset or length is negative"),
    ("ten", None, "model.onnx: tensor 'w': external data offset or length is not a number"),
])
def test_external_data_offset_or_length_beyond_the_file(tmp_path, offset, length, message):
    external_model(tmp_path, "weights.bin", offset=offset, length=length)
    assert_input_error(run_cli("model.onnx", cwd=str(tmp_path)), message)


# --- models that load: a normal report with the right finding ----------------------------------------------------

def test_cycle_is_a_finding(tmp_path):
    save(tmp_path, model_from_text(H + """
        g (float[1, 3] x) => (float[1, 3] y) { [add] a = Add(x, b) [relu] b = Relu(a) [out] y = Relu(b) }"""))
    result = lint_json(tmp_path)
    assert result.returncode == 1
    assert findings(result) == [("CL004", "add", "3 nodes are on or behind a cycle: 'add', 'relu', 'out'")]


def test_self_loop_is_a_finding(tmp_path):
    save(tmp_path, model_from_text(H + """
        g (float[1, 3] x) => (float[1, 3] y) { [loop] a = Add(x, a) [out] y = Relu(a) }"""))
    result = lint_json(tmp_path)
    assert result.returncode == 1
    assert [f[:2] for f in findings(result)] == [("CL004", "loop")]


def test_node_with_missing_input_is_a_finding(tmp_path):
    save(tmp_path, model_from_text(H + """
        g (float[N, 3, H, W] x) => (float[N, 4, H, W] y) { [conv] y = Conv <pads = [1, 1, 1, 1]> (x, conv_w) }"""))
    result = lint_json(tmp_path)
    assert result.returncode == 1
    assert findings(result) == [
        ("CL003", "conv", "node 'conv' (Conv) reads 'conv_w', which no input, initializer or node defines")]


def test_graph_output_nothing_produces_is_a_finding(tmp_path):
    save(tmp_path, model_from_text(H + """
        g (float[1, 3] x) => (float[1, 3] y, float[1, 3] z) { y = Relu(x) }"""))
    result = lint_json(tmp_path)
    assert result.returncode == 1
    assert findings(result) == [("CL003", None, "graph output 'z' is not produced by any node or input")]


def test_nodes_out_of_order_are_read_in_dependency_order(tmp_path):
    model = model_from_text(H + """
        g (float[N, 1, H, W] x) => (float[N, 4, H, W] y) <float[4, 3, 3, 3] w> {
            [relu] r = Relu(x) [conv] y = Conv <pads = [1, 1, 1, 1]> (r, w) }""")
    nodes = list(model.graph.node)[::-1]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    save(tmp_path, model)
    result = lint_json(tmp_path)
    assert result.returncode == 1
    assert [f[:2] for f in findings(result)] == [("CL101", "conv")]


def test_dim_of_2_62_in_an_input_shape(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, BIG, 8, 8])
    w = numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], "g", [x], [y], [w])
    save(tmp_path, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    result = lint_json(tmp_path, verify=True)  # the replay must not allocate the input either
    assert result.returncode == 1
    [(rule, node, message)] = findings(result)
    assert (rule, node) == ("CL101", "conv")
    assert message.startswith(f"input 'x' has {BIG} channels, but weight 'w' (4, 3, 3, 3)")


@pytest.mark.parametrize("dims,message", [
    ((BIG, 3, 3, 3), f"model.onnx: tensor 'w' claims shape ({BIG}, 3, 3, 3) but holds far less data than that; the "
                     f"file is corrupt or truncated"),
    ((4, -3, 3, 3), "model.onnx: tensor 'w' has a negative dim -3 in its shape (4, -3, 3, 3)"),
])
def test_initializer_dims_that_cannot_be(tmp_path, dims, message):
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=dims, float_data=[0.0])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], "g", [x], [y], [w])
    save(tmp_path, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert_input_error(run_cli("model.onnx", cwd=str(tmp_path)), message)


# Each feeds a Conv whose weight wants 3 channels with a tensor of 2**62 channels (or elements) that the model
# computes; folding them for real would allocate 2**62 elements.
HUGE_COMPUTED = {
    "ConstantOfShape": f"""
        s = Constant <value = int64[4] {{1, {BIG}, 4, 4}}> ()
        x = ConstantOfShape <value = int64[1] {{7}}> (s)
        xf = Cast <to = 1> (x)""",
    "Expand": f"""
        one = Constant <value = int64[1] {{1}}> ()
        s = Constant <value = int64[4] {{1, {BIG}, 4, 4}}> ()
        x = Expand (one, s)
        xf = Cast <to = 1> (x)""",
    "Range": f"""
        start = Constant <value = int64 {{0}}> ()
        limit = Constant <value = int64 {{{BIG}}}> ()
        delta = Constant <value = int64 {{1}}> ()
        r = Range (start, limit, delta)
        n = Shape (r)
        head = Constant <value = int64[1] {{1}}> ()
        tail = Constant <value = int64[2] {{4, 4}}> ()
        s = Concat <axis = 0> (head, n, tail)
        xf = ConstantOfShape <value = float[1] {{0.5}}> (s)""",
}


@pytest.mark.parametrize("op", sorted(HUGE_COMPUTED))
def test_computed_tensor_of_2_62_elements_is_not_allocated(tmp_path, op):
    save(tmp_path, model_from_text(H + f"""
        g (float[1] unused) => (float[1, 4, 2, 2] y) <float[4, 3, 3, 3] w> {{
            {HUGE_COMPUTED[op]}
            [conv] y = Conv (xf, w)
        }}"""))
    result = lint_json(tmp_path, verify=True)
    assert result.returncode == 1
    [(rule, node, message)] = findings(result)
    assert (rule, node) == ("CL101", "conv")
    assert message.startswith(f"input 'xf' has {BIG} channels, but weight 'w' (4, 3, 3, 3)")


def squaring_chain(kind, steps):
    """A model that squares a shape ``steps`` times: numbers of 2**steps digits, or polynomials of degree 2**steps,
    if convlint kept them exact."""
    if kind == "mul":
        body = ["s0 = Shape(x)"] + [f"s{i + 1} = Mul(s{i}, s{i})" for i in range(steps)] + [f"r = Reshape(x, s{steps})"]
    elif kind == "tile":
        body = ["t0 = Identity(x)"] + [f"s{i} = Shape(t{i}) t{i + 1} = Tile(t{i}, s{i})" for i in range(steps)]
        body += [f"r = Identity(t{steps})"]
    else:  # a channel count N -> N**2 + 1 -> (N**2 + 1)**2 + 1 ... fed to a conv that wants 3 channels
        body = ["one = Constant <value = int64[1] {1}> ()", "a0 = Shape(x)"]
        body += [f"m{i} = Mul(a{i}, a{i}) a{i + 1} = Add(m{i}, one)" for i in range(steps)]
        body += ["rest = Constant <value = int64[2] {4, 4}> ()", f"s = Concat <axis = 0> (one, a{steps}, rest)",
                 "z = ConstantOfShape <value = float[1] {0.5}> (s)", "[conv] r = Conv (z, w)"]
    return model_from_text(H + f"""
        g (float[N] x) => (float[1] y) <float[4, 3, 3, 3] w> {{
            {" ".join(body)}
            y = Constant <value = float[1] {{0}}> ()
        }}""")


@pytest.mark.parametrize("kind", ["mul", "tile", "polynomial"])
def test_shapes_squared_again_and_again_do_not_hang(tmp_path, kind):
    save(tmp_path, squaring_chain(kind, 64))
    result = lint_json(tmp_path)
    assert result.returncode == 0
    assert findings(result) == []


def test_dims_of_a_plausible_degree_stay_exact(tmp_path):
    save(tmp_path, squaring_chain("polynomial", 3))
    result = lint_json(tmp_path)
    assert result.returncode == 1
    [(rule, node, message)] = findings(result)
    assert (rule, node) == ("CL101", "conv")
    assert message.startswith("input 'z' has ((N²+1)²+1)²+1 channels")


def nested_ifs(depth) -> str:
    """ONNX text of a model whose graph nests ``depth`` If nodes, each in the then-branch of the one outside it."""
    inner = "{ y = Identity(x) }"
    for i in range(depth):
        inner = (f"{{ y = If <then_branch = then{i} () => (float[1] y) {inner}, "
                 f"else_branch = else{i} () => (float[1] y) {{ y = Identity(x) }}> (c) }}")
    return H + f"\nm (float[1] x, bool c) => (float[1] y) {inner}"


def test_subgraphs_nested_as_deep_as_protobuf_allows(tmp_path):
    save(tmp_path, onnx.parser.parse_model(nested_ifs(25)))
    assert findings(lint_json(tmp_path)) == []


def test_subgraphs_nested_deeper_than_protobuf_allows(tmp_path):
    save(tmp_path, nested_ifs(2000).encode())  # ONNX text: the nesting is not limited by the file format
    assert_input_error(run_cli("model.onnx", cwd=str(tmp_path)),
                       "model.onnx: the model nests subgraphs deeper than protobuf can parse")


def test_binary_model_nested_deeper_than_protobuf_allows(tmp_path):
    # Written by hand: protobuf itself refuses to build such a message.
    def field(number, payload):
        return _varint(number << 3 | 2) + _varint(len(payload)) + payload
    graph = b""
    for _ in range(60):  # GraphProto.node(1) -> NodeProto.attribute(5) -> AttributeProto.g(6) -> GraphProto ...
        graph = field(1, field(4, b"If") + field(5, field(1, b"then_branch") + field(6, graph) + b"\xa0\x01\x05"))
    save(tmp_path, field(7, graph) + field(8, b"\x10\x11") + b"\x08\x08")
    assert_input_error(run_cli("model.onnx", cwd=str(tmp_path)),
                       "model.onnx: the model nests subgraphs deeper than protobuf can parse")


def _varint(n):
    out = b""
    while True:
        out += bytes([n & 0x7F | (0x80 if n > 0x7F else 0)])
        n >>= 7
        if not n:
            return out


def test_loop_inside_loop_reports_the_fault_inside(tmp_path):
    save(tmp_path, model_from_text(H + """
        g (float[N, 1, H, W] x, int64 trip, bool c) => (float[M, N, 4, H, W] y) <float[4, 3, 3, 3] w> {
            [outer_loop] y = Loop <body = outer (int64 i, bool c_in) => (bool c_out, float[K, N, 4, H, W] y_out) {
                c_out = Identity(c_in)
                [inner_loop] y_out = Loop <body = inner (int64 j, bool d_in) => (bool d_out, float[N, 4, H, W] z) {
                    d_out = Identity(d_in)
                    [deep_conv] z = Conv <pads = [1, 1, 1, 1]> (x, w)
                }> (trip, c_in)
            }> (trip, c)
        }"""))
    assert [f[:2] for f in findings(lint_json(tmp_path))] == [("CL101", "deep_conv")]


# --- weird protos (in process: these test the front end and shape functions, not the command) ------------------

def lint_model(tmp_path, model):
    """The Result of linting ``model`` saved to a file, through the same pipeline the CLI runs."""
    import convlint

    report = convlint.lint(save(tmp_path, model), verify=False)
    [result] = report.results
    assert all(f.rule != "CL000" for f in result.findings), [f.message for f in result.findings]
    return result


def conv_model(**attrs):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv")
    for name, value in attrs.items():
        a = node.attribute.add()
        a.name, a.type = name, value[0]
        if isinstance(value[1], list):
            a.ints.extend(value[1])
        elif a.type == onnx.AttributeProto.INT:
            a.i = value[1]
    return helper.make_model(helper.make_graph([node], "g", [x], [y], [w]), opset_imports=[helper.make_opsetid("", 17)])


A = onnx.AttributeProto


@pytest.mark.parametrize("name,value,got,want", [
    ("group", helper.make_attribute("group", 2.0), "FLOAT", "INT"),
    ("kernel_shape", helper.make_attribute("kernel_shape", 3), "INT", "INTS"),
    ("pads", helper.make_attribute("pads", "SAME"), "STRING", "INTS"),
    ("strides", helper.make_attribute("strides", numpy_helper.from_array(np.array([1, 1], np.int64))), "TENSOR",
     "INTS"),
    ("group", A(name="group", i=1), "UNDEFINED", "INT"),
])
def test_attribute_of_the_wrong_type(tmp_path, name, value, got, want):
    model = conv_model()
    model.graph.node[0].attribute.append(value)
    assert lint_model(tmp_path, model).error == (
        f"{tmp_path / 'model.onnx'}: node 'conv' (Conv): attribute {name!r} is {got}, but Conv takes {want}; the "
        f"model is malformed")


def test_attribute_of_an_older_version_with_the_wrong_type(tmp_path):
    # Reshape-1 took `shape` as ints; an opset-13 model that gives it as a tensor is malformed, not a crash.
    model = model_from_text(H.replace("17", "13") + """
        g (float[2, 6] x) => (float[3, 4] y) { y = Reshape (x, s) }""")
    model.graph.node[0].attribute.append(helper.make_attribute("shape", numpy_helper.from_array(np.array([3, 4]))))
    assert lint_model(tmp_path, model).error.endswith(
        "node 'Reshape -> y' (Reshape): attribute 'shape' is TENSOR, but Reshape takes INTS; the model is malformed")


@pytest.mark.parametrize("attrs", [
    {"group": (A.INT, 0)}, {"group": (A.INT, -1)}, {"group": (A.INT, BIG)}, {"strides": (A.INTS, [0, 0])},
    {"strides": (A.INTS, [-1, 1])}, {"dilations": (A.INTS, [BIG, 1])}, {"pads": (A.INTS, [-5, -5, -5, -5])},
    {"pads": (A.INTS, [BIG] * 4)}, {"kernel_shape": (A.INTS, [])}, {"kernel_shape": (A.INTS, [BIG, BIG])},
    {"pads": (A.INTS, [1, 1, 1])}, {"kernel_shape": (A.INTS, [-3, 0])},
], ids=str)
def test_attribute_values_that_cannot_be_are_no_crash(tmp_path, attrs):
    assert lint_model(tmp_path, conv_model(**attrs)).error is None


def test_custom_domain_conv_is_not_checked_as_onnx_conv(tmp_path):
    model = conv_model(group=(A.INT, 5))
    model.graph.node[0].domain = "com.example"
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    assert [f.rule for f in lint_model(tmp_path, model).findings] == ["CL002"]


def test_empty_op_type_and_duplicate_outputs(tmp_path):
    model = model_from_text(H + """
        g (float[N, 3, H, W] x) => (float[N, 3, H, W] y) { a = Relu(x) a = Sigmoid(x) y = Identity(a) }""")
    model.graph.node[1].op_type = ""
    assert lint_model(tmp_path, model).error is None


def test_names_that_are_not_utf8(tmp_path):
    # protobuf does not check that ONNX's strings are UTF-8; a corrupt file can hold any bytes in a name.
    model = model_from_text(H + """
        g (float[DIMQQ, 1, H, W] imgQQ) => (float[DIMQQ, 4, H, W] y) <float[4, 3, 3, 3] wQQ> {
            [convQQ] y = Conv <pads = [1, 1, 1, 1]> (imgQQ, wQQ) }""")
    save(tmp_path, model.SerializeToString().replace(b"QQ", b"\xff\xfe"))
    result = lint_json(tmp_path)
    assert result.returncode == 1
    [(rule, node, message)] = findings(result)
    assert (rule, node) == ("CL101", "conv\ufffd\ufffd")
    assert message.startswith("input 'img\ufffd\ufffd' has 1 channel, but weight 'w\ufffd\ufffd' (4, 3, 3, 3)")


@pytest.mark.parametrize("where", ["input", "value_info", "output"])
def test_negative_and_huge_dims_in_value_infos(tmp_path, where):
    model = model_from_text(H + """
        g (float[N, 3, H, W] x) => (float[N, 4, H, W] y) <float[4, 3, 3, 3] w> {
            [conv] c = Conv <pads = [1, 1, 1, 1]> (x, w) [relu] y = Relu(c) }""")
    vi = {"input": model.graph.input[0], "output": model.graph.output[0]}.get(where)
    if vi is None:
        vi = helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 4, 1, 1])
        model.graph.value_info.append(vi)
    vi.type.tensor_type.shape.dim[0].dim_value = -7
    vi.type.tensor_type.shape.dim[2].dim_value = BIG
    assert lint_model(tmp_path, model).error is None


# --- --input-shape ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args,message", [
    (("--input-shape", "1,3,2x,8"),
     "--input-shape: '2x' is neither a whole number nor a symbol name such as N or H"),
    (("--input-shape", "1,-3,8,8"), "--input-shape: dim -3 is negative"),
    (("--input-shape", "=1,3,8,8"), "--input-shape '=1,3,8,8': the input name before '=' is empty"),
    (("--input-shape", "1,,8,8"), "--input-shape '1,,8,8': a dim is missing between two commas"),
    (("--input-shape", f"1,3,{2**64},8"), f"--input-shape: dim {2**64} is larger than any tensor dim (int64) can be"),
    (("--input-shape", "1,3,8"), "--input-shape 1,3,8: input 'image' has rank 4 (N, 3, H, W), but 3 dims were given"),
    (("--input-shape", "image="), "--input-shape image=: input 'image' has rank 4 (N, 3, H, W), but 0 dims were given"),
    (("--input-shape", "picture=1,3,8,8"),
     "--input-shape picture=...: the model has no input 'picture'; its inputs are: image"),
    (("--input-shape", "1,3,8,8", "--input-shape", "1,3,8,8"),
     "2 --input-shape values given, but the model has 1 input(s): image"),
])
def test_bad_input_shape(tmp_path, args, message):
    save(tmp_path, model_from_text(CLEAN_CONV))
    assert_input_error(run_cli("model.onnx", *args, cwd=str(tmp_path)), message)


def test_input_shape_that_makes_the_fault(tmp_path):
    save(tmp_path, model_from_text(CLEAN_CONV))
    result = lint_json(tmp_path, "--input-shape", f"image=1,1,{BIG},W")
    assert result.returncode == 1
    assert [f[:2] for f in findings(result)] == [("CL101", "conv")]


# --- the last line of defence ----------------------------------------------------------------------------------------

def test_an_internal_error_still_ends_in_one_line(tmp_path):
    # A fault injected below the CLI: shape propagation raising, as a bug of ours would.
    save(tmp_path, model_from_text(CLEAN_CONV))
    code = ("import sys, convlint.pipeline as p\n"
            "def broken(graph): raise RuntimeError('a bug\\nover two lines')\n"
            "p.propagate = broken\n"
            "from convlint.cli import main\n"
            "sys.argv = ['convlint', 'model.onnx']\n"
            "main()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(tmp_path),
                            timeout=120, env=dict(os.environ, NO_COLOR="1"))
    assert_input_error(result, "model.onnx: internal error, please report it: RuntimeError: a bug\\nover two lines")


def test_a_path_with_a_line_break_is_still_one_line(tmp_path):
    assert_input_error(run_cli("two\nlines.onnx", cwd=str(tmp_path)), "two\\nlines.onnx: no such file")


# --- what convlint opens ----------------------------------------------------------------------------------------------

AUDITED_RUN = r'''
import os, sys

opened = []  # (event, path, writing, during_import)


def importing():
    f = sys._getframe(2)
    while f is not None:
        if f.f_code.co_filename.startswith("<frozen importlib"):
            return True
        f = f.f_back
    return False


def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes)):
        path, mode, flags = args
        writing = bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)) or any(c in (mode or "") for c in "wax+")
        opened.append((event, os.path.abspath(os.fsdecode(path)), writing, importing()))
    elif event in ("os.listdir", "os.scandir"):
        opened.append((event, os.path.abspath(os.fsdecode(args[0] if args[0] is not None else ".")), False,
                       importing()))


log, sys.argv = sys.argv[1], ["convlint", *sys.argv[2:]]
sys.addaudithook(hook)
try:
    from convlint.cli import main
    main()
finally:
    records = list(opened)
    import site, sysconfig, convlint, convlint_rules
    python = {sys.prefix, sys.base_prefix, *sysconfig.get_paths().values(), *site.getsitepackages(),
              site.getusersitepackages(), os.path.dirname(convlint.__file__), os.path.dirname(convlint_rules.__file__)}
    with open(log, "w") as f:
        f.write(repr((records, sorted(os.path.realpath(p) for p in python))))
'''


def audited_run(folder, *args):
    """Run the CLI in ``folder`` with an audit hook; returns (result, [(event, path, writing, during_import)]) with
    the reads of Python's own files (its library, site-packages, convlint's source) left out."""
    log = os.path.join(str(folder), os.pardir, "opened.log")
    result = subprocess.run([sys.executable, "-c", AUDITED_RUN, log, *args], capture_output=True, text=True,
                            cwd=str(folder), timeout=120, env=dict(os.environ, NO_COLOR="1"))
    with open(log) as f:
        import ast

        records, python = ast.literal_eval(f.read())
    return result, [r for r in records if r[2] or not any(_under(r[1], root) for root in python)]


def _under(path, root) -> bool:
    path = os.path.realpath(path)
    return os.path.commonpath([root, path]) == root


def outside(records, folder):
    """Reads outside ``folder`` that are not Python importing modules (writes to temporary files are fine)."""
    return sorted({path for event, path, writing, importing in records
                   if not importing and not writing and not _under(path, os.path.realpath(str(folder)))})


class _Inotify:
    """Watches one file for opens and reads by any process, C code included (onnxruntime's too)."""

    def __init__(self, path):
        import ctypes

        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK)
        if self.fd < 0 or self.libc.inotify_add_watch(self.fd, os.fsencode(path), 0x1 | 0x20) < 0:  # ACCESS | OPEN
            raise OSError("inotify is not available")

    def touched(self) -> bool:
        try:
            return bool(os.read(self.fd, 4096))
        except BlockingIOError:
            return False


def test_never_opens_external_data_nor_anything_outside_the_folder(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / ".git").mkdir()  # the configuration search stops here: this test is about the model, not the project
    model = model_from_text(CLEAN_CONV.replace("float[N, 3, H, W] image", "float[N, 1, H, W] image"))
    [w] = model.graph.initializer
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value="weights.bin")
    save(folder, model)
    data = folder / "weights.bin"
    data.write_bytes(bytes(4 * 108))
    try:
        watch = _Inotify(str(data))
    except (OSError, AttributeError):
        watch = None
    # The error finding is verified in onnxruntime too: the replay must not read the weights either.
    result, records = audited_run(folder, "model.onnx")
    assert result.returncode == 1, result.stderr
    assert "CL101" in result.stdout
    assert str(folder / "model.onnx") in [path for event, path, _, _ in records if event == "open"]
    assert str(data) not in [path for _, path, _, _ in records]
    assert outside(records, folder) == []
    if watch is not None:
        assert not watch.touched(), "something opened the external data file"


@pytest.mark.parametrize("location", ["../secret.bin", "SECRET_ABS", "link.bin"])
def test_hostile_external_data_is_never_opened(tmp_path, location):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(bytes(4 * 108))
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / ".git").mkdir()
    os.symlink(str(secret), str(folder / "link.bin"))
    external_model(folder, str(secret) if location == "SECRET_ABS" else location, data_bytes=None)
    result, records = audited_run(folder, "model.onnx")
    assert_input_error(result)
    assert outside(records, folder) == []
    assert str(secret) not in [path for _, path, _, _ in records]
    assert str(folder / "link.bin") not in [path for _, path, _, _ in records]
