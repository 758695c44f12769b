"""Rules that state conditions on symbolic sizes: each warning's condition is checked from both sides in
onnxruntime, the model running at the smallest size the warning names and refused at sizes that break it."""

from __future__ import annotations

import onnx
import pytest

import convlint
from convlint.examples import model_from_text
from convlint.rule import WARNING

from conftest import ort_run, run_cli

LINEAR_AFTER_FLATTEN = """<ir_version: 8, opset_import: ["": 17]>
g (float[N, 1, H, W] image) => (float[N, 128] logits)
<float[32, 1, 3, 3] conv1_w, float[64, 32, 3, 3] conv2_w, float[128, 9216] fc1_w, float[128] fc1_b>
{
  c1 = Conv<pads = [0, 0, 0, 0]>(image, conv1_w)
  c2 = Conv(c1, conv2_w)
  pooled = MaxPool<kernel_shape = [2, 2], strides = [2, 2]>(c2)
  flat = Flatten(pooled)
  logits = Gemm<transB = 1>(flat, fc1_w, fc1_b)
}"""

UNET_SKIP = """<ir_version: 8, opset_import: ["": 17]>
g (float[N, 8, H, W] x) => (float[N, 16, H2, W2] y)
<float[4] scales = {1.0, 1.0, 16.0, 16.0}>
{
  p1 = MaxPool<kernel_shape = [2, 2], strides = [2, 2]>(x)
  p2 = MaxPool<kernel_shape = [2, 2], strides = [2, 2]>(p1)
  p3 = MaxPool<kernel_shape = [2, 2], strides = [2, 2]>(p2)
  p4 = MaxPool<kernel_shape = [2, 2], strides = [2, 2]>(p3)
  up = Resize<mode = "nearest">(p4, "", scales)
  y = Concat<axis = 1>(x, up)
}"""

MISSING_PROJECTION = """<ir_version: 8, opset_import: ["": 17]>
g (float[N, 8, H, W] x) => (float[N, 8, H2, W2] y)
<float[8, 8, 3, 3] w>
{ c = Conv<pads = [1, 1, 1, 1], strides = [2, 2]>(x, w)  r = Relu(c)  y = Add(x, r) }"""

UNET_DEEP_BOTTLENECK = """<ir_version: 8, opset_import: ["": 17]>
g (float[N, 8, H, W] x) => (float[N, 16, H2, W2] y, float[N, 8, H3, W3] z)
<float[4] scales = {1.0, 1.0, 16.0, 16.0}, float[8, 8, 3, 3] w>
{
  p1 = MaxPool<kernel_shape = [2, 2], strides = [2, 2]>(x)
  p2 = MaxPool<kernel_shape = [2, 2], strides = [2, 2]>(p1)
  p3 = MaxPool<kernel_shape = [2, 2], strides = [2, 2]>(p2)
  p4 = MaxPool<kernel_shape = [2, 2], strides = [2, 2]>(p3)
  z = Conv(p4, w)
  up = Resize<mode = "nearest">(p4, "", scales)
  y = Concat<axis = 1>(x, up)
}"""

LAYER_NORM_NCHW = """<ir_version: 8, opset_import: ["": 17]>
g (float[N, 64, H, W] x) => (float[N, 64, H, W] y)
<float[64] s, float[64] b> { y = LayerNormalization<axis = -1>(x, s, b) }"""


def _only(text, code):
    report = convlint.lint(model_from_text(text))
    mine = [f for f in report.findings if f.rule == code]
    assert len(mine) == 1, [f.message for f in report.findings]
    assert [f for f in report.errors] == []
    return mine[0]


@pytest.mark.parametrize("text,code,runs,refused", [
    (LINEAR_AFTER_FLATTEN, "CL220", [28], [24, 30, 32]),
    (UNET_SKIP, "CL502", [16, 32], [8, 24, 40]),
    (MISSING_PROJECTION, "CL501", [1, 2], [3, 8]),
    (LAYER_NORM_NCHW, "CL322", [64], [1, 8, 63]),
    (UNET_DEEP_BOTTLENECK, "CL503", [48, 64], [16, 32, 56]),
], ids=["linear-after-flatten", "unet-skip", "missing-projection", "layer-norm-nchw", "unet-deep-bottleneck"])
def test_warning_conditions_agree_with_onnxruntime(text, code, runs, refused):
    finding = _only(text, code)
    assert finding.severity == WARNING
    m = model_from_text(text)
    for size in runs:
        assert ort_run(m, size) is None, size
    for size in refused:
        assert ort_run(m, size) is not None, size


def test_linear_after_flatten_message():
    f = _only(LINEAR_AFTER_FLATTEN, "CL220")
    assert f.message == (
        "Gemm 'Gemm -> logits' receives 64·⌊(H−4)/2⌋·⌊(W−4)/2⌋ features from the flatten of 'pooled' "
        "(N, 64, ⌊(H−4)/2⌋, ⌊(W−4)/2⌋), but its weight 'fc1_w' (128, 9216) with transB=1 takes in_features=9216; "
        "in_features=9216 holds only when ⌊(H−4)/2⌋·⌊(W−4)/2⌋ = 144 (for example H = W = 28)")


def test_unet_skip_message():
    f = _only(UNET_SKIP, "CL502")
    assert f.message.endswith("they agree only when H % 16 == 0 and W % 16 == 0 (smallest: H = W = 16)")
    assert "(N, 8, 16·⌊H/16⌋, 16·⌊W/16⌋)" in f.message


def test_window_and_skip_conditions_combine():
    f = _only(UNET_DEEP_BOTTLENECK, "CL503")
    assert f.message == (
        "Conv 'Conv -> z' needs H >= 48 and W >= 48 for its window to fit the height and width that reach it, but "
        "Concat 'Concat -> y' accepts only H % 16 == 0 and W % 16 == 0 (for example H = W = 16): together, only "
        "when H % 16 == 0 and H >= 48 and W % 16 == 0 and W >= 48 (smallest: H = W = 48)")


def test_cli_prints_the_condition(tmp_path):
    path = tmp_path / "mnist.onnx"
    onnx.save(model_from_text(LINEAR_AFTER_FLATTEN), str(path))
    r = run_cli("mnist.onnx", cwd=str(tmp_path))
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout == (
        "mnist.onnx: Gemm -> logits (Gemm): CL220 warning: Gemm 'Gemm -> logits' receives 64·⌊(H−4)/2⌋·⌊(W−4)/2⌋ "
        "features from the flatten of 'pooled' (N, 64, ⌊(H−4)/2⌋, ⌊(W−4)/2⌋), but its weight 'fc1_w' (128, 9216) "
        "with transB=1 takes in_features=9216; in_features=9216 holds only when ⌊(H−4)/2⌋·⌊(W−4)/2⌋ = 144 (for "
        "example H = W = 28)\n"
        "    hint: feed inputs with H = W = 28 (or others meeting the condition), or make the feature count "
        "independent of the input size with an adaptive pooling (nn.AdaptiveAvgPool2d / GlobalAveragePool) before "
        "the flatten\n"
        "Found 1 warning in 1 model.\n")
