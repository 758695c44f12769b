"""Property tests: on random matrix products and batch normalizations, convlint's static verdict agrees with
onnxruntime running the node, and verification confirms every error (see :mod:`differential`).

Gemm: rank-2 operands with transA/transB, inner dimensions that match or not, a bias C that broadcasts to the output
or not. MatMul: operands of rank 1 to 4 whose inner dimensions and batch dimensions broadcast or not.
BatchNormalization: inputs of rank 2 to 5 and parameters with one value per channel, or a wrong count.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import helper

from differential import check, model

EXAMPLES = int(os.environ.get("CONVLINT_DIFFERENTIAL_EXAMPLES", "2000"))
DERANDOMIZE = not os.environ.get("CONVLINT_DIFFERENTIAL_RANDOM")
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _off(draw, value: int) -> int:
    """``value`` most of the time; otherwise another small size."""
    kind = draw(st.sampled_from(["same"] * 5 + ["off", "one", "random"]))
    if kind == "same":
        return value
    if kind == "off":
        return max(1, value + draw(st.sampled_from([-1, 1])))
    if kind == "one":
        return 1
    return draw(st.integers(1, 6))


@st.composite
def gemms(draw):
    m, k, n = draw(st.integers(1, 5)), draw(st.integers(1, 6)), draw(st.integers(1, 5))
    trans_a, trans_b = draw(st.booleans()), draw(st.booleans())
    kb = _off(draw, k)
    a = [k, m] if trans_a else [m, k]
    b = [n, kb] if trans_b else [kb, n]
    attrs = {}
    if trans_a or draw(st.booleans()):
        attrs["transA"] = int(trans_a)
    if trans_b or draw(st.booleans()):
        attrs["transB"] = int(trans_b)
    inits, inputs = {"B": b}, ["A", "B"]
    bias = draw(st.sampled_from(["none", "n", "1n", "mn", "m1", "scalar", "wrong", "rank3"]))
    if bias != "none":
        inits["C"] = {"n": [n], "1n": [1, n], "mn": [m, n], "m1": [m, 1], "scalar": [1],
                      "wrong": [_off(draw, n), _off(draw, m)][draw(st.integers(0, 1)):],
                      "rank3": [1, m, n]}[bias]
        inputs.append("C")
    node = helper.make_node("Gemm", inputs, ["Y"], name="fc", **attrs)
    if draw(st.integers(0, 3)) == 0:  # sometimes B is an activation too
        del inits["B"]
        return model([node], {"A": a, "B": b}, inits, ["Y"])
    return model([node], {"A": a}, inits, ["Y"])


@st.composite
def matmuls(draw):
    ra, rb = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    batch = [draw(st.integers(1, 3)) for _ in range(max(ra, rb) - 2)] if max(ra, rb) > 2 else []
    m, k, n = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 4))

    def operand(rank, last_two):
        own = batch[len(batch) - (rank - 2):] if rank > 2 else []
        own = [_off(draw, d) if draw(st.integers(0, 3)) == 0 else d for d in own]
        return own + last_two

    a = [k] if ra == 1 else operand(ra, [m, k])
    kb = _off(draw, k)
    b = [kb] if rb == 1 else operand(rb, [kb, n])
    node = helper.make_node("MatMul", ["A", "B"], ["Y"], name="matmul")
    if draw(st.booleans()):
        return model([node], {"A": a}, {"B": b}, ["Y"])
    return model([node], {"A": a, "B": b}, {}, ["Y"])


@st.composite
def batch_norms(draw):
    rank = draw(st.integers(2, 5))
    c = draw(st.integers(1, 6))
    x = [draw(st.integers(1, 3)), _off(draw, c)] + [draw(st.integers(1, 4)) for _ in range(rank - 2)]
    params = {}
    for name in ("scale", "B", "mean", "var"):
        shape = [c]
        if draw(st.integers(0, 5)) == 0:
            shape = [_off(draw, c)]
        if draw(st.integers(0, 11)) == 0:
            shape = [c, 1]
        params[name] = shape
    node = helper.make_node("BatchNormalization", ["X", "scale", "B", "mean", "var"], ["Y"], name="bn")
    return model([node], {"X": x}, params, ["Y"])  # random values in [0, 1): the variance stays non-negative


@SETTINGS
@given(gemms())
def test_convlint_agrees_with_onnxruntime_on_gemm(m):
    problem = check(m, rules=("CL22",))
    assert problem is None, problem


@SETTINGS
@given(matmuls())
def test_convlint_agrees_with_onnxruntime_on_matmul(m):
    problem = check(m, rules=("CL22",))
    assert problem is None, problem


@SETTINGS
@given(batch_norms())
def test_convlint_agrees_with_onnxruntime_on_batch_normalization(m):
    problem = check(m, rules=("CL32",))
    assert problem is None, problem
