"""Rules that state conditions on symbolic sizes: each warning's condition is checked from both sides in
onnxruntime, the model running at the smallest size the warning names and refused at sizes that break it."""

from __future__ import annotations

import onnx
import pytest

import convlint
from convlint.examples import model_from_text
from convlint.rule import INFO, WARNING

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
        "Gemm 'Gemm -> logits' receives 64·⌊(H-4)/2⌋·⌊(W-4)/2⌋ features from the flatten of 'pooled' "
        "(N, 64, ⌊(H-4)/2⌋, ⌊(W-4)/2⌋), but its weight 'fc1_w' (128, 9216) with transB=1 takes in_features=9216; "
        "in_features=9216 holds only when ⌊(H-4)/2⌋·⌊(W-4)/2⌋ == 144 (for example H = W = 28)")


def test_unet_skip_message():
    f = _only(UNET_SKIP, "CL502")
    assert f.message.endswith("they agree only when H % 16 == 0 and W % 16 == 0 (smallest: H = W = 16)")
    assert f.condition == "H % 16 == 0 and W % 16 == 0" == f.to_json()["condition"]
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
        "mnist.onnx: Gemm -> logits (Gemm): CL220 warning: Gemm 'Gemm -> logits' receives 64·⌊(H-4)/2⌋·⌊(W-4)/2⌋ "
        "features from the flatten of 'pooled' (N, 64, ⌊(H-4)/2⌋, ⌊(W-4)/2⌋), but its weight 'fc1_w' (128, 9216) "
        "with transB=1 takes in_features=9216; in_features=9216 holds only when ⌊(H-4)/2⌋·⌊(W-4)/2⌋ == 144 (for "
        "example H = W = 28)\n"
        "    hint: feed inputs with H = W = 28 (or others meeting the condition), or make the feature count "
        "independent of the input size with an adaptive pooling (nn.AdaptiveAvgPool2d / GlobalAveragePool) before "
        "the flatten\n"
        "Found 1 warning in 1 model; it runs when ⌊(H-4)/2⌋·⌊(W-4)/2⌋ == 144.\n")


# -- conditions that couple symbols (H == W, H == H2, H == 2·W) or clamp one (min(8, H), min(64, T)), in ONNX models
# with dim_params and in PyTorch models: each checked from both sides, in onnxruntime and in PyTorch.

TRANSPOSED_ADD = """<ir_version: 8, opset_import: ["": 17]>
g (float[N, 3, H, W] x) => (float[N, 3, H, W] y) { t = Transpose<perm = [0, 1, 3, 2]>(x)  y = Add(x, t) }"""

CONCAT_TWO_HEIGHTS = """<ir_version: 8, opset_import: ["": 17]>
g (float[N, 3, H, W] x, float[N, 3, H2, W] z) => (float[N, 6, H, W] y) { y = Concat<axis = 1>(x, z) }"""

CONCAT_TWICE_AS_TALL = """<ir_version: 8, opset_import: ["": 17]>
g (float[N, 4, H, W] a, float[N, 4, W, W] b) => (float[N, 8, H, W] y)
<float[4] s = {1.0, 1.0, 2.0, 1.0}>
{ u = Resize<mode = "nearest">(b, "", s)  y = Concat<axis = 1>(a, u) }"""

CLAMPED_SLICE_ADD = """<ir_version: 8, opset_import: ["": 17]>
g (float[N, 3, H, W] x) => (float[N, 3, H, W] y)
<int64[1] start = {0}, int64[1] end = {8}, int64[1] axis = {2}>
{ s = Slice(x, start, end, axis)  y = Add(s, x) }"""

ROTARY_TABLE = """<ir_version: 8, opset_import: ["": 17]>
g (float[B, T, 8] q) => (float[B, T, 8] y)
<float[64, 8] cos, int64[1] zero = {0}>
{ t = Shape<start = 1, end = 2>(q)  c = Slice(cos, zero, t, zero)  y = Mul(c, q) }"""


def _pinned(model, **sizes):
    """``model`` with the named dim_params of its inputs set to ints (the others stay symbolic)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for vi in out.graph.input:
        for d in vi.type.tensor_type.shape.dim:
            if d.dim_param in sizes:
                d.dim_value = sizes[d.dim_param]
    return out


@pytest.mark.parametrize("text,code,condition,smallest,runs,refused", [
    (TRANSPOSED_ADD, "CL500", "H == W or H == 1 or W == 1", "H = W = 1",
     [dict(H=5, W=5), dict(H=1, W=7), dict(H=6, W=1)], [dict(H=5, W=6), dict(H=2, W=3)]),
    (CONCAT_TWO_HEIGHTS, "CL502", "H == H2", "H = H2 = 1", [dict(H=4, H2=4, W=3)], [dict(H=4, H2=5, W=3)]),
    (CONCAT_TWICE_AS_TALL, "CL502", "H == 2·W", "H = 2, W = 1",
     [dict(H=6, W=3), dict(H=2, W=1)], [dict(H=6, W=6), dict(H=5, W=3)]),
    (CLAMPED_SLICE_ADD, "CL500", "H <= 8", "H = 1", [dict(H=1, W=4), dict(H=8, W=4)], [dict(H=9, W=4), dict(H=20, W=4)]),
    (ROTARY_TABLE, "CL500", "T <= 64", None, [dict(T=1), dict(T=64)], [dict(T=65), dict(T=100)]),
], ids=["transposed-add", "two-heights", "twice-as-tall", "clamped-slice", "rotary-table"])
def test_coupled_and_clamped_conditions_agree_with_onnxruntime(text, code, condition, smallest, runs, refused):
    finding = _only(text, code)
    if smallest is None:  # a slice of a fixed table: the model's longest input, a note
        assert finding.severity == INFO
        assert f" only when {condition}: the slice of 'cos' covers no more" in finding.message, finding.message
    else:
        assert finding.severity == WARNING
        assert finding.message.endswith(f" only when {condition} (smallest: {smallest})"), finding.message
    m = model_from_text(text)
    for sizes in runs:
        assert ort_run(_pinned(m, **sizes)) is None, sizes
    for sizes in refused:
        assert ort_run(_pinned(m, **sizes)) is not None, sizes


def test_transposed_add_names_both_axes():
    f = _only(TRANSPOSED_ADD, "CL500")
    assert f.message == ("Add 'Add -> y' cannot broadcast 'x' (N, 3, H, W) with 't' (N, 3, W, H) (axis 2: H vs W; "
                         "axis 3: W vs H); they broadcast only when H == W or H == 1 or W == 1 (smallest: H = W = 1)")


def _transposed_add():
    from torch import nn

    class Net(nn.Module):
        def forward(self, x):
            return x + x.transpose(2, 3)

    return Net()


def _two_inputs_cat():
    import torch
    from torch import nn

    class Cat(nn.Module):
        def forward(self, x, y):
            return torch.cat([x, y], 1)

    return Cat()


def _clamped_slice_add():
    from torch import nn

    class Net(nn.Module):
        def forward(self, x):
            return x[:, :, :8] + x

    return Net()


def _rotary_table():
    import torch
    from torch import nn

    class Rotary(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("cos", torch.ones(64, 8))

        def forward(self, q):
            return self.cos[:q.shape[1]] * q

    return Rotary()


def _torch_refuses(build, *shapes):
    import torch

    try:
        with torch.no_grad():
            build()(*[torch.zeros(s) for s in shapes])
    except Exception as e:  # PyTorch raises several exception types
        return str(e)
    return None


@pytest.mark.parametrize("build,input_shape,code,condition,runs,refused", [
    (_transposed_add, "N,3,H,W", "CL500", "H == W or H == 1 or W == 1 (smallest: H = W = 1)",
     [[(2, 3, 5, 5)], [(2, 3, 1, 4)]], [[(2, 3, 5, 6)]]),
    (_two_inputs_cat, ("N,3,H,W", "N,3,H2,W"), "CL502", "H == H2 (smallest: H = H2 = 1)",
     [[(2, 3, 4, 5), (2, 3, 4, 5)]], [[(2, 3, 4, 5), (2, 3, 6, 5)]]),
    (_clamped_slice_add, "N,3,H,W", "CL500", "H <= 8 (smallest: H = 1)",
     [[(2, 3, 8, 5)], [(2, 3, 3, 5)]], [[(2, 3, 9, 5)]]),
    (_rotary_table, "B,T,8", "CL500", "T <= 64: the slice of 'cos' covers no more, so that is the longest input the "
                                      "model takes", [[(2, 64, 8)], [(2, 5, 8)]], [[(2, 65, 8)]]),
], ids=["transposed-add", "two-inputs-cat", "clamped-slice", "rotary-table"])
def test_torch_conditions_replace_the_tried_sizes(build, input_shape, code, condition, runs, refused):
    # torch refused the rotary table's product for the example size T = 192 (CL010); the exact condition replaces
    # it, as a note there: a table's length is the model's longest input, not a fault
    pytest.importorskip("torch")
    report = convlint.lint(build, input_shape=input_shape, verify=False)
    severity = INFO if "the longest input" in condition else WARNING
    assert [(f.rule, f.severity) for f in report.findings] == [(code, severity)], [f.message for f in report.findings]
    assert report.findings[0].message.endswith(f" only when {condition}"), report.findings[0].message
    for shapes in runs:
        assert _torch_refuses(build, *shapes) is None, shapes
    for shapes in refused:
        assert _torch_refuses(build, *shapes) is not None, shapes


def test_cli_states_the_coupling(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "net.py").write_text(
        "import torch\nfrom torch import nn\n\n\nclass Cat(nn.Module):\n    def forward(self, x, y):\n"
        "        return torch.cat([x, y], 1)\n")
    r = run_cli("net.py:Cat", "--input-shape", "N,3,H,W", "--input-shape", "N,3,H2,W", cwd=str(tmp_path))
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.startswith(
        "net.py:7: cat (Concat): CL502 warning: Concat 'cat' joins 'x' (N, 3, H, W) with 'y' (N, 3, H2, W) on axis 1, "
        "but they differ on other axes (axis 2: H vs H2 ('y')); they agree only when H == H2 (smallest: H = H2 = 1)\n")
    assert r.stdout.endswith("Found 1 warning in 1 model; it runs when H == H2.\n")
