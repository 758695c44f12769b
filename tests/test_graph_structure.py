"""Weights the graph computes, subgraphs and symbolic dims: faults are found wherever the model puts them."""

from __future__ import annotations

import convlint
from convlint.examples import model_from_text

from conftest import ort_run

H = '<ir_version: 8, opset_import: ["": 17]>'


def _errors(text):
    report = convlint.lint(model_from_text(text))
    assert not report.input_errors, report.input_errors
    return [(f.rule, f.node) for f in report.errors], report


def test_weight_from_constant_of_shape_chain():
    # The weight's shape is assembled at run time: Concat of constants -> ConstantOfShape, as "light" models do.
    text = H + """
    g (float[N, 1, H, W] x) => (float[N, 4, H2, W2] y) {
        out_ch = Constant <value = int64[1] {4}> ()
        rest = Constant <value = int64[3] {3, 3, 3}> ()
        wshape = Concat <axis = 0> (out_ch, rest)
        w = ConstantOfShape <value = float[1] {0.5}> (wshape)
        [conv] y = Conv (x, w)
    }"""
    errors, _ = _errors(text)
    assert errors == [("CL101", "conv")]
    assert ort_run(model_from_text(text)) is not None


def test_weight_reshaped_from_flat_initializer_via_shape_gather():
    # w = Reshape(flat, [Shape(x)[1] * 4, 3, 3, 3] / ...): shape data folded through Shape, Gather, Mul, Concat.
    text = H + """
    g (float[1, 2, 8, 8] x) => (float[1, 8, 6, 6] y) <float[216] flat> {
        s = Shape (x)
        idx = Constant <value = int64[1] {1}> ()
        c = Gather <axis = 0> (s, idx)
        four = Constant <value = int64[1] {4}> ()
        m = Mul (c, four)
        rest = Constant <value = int64[3] {3, 3, 3}> ()
        wshape = Concat <axis = 0> (m, rest)
        w = Reshape (flat, wshape)
        [conv] y = Conv (x, w)
    }"""
    errors, report = _errors(text)
    assert errors == [("CL101", "conv")]
    assert "weight 'w' (8, 3, 3, 3)" in report.errors[0].message
    assert ort_run(model_from_text(text)) is not None


def test_weight_through_transpose_and_unsqueeze():
    text = H + """
    g (float[1, 3, 8, 8] x) => (float[1, 4, 6, 6] y) <float[3, 4, 3, 3] wt> {
        w = Transpose <perm = [1, 0, 2, 3]> (wt)
        [conv] y = Conv (x, w)
    }"""
    errors, _ = _errors(text)
    assert errors == []
    assert ort_run(model_from_text(text)) is None


def test_fault_inside_if_branch_uses_outer_scope_values():
    text = H + """
    g (float[1, 1, 8, 8] x, bool cond) => (float[1, 4, 6, 6] y) <float[4, 3, 3, 3] w> {
        y = If (cond) <
            then_branch = then_g () => (float[1, 4, 6, 6] a) { [inner_conv] a = Conv (x, w) },
            else_branch = else_g () => (float[1, 4, 6, 6] b) { [relu] b0 = Relu (x) [pad] b = Pad (b0, p) }
        >
    }"""
    # 'p' is undefined inside the else branch: both faults come out in one run.
    errors, _ = _errors(text)
    assert sorted(errors) == [("CL003", "pad"), ("CL101", "inner_conv")]


def test_fault_inside_loop_body():
    text = H + """
    g (float[1, 1, 8, 8] x, int64 n) => (float[1, 1, 8, 8] out) <float[4, 3, 3, 3] w> {
        cond = Constant <value = bool {1}> ()
        out = Loop (n, cond, x) <body = body (int64 i, bool c, float[1, 1, 8, 8] acc) => (bool c2, float[1, 1, 8, 8] acc2) {
            c2 = Identity (c)
            [body_conv] t = Conv <pads = [1, 1, 1, 1]> (acc, w)
            acc2 = Identity (acc)
        }>
    }"""
    errors, _ = _errors(text)
    assert errors == [("CL101", "body_conv")]


def test_symbolic_dims_keep_the_models_names():
    text = H + """
    g (float[batch, 3, rows, 5] x) => (float[batch, 4, rows2, 1] y) <float[4, 3, 3, 7] w> {
        [conv] y = Conv (x, w)
    }"""
    errors, report = _errors(text)
    assert errors == [("CL106", "conv")]
    msg = report.errors[0].message
    assert "width 5" in msg and "kernel 7" in msg
    # rows stays symbolic and silent: the kernel of 3 fits whenever rows >= 3
    text2 = text.replace("float[batch, 3, rows, 5]", "float[batch, 3, rows, 9]")
    assert _errors(text2)[0] == []


def test_window_check_for_every_value_of_a_symbol():
    # a 1-row input under a 3-row kernel fails whatever W is; W itself stays symbolic
    text = H + """
    g (float[N, 3, 1, W] x) => (float[N, 4, 1, W2] y) <float[4, 3, 3, 1] w> {
        [conv] y = Conv (x, w)
    }"""
    errors, report = _errors(text)
    assert errors == [("CL106", "conv")]
    assert "height 1" in report.errors[0].message


def test_opset_7_model_is_read_normally():
    text = '<ir_version: 3, opset_import: ["": 7]>' + """
    g (float[1, 1, 8, 8] x) => (float[1, 4, 6, 6] y) <float[4, 3, 3, 3] w> { [conv] y = Conv (x, w) }"""
    errors, report = _errors(text)
    assert errors == [("CL101", "conv")]
    assert not [f for f in report.findings if f.rule == "CL001"]
