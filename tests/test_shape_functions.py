"""Shape functions on symbolic inputs, one small ONNX model per behaviour: the propagated shapes are the formulas a
user reads (``ceiling(T/3)``, ``Min(32, T)``), and onnxruntime agrees with them at several sizes of the symbols."""

from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
import sympy

from convlint.core import dims
from convlint.core.compare import equal as dims_equal

from shape_oracle import compare, propagated, run_all, sizes_from_feeds

HEADER = '<ir_version: 9, opset_import: ["" : {opset}]>\n'

# name: (opset, graph text, {value: expected shape}, sizes of the symbols to run it at)
CASES = {
    "reshape-0-and-minus-1": (18, """
        g (float[N, T, 16] x) => (float[N, 4, ?] y) {
            s = Constant <value = int64[3] {0, 4, -1}> ()
            y = Reshape (x, s)
        }""", {"y": "(N, 4, 4*T)"}, [{"N": 2, "T": 3}, {"N": 1, "T": 7}]),
    "reshape-to-folded-symbolic-shape": (18, """
        g (float[N, T, 16] x) => (float[N, T, 2, 8] y) {
            sh = Shape (x)
            n = Slice (sh, zero, one)
            t = Slice (sh, one, two)
            heads = Constant <value = int64[2] {2, -1}> ()
            target = Concat <axis = 0> (n, t, heads)
            y = Reshape (x, target)
        }""", {"y": "(N, T, 2, 8)", "target": "(4,)"}, [{"N": 2, "T": 5}, {"N": 3, "T": 1}]),
    "expand-to-symbolic-shape": (18, """
        g (float[1, T, 1] x, float[N] ref) => (float[N, T, 5] y) {
            n = Shape (ref)
            rest = Constant <value = int64[2] {1, 5}> ()
            target = Concat <axis = 0> (n, rest)
            y = Expand (x, target)
        }""", {"y": "(N, T, 5)"}, [{"N": 2, "T": 3}, {"N": 4, "T": 1}]),
    "where-broadcasts": (18, """
        g (bool[1, T] c, float[N, 1] a, float b) => (float[N, T] y) {
            y = Where (c, a, b)
        }""", {"y": "(N, T)"}, [{"N": 2, "T": 3}, {"N": 1, "T": 4}]),
    "range-over-a-symbolic-length": (18, """
        g (float[N, T] x) => (int64[T] r, int64[?] odd) {
            sh = Shape (x)
            t = Gather <axis = 0> (sh, one_scalar)
            r = Range (zero_scalar, t, one_scalar)
            odd = Range (one_scalar, t, two_scalar)
        }""", {"r": "(T,)", "odd": "(ceiling((T - 1)/2),)"}, [{"N": 2, "T": 6}, {"N": 1, "T": 7}, {"N": 1, "T": 1}]),
    "causal-mask-from-trilu-and-constant-of-shape": (18, """
        g (float[N, T, 8] x) => (float[N, T, T] y) {
            sh = Shape (x)
            t = Slice (sh, one, two)
            tt = Concat <axis = 0> (t, t)
            ones = ConstantOfShape <value = float[1] {1.0}> (tt)
            mask = Trilu <upper = 0> (ones)
            keep = Equal (mask, zero_float)
            xt = Transpose <perm = [0, 2, 1]> (x)
            scores = MatMul (x, xt)
            y = Where (keep, neg_inf, scores)
        }""", {"ones": "(T, T)", "mask": "(T, T)", "y": "(N, T, T)"}, [{"N": 2, "T": 5}, {"N": 1, "T": 2}]),
    "slice-of-a-buffer-to-a-symbolic-end": (18, """
        g (float[N, T] x, float[1, 32] buffer) => (float[1, ?] y) {
            sh = Shape (x)
            t = Slice (sh, one, two)
            y = Slice (buffer, zero, t, one)
        }""", {"y": "(1, Min(32, T))"}, [{"N": 2, "T": 5}, {"N": 1, "T": 40}]),
    "slice-negative-and-reversed": (18, """
        g (float[N, T] x) => (float[N, ?] inner, float[N, T] reversed, float[N, 1] last) {
            inner = Slice (x, one, minus_one, one)
            reversed = Slice (x, minus_one, int_min, one, minus_one)
            last = Slice (x, minus_one, int_max, one)
        }""", {"inner": "(N, Max(0, T - 2))", "reversed": "(N, T)", "last": "(N, 1)"},
        [{"N": 2, "T": 5}, {"N": 3, "T": 2}, {"N": 1, "T": 1}]),
    "softmax-and-log-softmax": (11, """
        g (float[N, T, 8] x) => (float[N, T, 8] y, float[N, T, 8] z) {
            y = Softmax <axis = 1> (x)
            z = LogSoftmax (x)
        }""", {"y": "(N, T, 8)", "z": "(N, T, 8)"}, [{"N": 2, "T": 3}]),
    "matmul-broadcasts-batch-dims-and-vectors": (18, """
        g (float[N, 1, T, 8] a, float[4, 8, S] b, float[8] v, float[N, 8, 3] m)
            => (float[N, 4, T, S] y, float[N, 3] z) {
            y = MatMul (a, b)
            z = MatMul (v, m)
        }""", {"y": "(N, 4, T, S)", "z": "(N, 3)"}, [{"N": 2, "T": 3, "S": 5}, {"N": 1, "T": 1, "S": 2}]),
    "einsum-through-onnx-inference": (18, """
        g (float[N, T, 8] a, float[N, 8, S] b) => (float[N, T, S] y) {
            y = Einsum <equation = "bij,bjk->bik"> (a, b)
        }""", {"y": "(N, T, S)"}, [{"N": 2, "T": 3, "S": 4}]),
    "layer-normalization-with-statistics": (18, """
        g (float[N, T, 8] x, float[8] scale) => (float[N, T, 8] y, float[N, T, 1] mean, float[N, T, 1] inv) {
            y, mean, inv = LayerNormalization <axis = -1> (x, scale)
        }""", {"y": "(N, T, 8)", "mean": "(N, T, 1)", "inv": "(N, T, 1)"}, [{"N": 2, "T": 3}]),
    "split-13-by-sizes": (13, """
        g (float[N, 12] x) => (float[N, 4] a, float[N, 8] b) {
            sizes = Constant <value = int64[2] {4, 8}> ()
            a, b = Split <axis = 1> (x, sizes)
        }""", {"a": "(N, 4)", "b": "(N, 8)"}, [{"N": 3}]),
    "split-18-uneven-symbolic": (18, """
        g (float[N, T] x) => (float[N, ?] a, float[N, ?] b, float[N, ?] c) {
            a, b, c = Split <axis = 1, num_outputs = 3> (x)
        }""", {"a": "(N, ceiling(T/3))", "c": "(N, T - 2*ceiling(T/3))"}, [{"N": 2, "T": 7}, {"N": 1, "T": 11}]),
    "resize-by-scales-and-by-sizes-on-axes": (18, """
        g (float[N, 3, H, W] x, float[N, 3, H2, W2] like)
            => (float[N, 3, ?, ?] up, float[N, 3, ?, ?] down, float[N, 3, ?, ?] to) {
            up = Resize <mode = "nearest"> (x, , up_scales)
            down = Resize <mode = "linear"> (x, , down_scales)
            sh = Shape (like)
            hw = Slice (sh, two, four)
            to = Resize <axes = [2, 3]> (x, , , hw)
        }""", {"up": "(N, 3, 2*H, 2*W)", "down": "(N, 3, floor(H/2), floor(W/2))", "to": "(N, 3, H2, W2)"},
        [{"N": 1, "H": 5, "W": 8, "H2": 3, "W2": 9}, {"N": 2, "H": 4, "W": 7, "H2": 10, "W2": 2}]),
}

CONSTANTS = """
    <int64[1] zero = {0}, int64[1] one = {1}, int64[1] two = {2}, int64[1] four = {4}, int64[1] minus_one = {-1},
     int64[1] int_max = {9223372036854775807}, int64[1] int_min = {-9223372036854775808},
     int64 zero_scalar = {0}, int64 one_scalar = {1}, int64 two_scalar = {2}, float zero_float = {0.0},
     float neg_inf = {-1e30}, float[4] up_scales = {1.0, 1.0, 2.0, 2.0}, float[4] down_scales = {1.0, 1.0, 0.5, 0.5}>
"""


def model_of(opset: int, text: str) -> onnx.ModelProto:
    head, body = text.split("{", 1)
    model = onnx.parser.parse_model(HEADER.format(opset=opset) + head + CONSTANTS + "{" + body)
    used = {name for node in model.graph.node for name in node.input}
    keep = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    onnx.checker.check_model(model)
    return model


def parse_shape(text: str) -> tuple:
    functions = ("floor", "ceiling", "Min", "Max")
    names = {n: dims.symbol(n) for n in re.findall(r"[A-Za-z_]\w*", text) if n not in functions}
    return tuple(dims.norm(d) for d in sympy.sympify(text, locals=names))


def feeds_for(model: onnx.ModelProto, sizes: dict) -> dict:
    rng = np.random.default_rng(0)
    out = {}
    inits = {t.name for t in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else sizes[d.dim_param] for d in tt.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)
        out[vi.name] = rng.random(shape) > 0.5 if dtype == np.bool_ else rng.random(shape).astype(dtype)
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_symbolic_shapes_are_exact_and_match_onnxruntime(name):
    opset, text, expected, runs = CASES[name]
    model = model_of(opset, text)
    graph = propagated(model)
    assert graph.shape_errors == []
    for value, want in expected.items():
        got = graph.values[value].shape
        want = parse_shape(want)
        assert got is not None and len(got) == len(want), (value, got, want)
        assert all(dims_equal(g, w) for g, w in zip(got, want)), (value, dims.pretty_shape(got), want)
    for sizes in runs:
        inputs = feeds_for(model, sizes)
        result = compare(graph, run_all(model, inputs), sizes_from_feeds(graph, inputs))
        assert result.mismatches == [], sizes
        assert result.known == result.values, sizes
