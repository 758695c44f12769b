"""Property test: on random convolutions, convlint's static verdict (CL101-CL108) agrees with onnxruntime.

Each example is one Conv or ConvTranspose of rank 1-3, with random channels, groups, kernel, strides, dilations,
explicit pads or auto_pad (dilated SAME padding included), an output_padding below, at or past the stride, an input
that may be too small, a weight that fits the input or not (wrong channels, wrong rank, a stale kernel_shape) and a
bias that is right, wrong or absent. convlint must report an error exactly when onnxruntime refuses to run the
layer, and verification must confirm every error it reports.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from onnx import helper

from differential import SETTINGS, check, model


def _perturb(draw, value: int) -> int:
    """``value`` most of the time; otherwise a nearby or random positive size."""
    kind = draw(st.sampled_from(["same"] * 6 + ["off", "random"]))
    if kind == "same":
        return value
    if kind == "off":
        return max(1, value + draw(st.sampled_from([-1, 1])))
    return draw(st.integers(1, 8))


SIZES = st.one_of(st.integers(1, 3), st.integers(1, 10))  # small sizes often: windows then barely fit, or not


@st.composite
def convolutions(draw):
    rank = draw(st.integers(1, 3))
    transposed = draw(st.booleans())
    group = draw(st.sampled_from([1, 1, 1, 2, 3, 4]))
    c = group * draw(st.integers(1, 3))
    m = group * draw(st.integers(1, 3))
    if draw(st.integers(0, 4)) == 0:  # channels that group does not divide
        c, m = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    kernel = [draw(st.integers(1, 4)) for _ in range(rank)]
    attrs = {}
    if group != 1 or draw(st.booleans()):
        attrs["group"] = group
    if draw(st.booleans()):
        attrs["strides"] = [draw(st.integers(1, 3)) for _ in range(rank)]
    if draw(st.booleans()):
        attrs["dilations"] = [draw(st.integers(1, 3)) for _ in range(rank)]
    auto_pad = draw(st.sampled_from(["NOTSET", "NOTSET", "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"]))
    if auto_pad != "NOTSET":
        attrs["auto_pad"] = auto_pad
    elif draw(st.booleans()):
        attrs["pads"] = [draw(st.integers(0, 3)) for _ in range(2 * rank)]
    if transposed and draw(st.booleans()):  # up to stride + 1: below the stride, at it, past it and the dilation
        attrs["output_padding"] = [draw(st.integers(0, s + 1)) for s in attrs.get("strides", [1] * rank)]

    x = [draw(st.integers(1, 2)), _perturb(draw, c)] + [draw(SIZES) for _ in range(rank)]
    w = [c, m // group if m % group == 0 else max(1, m // group)] if transposed else \
        [m, c // group if c % group == 0 else max(1, c // group)]
    w = [_perturb(draw, w[0]), _perturb(draw, w[1])] + kernel
    weight_rank = draw(st.sampled_from(["same"] * 12 + ["fewer", "more"]))
    if weight_rank == "fewer":
        w = w[:-1]
    elif weight_rank == "more":
        w = w + [draw(st.integers(1, 3))]
    if draw(st.integers(0, 3)) == 0:
        stale = [_perturb(draw, k) for k in kernel]
        attrs["kernel_shape"] = stale
    out_channels = w[1] * group if transposed else w[0]
    bias = draw(st.sampled_from(["none", "none", "right", "right", "length", "rank"]))
    inits = {"w": w}
    inputs = ["x", "w"]
    if bias != "none":
        inits["b"] = {"right": [out_channels], "length": [_perturb(draw, out_channels) + (0 if draw(st.booleans())
                                                                                          else 1)],
                      "rank": [out_channels, 1]}[bias]
        inputs.append("b")
    op = "ConvTranspose" if transposed else "Conv"
    node = helper.make_node(op, inputs, ["y"], name="layer", **attrs)
    return model([node], {"x": x}, inits, ["y"])


@SETTINGS
@given(convolutions())
def test_convlint_agrees_with_onnxruntime_on_convolutions(m):
    problem = check(m, rules=("CL1",))
    assert problem is None, problem
