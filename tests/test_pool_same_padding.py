"""CL109 pool-same-padding against the real thing: onnxruntime's pooling under SAME padding (dilated: another size;
undilated MaxPool: refused where its padding comes out negative), the sizes ONNX defines (onnx's reference evaluator
and shape inference), and the explicit padding the hint gives."""

from __future__ import annotations

import itertools
import re
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import sympy
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import convlint

OPS = ("MaxPool", "AveragePool", "LpPool")
SAME = ("SAME_UPPER", "SAME_LOWER")
SESSION = ort.SessionOptions()
SESSION.log_severity_level = 4  # onnxruntime logs the size mismatch; the test measures it instead
SESSION.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL


def _model(op, dims, attrs, extra=None):
    """One pooling node on x of shape (1, 1, *dims) (ints or names), opset 19 (dilated AveragePool needs it)."""
    node = helper.make_node(op, ["x"], ["y"], name="pool", **attrs, **(extra or {}))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, *dims])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    return helper.make_model(helper.make_graph([node], "g", [x], [y]), opset_imports=[helper.make_opsetid("", 19)])


def _same(op, dims, kernel, dilations, strides, auto_pad, ceil_mode=0):
    attrs = dict(auto_pad=auto_pad, kernel_shape=kernel, dilations=dilations, strides=strides)
    if ceil_mode:
        attrs["ceil_mode"] = 1
    return _model(op, dims, attrs)


def _ort(model, x):
    """onnxruntime's output, or its error message."""
    try:
        sess = ort.InferenceSession(model.SerializeToString(), SESSION, providers=["CPUExecutionProvider"])
        return sess.run(None, {"x": x})[0]
    except Exception as e:  # onnxruntime raises several exception types
        return str(e)


def _reference(model, x):
    """onnx's reference evaluator's output, or None where it cannot run the case."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # empty windows average to nan
            return ReferenceEvaluator(model).run(None, {"x": x})[0]
    except Exception:
        return None


def _onnx_shape(model, ceil_mode):
    """The output shape ONNX defines: onnx's shape inference, which implements the specification's SAME formula,
    except with ceil_mode, where it pads first and gets a larger size than the specification says (MaxPool-22:
    "SAME_UPPER or SAME_LOWER: output_spatial_shape[i] = ceil(input_spatial_shape[i] / strides_spatial_shape[i])",
    with or without ceil_mode): there the specification's formula. The reference evaluator agrees where it runs
    (test below)."""
    if not ceil_mode:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True).graph.output[0]
        return tuple(d.dim_value for d in inferred.type.tensor_type.shape.dim)
    attrs = {a.name: helper.get_attribute_value(a) for a in model.graph.node[0].attribute}
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    return tuple(dims[:2]) + tuple(-(-n // s) for n, s in zip(dims[2:], attrs["strides"]))


def _finding(model):
    report = convlint.lint(model, verify=False)
    assert not report.input_errors, report.input_errors
    mine = [f for f in report.findings if f.rule == "CL109"]
    assert len(mine) <= 1
    return mine[0] if mine else None


SIZES = re.compile(r"ONNX defines the output as \(([^)]*)\), but onnxruntime (?:computes \(([^)]*)\)|fails)")


def _said(finding):
    """(ONNX's shape, onnxruntime's shape or None where it says onnxruntime fails) as the message gives them."""
    m = SIZES.search(finding.message)
    assert m, finding.message
    onnx_shape = tuple(int(d) for d in m.group(1).split(", "))
    return onnx_shape, tuple(int(d) for d in m.group(2).split(", ")) if m.group(2) else None


# The grid: the first spatial axis takes every (kernel, dilation, stride, size); the second cycles through a few
# axes of its own (a dilated kernel of 1, a mismatching axis, an undilated one), so that every node is dilated
# somewhere and some nodes differ on both axes.
SECOND = [(1, 2, 1, 3), (2, 2, 1, 5), (3, 2, 2, 7), (2, 3, 3, 4), (3, 1, 1, 4), (2, 2, 2, 1)]


def _grid():
    axes = list(itertools.product((2, 3), (1, 2, 3), (1, 2, 3), range(1, 9)))
    for n, (op, auto_pad, ceil_mode, first) in enumerate(itertools.product(OPS, SAME, (0, 1), axes)):
        if ceil_mode and op == "LpPool":
            continue
        second = SECOND[n % len(SECOND)]
        if first[1] == 1 and second[1] == 1:
            second = SECOND[0]
        yield op, auto_pad, ceil_mode, first, second


# Undilated: the first axis takes every (kernel, stride, size) where the kernel may be shorter than the last partial
# stride; the second cycles through a stride-1 axis, one onnxruntime's MaxPool refuses (kernel 2, stride 3, size 6),
# one whose padding is 0 and one whose padding is positive.
UNDILATED = [(1, 1, 1, 3), (2, 1, 3, 6), (1, 1, 2, 5), (3, 1, 2, 5)]


def _undilated_grid():
    axes = list(itertools.product((1, 2, 3), (1,), (2, 3, 4), range(1, 9)))
    for n, (op, auto_pad, ceil_mode, first) in enumerate(itertools.product(OPS, SAME, (0, 1), axes)):
        if not (ceil_mode and op == "LpPool"):
            yield op, auto_pad, ceil_mode, first, UNDILATED[n % len(UNDILATED)]


def _every_case():
    return itertools.chain(_grid(), _undilated_grid())


REFUSALS = ("Calculated output dimension is negative", "padding values must be non-negative")


def _axes_model(op, auto_pad, ceil_mode, first, second):
    (k0, d0, s0, n0), (k1, d1, s1, n1) = first, second
    return _same(op, (n0, n1), [k0, k1], [d0, d1], [s0, s1], auto_pad, ceil_mode), (1, 1, n0, n1)


def test_fires_exactly_when_onnxruntime_gives_another_size_than_onnx_or_refuses_and_says_both():
    rng = np.random.default_rng(0)
    counts = {"fired": 0, "silent": 0, **{words: 0 for words in REFUSALS}}
    for case in _every_case():
        model, shape = _axes_model(*case)
        x = rng.standard_normal(shape).astype(np.float32)
        expected = _onnx_shape(model, case[2])
        got = _ort(model, x)
        finding = _finding(model)
        if isinstance(got, str):
            [words] = [w for w in REFUSALS if w in got]
            assert finding is not None and finding.severity == "error", case
            assert _said(finding) == (expected, None), (case, finding.message)
            assert words in finding.message or "Calculated" in words, finding.message
            counts[words] += 1
        elif got.shape != expected:
            assert finding is not None and finding.severity == "warning", case
            assert _said(finding) == (expected, got.shape), (case, finding.message)
            counts["fired"] += 1
        else:
            assert finding is None, (case, finding.message)
            counts["silent"] += 1
    assert min(counts.values()) >= 50, counts


def test_onnx_reference_evaluator_agrees_on_the_sizes_where_it_runs():
    # Outside MaxPool SAME_LOWER: there the reference evaluator pads wrong (kernel 1, stride 2 on a size-1 input
    # gives an empty output), undilated too.
    compared = 0
    for case in _grid():
        op, auto_pad, ceil_mode = case[:3]
        if op == "MaxPool" and auto_pad == "SAME_LOWER":
            continue
        model, shape = _axes_model(*case)
        ref = _reference(model, np.ones(shape, np.float32))
        if ref is not None:
            assert ref.shape == _onnx_shape(model, ceil_mode), case
            compared += 1
    assert compared >= 400, compared


def _hint_pads(finding):
    m = re.search(r"pads to \[([^\]]*)\]", finding.hint)
    return [int(p) for p in m.group(1).split(", ")] if m else None


def _pad_node(finding):
    m = re.search(r"in a Pad node before this layer, pads \[([^\]]*)\] and value (\S+?),? ", finding.hint)
    return ([int(p) for p in m.group(1).split(", ")], float(m.group(2))) if m else None


def _close(ort_y, ref_y):
    # Windows that cover only padding: onnxruntime gives the lowest float (MaxPool) or 0, the reference 0 or nan.
    keep = np.isfinite(ref_y) & (np.abs(ort_y) < 1e30)
    return np.allclose(ort_y[keep], ref_y[keep], atol=1e-5)


@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_the_hint_padding_runs_in_onnxruntime_with_onnx_size(count_include_pad):
    rng = np.random.default_rng(1)
    explicit = padded = undilated = 0
    for op, auto_pad, ceil_mode, first, second in _every_case():
        if count_include_pad and op != "AveragePool":
            continue
        extra = {"count_include_pad": count_include_pad} if op == "AveragePool" else {}
        model, shape = _axes_model(op, auto_pad, ceil_mode, first, second)
        finding = _finding(model)
        if finding is None:
            continue
        x = rng.standard_normal(shape).astype(np.float32)
        expected = _onnx_shape(model, ceil_mode)
        attrs = {a.name: helper.get_attribute_value(a) for a in model.graph.node[0].attribute if a.name != "auto_pad"}
        pads = _hint_pads(finding)
        if pads is not None:
            fixed = _model(op, shape[2:], dict(attrs, pads=pads), extra)
            y, ref = _ort(fixed, x), _reference(fixed, x)
            assert not isinstance(y, str), (op, auto_pad, first, second, y)
            explicit += 1
            undilated += first[1] == second[1] == 1
        else:
            pad_pads, value = _pad_node(finding)
            assert value == (-np.inf if op == "MaxPool" else 0.0)
            assert count_include_pad or op != "AveragePool" or "count_include_pad=0" in finding.hint
            y = _ort(_model(op, [n + sum(pad_pads[i::4]) for i, n in enumerate(shape[2:], 2)],
                            dict(attrs, auto_pad="VALID"), extra), np.pad(x, np.reshape(pad_pads, (2, 4)).T,
                                                                          constant_values=value))
            ref = _reference(_model(op, shape[2:], dict(attrs, pads=pad_pads[2:4] + pad_pads[6:]), extra), x)
            assert not isinstance(y, str), (op, auto_pad, first, second, y)
            padded += 1
        assert y.shape == expected, (op, auto_pad, ceil_mode, first, second, y.shape, expected)
        if ref is not None and not (op == "AveragePool" and not count_include_pad and pads is None):
            assert _close(y, ref), (op, auto_pad, ceil_mode, first, second)
    assert explicit >= 100 and padded >= 20 and (count_include_pad or undilated >= 50), (explicit, padded, undilated)


def _expression(text):
    """A dim as the message prints it (``⌈(H-2)/2⌉``) as a sympy expression."""
    for a, b in (("⌈", "ceiling("), ("⌉", ")"), ("⌊", "floor("), ("⌋", ")"), ("·", "*")):
        text = text.replace(a, b)
    return sympy.sympify(text, locals={"H": sympy.Symbol("H", integer=True, positive=True)})


SYMBOLIC = re.compile(r"computes \(1, 1, (.*?)\)(?: for H >= (\d+))?, as ")


@pytest.mark.parametrize("op", OPS)
def test_symbolic_sizes_hold_for_every_size_they_are_said_for(op):
    H = sympy.Symbol("H", integer=True, positive=True)
    checked = 0
    for auto_pad, k, d, s, ceil_mode in itertools.product(SAME, (2, 3), (2, 3), (1, 2, 3), (0, 1)):
        if ceil_mode and op == "LpPool":
            continue
        finding = _finding(_same(op, ("H",), [k], [d], [s], auto_pad, ceil_mode))
        for h in range(1, 13):
            concrete = _same(op, (h,), [k], [d], [s], auto_pad, ceil_mode)
            x = np.ones((1, 1, h), np.float32)
            onnx_size = _onnx_shape(concrete, ceil_mode)[2]
            got = _ort(concrete, x)
            got = None if isinstance(got, str) else got.shape[2]
            if finding is None:
                assert got == onnx_size, (auto_pad, k, d, s, ceil_mode, h)
                continue
            assert f"ONNX defines the output as (1, 1, ⌈H/{s}⌉)" in finding.message or s == 1 and \
                "ONNX defines the output as (1, 1, H)" in finding.message, finding.message
            m = SYMBOLIC.search(finding.message)
            if h >= int(m.group(2) or 1):
                assert got == _expression(m.group(1)).subs(H, h) != onnx_size, (finding.message, h, got)
                checked += 1
    assert checked >= 200, checked


@pytest.mark.parametrize("strides,onnx_shape,ort_shape", [([1, 1], (1, 1, 6, 6), (1, 1, 4, 4)),
                                                          ([2, 2], (1, 1, 3, 3), (1, 1, 2, 2))])
def test_the_documented_example(strides, onnx_shape, ort_shape):
    model = _same("MaxPool", (6, 6), [3, 3], [2, 2], strides, "SAME_UPPER")
    x = np.ones((1, 1, 6, 6), np.float32)
    assert _ort(model, x).shape == ort_shape and _reference(model, x).shape == onnx_shape
    finding = _finding(model)
    assert (finding.severity, _said(finding)) == ("warning", (onnx_shape, ort_shape))


def test_a_size_onnxruntime_refuses_is_an_error_it_confirms():
    report = convlint.lint(_same("AveragePool", (1, 8), [3, 3], [2, 2], [1, 1], "SAME_LOWER"))
    [finding] = report.findings
    assert finding.severity == "error" and "gets an output height of -1" in finding.message
    assert finding.verification.status == "confirmed"
    assert "Calculated output dimension is negative" in finding.verification.message


def _condition(finding):
    """The sizes the message says onnxruntime runs the layer for, as a predicate (``H % 3 in {1, 2}``)."""
    m = re.search(r"onnxruntime runs it only when (.*) \(smallest", finding.message)
    return lambda h: eval(m.group(1), {}, {"H": h})


@pytest.mark.parametrize("auto_pad", SAME)
def test_undilated_max_pool_on_a_symbolic_size_fires_with_the_sizes_onnxruntime_runs(auto_pad):
    fired = 0
    for k, s, ceil_mode in itertools.product((1, 2, 3), (1, 2, 3, 4), (0, 1)):
        finding = _finding(_same("MaxPool", ("H",), [k], [1], [s], auto_pad, ceil_mode))
        runs = [not isinstance(_ort(_same("MaxPool", (h,), [k], [1], [s], auto_pad, ceil_mode),
                                    np.ones((1, 1, h), np.float32)), str) for h in range(1, 13)]
        assert (finding is not None) == (not all(runs)), (k, s, ceil_mode, finding)
        if finding is not None:
            assert finding.severity == "warning" and "padding values must be non-negative" in finding.message
            assert [_condition(finding)(h) for h in range(1, 13)] == runs, (finding.message, runs)
            fired += 1
    assert fired >= 8, fired


def test_undilated_max_pool_refused_for_every_size_is_an_error():
    # H = 2W with stride 4: the last partial stride is 2 or 4, longer than the kernel of 1 whatever W is
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "W"])
    concat = helper.make_node("Concat", ["x", "x"], ["xx"], axis=2)
    node = helper.make_node("MaxPool", ["xx"], ["y"], auto_pad="SAME_UPPER", kernel_shape=[1], strides=[4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    model = helper.make_model(helper.make_graph([concat, node], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 19)])
    for w in range(1, 9):
        assert "padding values must be non-negative" in _ort(model, np.ones((1, 1, w), np.float32))
    finding = _finding(model)
    assert finding.severity == "error" and "for every value of W" in finding.message, finding.message


@pytest.mark.parametrize("outputs,elem_type,runs", [
    (["y"], TensorProto.FLOAT, False), (["y"], TensorProto.FLOAT16, False), (["y", "i"], TensorProto.FLOAT, True),
    (["y", ""], TensorProto.FLOAT, True), (["y"], TensorProto.DOUBLE, True), (["y"], TensorProto.INT8, True),
    (["y"], TensorProto.UINT8, True)])
def test_only_the_mlas_max_pool_refuses_negative_padding(outputs, elem_type, runs):
    node = helper.make_node("MaxPool", ["x"], outputs, auto_pad="SAME_LOWER", kernel_shape=[2, 2], strides=[3, 3])
    x = helper.make_tensor_value_info("x", elem_type, [1, 1, 6, 7])
    ys = [helper.make_tensor_value_info("y", elem_type, None)] + \
        [helper.make_tensor_value_info(o, TensorProto.INT64, None) for o in outputs[1:] if o]
    model = helper.make_model(helper.make_graph([node], "g", [x], ys), opset_imports=[helper.make_opsetid("", 19)])
    data = np.ones((1, 1, 6, 7), helper.tensor_dtype_to_np_dtype(elem_type))
    got = _ort(model, data)
    assert isinstance(got, str) != runs, got
    assert runs or "padding values must be non-negative" in got
    assert (_finding(model) is None) == runs


def test_the_documented_refusal_is_an_error_onnxruntime_confirms_and_the_hint_runs():
    model = _same("MaxPool", (6, 6), [2, 2], [1, 1], [3, 3], "SAME_UPPER")
    x = np.ones((1, 1, 6, 6), np.float32)
    assert "padding values must be non-negative" in _ort(model, x) and _reference(model, x).shape == (1, 1, 2, 2)
    [finding] = convlint.lint(model).findings
    assert finding.severity == "error" and _said(finding) == ((1, 1, 2, 2), None)
    assert finding.verification.status == "confirmed"
    assert "padding values must be non-negative" in finding.verification.message
    fixed = _model("MaxPool", (6, 6), dict(kernel_shape=[2, 2], strides=[3, 3], pads=_hint_pads(finding)))
    assert _ort(fixed, x).shape == (1, 1, 2, 2)
