"""The Python API on PyTorch models: it never changes the model, lints models on the meta device without allocating
them, keeps the user's dim names, reads several inputs and integer inputs, and follows a forward pass with faults
through to its end."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import convlint  # noqa: E402

from conftest import ROOT  # noqa: E402
from model_state import same, snapshot  # noqa: E402

TORCH_SYMBOL = re.compile(r"\b[su]\d+\b")


class Busy(nn.Module):
    """A model with state worth guarding: batch norm in training mode, hooks, a frozen parameter, a recurrent layer,
    a buffer, and a forward that stores things on itself."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.rnn = nn.GRU(8, 8, batch_first=True)
        self.head = nn.Linear(8, 4)
        self.register_buffer("scale", torch.ones(1))
        self.head.bias.requires_grad_(False)

    def forward(self, x):
        x = self.bn(self.conv(x)) * self.scale
        self.last_shape = x.shape
        seq = x.flatten(2).transpose(1, 2)
        out, _ = self.rnn(seq)
        return self.head(out[:, -1])


@pytest.mark.parametrize("shape", ["N,3,H,W", "2,3,8,8", None, "N,5,H,W"])
def test_lint_never_changes_the_model(shape):
    model = Busy().train()
    model.conv.register_forward_hook(lambda m, i, o: None)
    model.head.register_forward_pre_hook(lambda m, i: None)
    model.rnn.flatten_parameters()
    before = snapshot(model)
    report = convlint.lint(model, input_shape=shape, verify=False)
    assert not report.input_errors
    same(before, snapshot(model))
    assert model.bn.num_batches_tracked.item() == 0
    assert not hasattr(model, "last_shape")
    if shape == "N,5,H,W":  # a fault on the way: the trace recovers and still leaves the model alone
        assert [f.rule for f in report.errors] == ["CL101"]
    model(torch.zeros(2, 3, 8, 8))  # and it still runs


def test_lint_never_changes_a_model_whose_forward_raises():
    class Raises(Busy):
        def forward(self, x):
            self.conv(x)
            raise KeyError("boom")

    model = Raises()
    before = snapshot(model)
    report = convlint.lint(model, input_shape="N,3,H,W", verify=False)
    same(before, snapshot(model))
    note = [f for f in report.findings if f.rule == "CL011"]
    assert len(note) == 1 and "raised KeyError: 'boom'" in note[0].message


def test_meta_device_model_lints_without_allocating():
    # 4 × 2^30 float32 weights: 16 GiB if anything were allocated.
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(32768, 32768), nn.ReLU(), nn.Linear(32768, 32768), nn.ReLU(),
                              nn.Linear(32768, 32768), nn.Linear(32768, 32767 + 2))
        model[5].weight = nn.Parameter(torch.empty(32769, 32768 + 1))
    report = convlint.lint(model, input_shape="N,L,32768", verify=False)
    assert not report.input_errors
    assert sorted((f.rule, f.location["module"]) for f in report.findings) == [("CL210", "5"), ("CL220", "5")]
    assert all(p.is_meta for p in model.parameters())


def test_dims_keep_the_users_names():
    class Tail(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, stride=2)
            self.fc = nn.Linear(8 * 15 * 15, 10)
            self.mix = nn.Linear(10, 10)

        def forward(self, x):
            y = self.fc(self.conv(x).flatten(1))
            return self.mix(y).unflatten(-1, (3, 4))

    report = convlint.lint(Tail(), input_shape="batch,3,height,width", verify=False)
    messages = [f.message for f in report.findings]
    assert messages and not any(TORCH_SYMBOL.search(m) for m in messages), messages
    assert any("height" in m and "width" in m for m in messages)


def test_token_ids_need_an_integer_dtype():
    class Lm(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(100, 16)
            self.proj = nn.Linear(16, 100)

        def forward(self, ids):
            return self.proj(self.emb(ids))

    assert convlint.lint(Lm(), input_shape="B,T", input_dtype="int64", verify=False).findings == []
    floats = convlint.lint(Lm(), input_shape="B,T", verify=False)
    assert [f.rule for f in floats.errors] == ["CL602"]


def test_several_inputs_by_position_and_by_name():
    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 8)
            self.b = nn.Linear(6, 8)

        def forward(self, left, right=None):
            return self.a(left) + self.b(right)

    assert convlint.lint(Pair(), input_shape=["N,4", "N,6"], verify=False).findings == []
    assert convlint.lint(Pair(), input_shape={"left": "N,4", "right": "N,6"}, verify=False).findings == []
    wrong = convlint.lint(Pair(), input_shape={"right": "N,4", "left": "N,4"}, verify=False)
    assert [(f.rule, f.location["module"]) for f in wrong.errors] == [("CL220", "b")]
    with_error = convlint.lint(Pair(), input_shape={"middle": "N,4"}, verify=False)
    assert "Pair.forward has no input 'middle'; its inputs are: left, right" in with_error.results[0].error


def test_every_fault_in_one_run_with_names_and_lines():
    class Chain(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 3)
            self.blocks = nn.Sequential(nn.Conv2d(8, 16, 3), nn.BatchNorm2d(32), nn.Conv2d(16, 16, 3, groups=3 + 1))
            self.blocks[2].weight = nn.Parameter(torch.zeros(15, 4, 3, 3))
            self.norm = nn.LayerNorm(20)

        def forward(self, x):
            x = self.blocks(self.stem(x))
            return self.norm(x.mean((2, 3)))

    report = convlint.lint(Chain(), input_shape="N,3,H,W", verify=False)
    got = sorted((f.rule, f.location.get("module")) for f in report.findings)
    assert got == [("CL101", "blocks.0"), ("CL102", "blocks.2"), ("CL103", "blocks.2"), ("CL110", "blocks.2"),
                   ("CL320", "blocks.1"), ("CL322", "norm")]
    lines = {f.location["module"]: f.location["line"] for f in report.findings}
    assert lines["blocks.0"] == lines["blocks.1"] == lines["blocks.2"]  # the nn.Sequential(...) line
    assert lines["norm"] != lines["blocks.0"]


def test_raise_for_errors_lists_module_paths():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(8, 4, 3))
    report = convlint.lint(model, input_shape="N,1,H,W", verify=False)
    with pytest.raises(convlint.LintError, match=r"1 \(Conv2d\): CL101"):
        report.raise_for_errors()


def test_onnx_path_never_imports_torch():
    code = ("import sys, convlint; r = convlint.lint('fixtures/onnx/seed_conv_channels.onnx', verify=False); "
            "assert r.errors; assert 'torch' not in sys.modules, 'torch was imported'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_verification_replays_the_layer_in_pytorch_and_its_export_in_onnxruntime():
    conv = nn.Conv2d(1, 4, 3)
    conv.weight = nn.Parameter(torch.zeros(4, 3, 3, 3))
    by_rule = {f.rule: f for f in convlint.lint(conv, input_shape="N,1,H,W").findings}
    v = by_rule["CL101"].verification
    assert (v.status, v.runtime, v.export.status) == ("confirmed", "PyTorch", "confirmed")
    assert "expected input[2, 1, 3, 3] to have 3 channels, but got 1 channels instead" in v.message
    # a declaration PyTorch's forward checks: PyTorch refuses it, onnxruntime would run its export
    lstm = nn.LSTM(10, 20)
    lstm.weight_ih_l0 = nn.Parameter(torch.zeros(80, 12))
    [f] = convlint.lint(lstm, input_shape="L,N,12").findings
    assert (f.rule, f.severity, f.verification.status, f.verification.export.status) == \
        ("CL410", "error", "confirmed", "not reproduced")
    assert f.verification.line() == ('confirmed — PyTorch refuses this layer on input (2, 2, 12) with L=2, N=2: '
                                     '"input.size(-1) must be equal to input_size. Expected 10, got 12"; '
                                     'onnxruntime would run its export and return a tensor of shape (2, 1, 2, 20)')


def test_tensors_kept_as_plain_attributes_are_not_written_either():
    class Cache(nn.Module):
        def __init__(self):
            super().__init__()
            self.seen = torch.zeros(3)
            self.proj = nn.Linear(3, 3)

        def forward(self, x):
            self.seen.add_(1)
            return self.proj(x)

    model = Cache()
    assert convlint.lint(model, input_shape="N,3", verify=False).findings == []
    assert model.seen.tolist() == [0.0, 0.0, 0.0]


def test_a_dim_torch_fixes_to_its_example_value_is_noted():
    class Half(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            top = int(x.shape[2] * 0.5)  # a size computed in floating point: torch fixes H here
            return self.conv(x[:, :, :top])

    [note] = convlint.lint(Half(), input_shape="N,3,H,W", verify=False).findings
    assert note.rule == "CL011"
    assert re.fullmatch(r"PyTorch fixed H to \d+ at __getitem__, so the sizes after it were checked for H = \d+ only",
                        note.message)


@pytest.mark.parametrize("pad", [(0, 0, 0, 0), (1, 1, 0, 2)])
def test_constant_padding_keeps_the_users_dims(pad):
    # torch's C++ pad kernel fixed every dim to its example value (N to 128), which made a residual around a
    # padded window attention (Swin) look like a broadcast; padding is traced so that N, H, W stay symbolic.
    class Padded(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(8, 8)

        def forward(self, x):
            y = nn.functional.pad(x, pad)
            return self.proj(y[:, :, pad[2]:pad[2] + x.shape[2], pad[0]:pad[0] + x.shape[3]]) + x

    report = convlint.lint(Padded(), input_shape="N,3,H,8", verify=False)
    assert report.findings == [], [f.message for f in report.findings]
    from convlint.core import dims
    from convlint.app import input_shapes
    from convlint.frontends.torch_model import load

    graph = load(Padded(), input_shapes.coerce("N,3,H,8"))
    [node] = [n for n in graph.nodes if n.name == "pad"]
    h = dims.symbol("H") + pad[2] + pad[3]
    assert node.outputs[0].shape == (dims.symbol("N"), 3, h, 8 + pad[0] + pad[1])


@pytest.mark.parametrize("fn", ["addcmul", "addcdiv"])
def test_addcmul_is_followed_at_symbolic_sizes(fn):
    # torch's composite kernel wants concrete sizes, so timm's GlobalResponseNorm (ConvNeXt-V2) stopped the trace
    # at every size with a symbol in it; the reference implementation broadcasts symbolically.
    class ResponseNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight, self.bias = nn.Parameter(torch.ones(8)), nn.Parameter(torch.zeros(8))
            self.proj = nn.Linear(8, 4)

        def forward(self, x):
            scaled = getattr(torch, fn)(self.bias.view(1, 1, 1, -1), self.weight.view(1, 1, 1, -1), x, value=0.5)
            return self.proj(x + scaled)

    from convlint.core import dims

    s = convlint.summary(ResponseNorm(), input_shape="N,H,W,8")
    assert s.findings == [], [f.message for f in s.findings]
    assert s.layers[-1].output_shapes == [(dims.symbol("N"), dims.symbol("H"), dims.symbol("W"), 4)]
    report = convlint.lint(ResponseNorm(), input_shape="N,H,W,7", verify=False)  # 8 weights for 7 channels
    [error] = [f for f in report.findings if f.severity == "error"]
    assert error.rule == "CL010" and error.location["node"] == fn and "size of tensor a (8)" in error.message


@pytest.mark.parametrize("shape, length", [("B,T,8", "Min(64, T)"), ("B,16,8", "16"), ("B,100,8", "64")])
def test_slicing_by_a_symbolic_size_gives_what_slicing_gives(shape, length):
    # torch compares a symbolic slice end with the axis on the symbols' example values: `cos[:T]` on a 64-row
    # table came out 64 rows for every T (T's example is 192), and the product below looked like a broadcast fault
    # for all T but 1 and 64. Python slicing clamps: the slice has Min(T, 64) rows.
    class Rotary(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("cos", torch.randn(64, 8), persistent=False)
            self.proj = nn.Linear(8, 8)

        def forward(self, x):
            return self.proj(x) * self.cos[:x.shape[1]]

    from convlint.app import input_shapes
    from convlint.frontends.torch_model import load

    graph = load(Rotary(), input_shapes.coerce(shape))
    [node] = [n for n in graph.nodes if n.name == "__getitem__"]
    assert str(node.outputs[0].shape[0]) == length
    assert node.outputs[0].shape[1] == 8
    report = convlint.lint(Rotary(), input_shape=shape, verify=False)
    errors = [f for f in report.findings if f.severity == "error"]
    assert bool(errors) == (length == "64"), [f.message for f in report.findings]


INDEXES = {
    "x[:, :, :8]": lambda x: x[:, :, :8],
    "x[:, :, 3:]": lambda x: x[:, :, 3:],
    "x[..., 2:10, :]": lambda x: x[..., 2:10, :],
    "x[:, None, 0, 1:W]": lambda x: x[:, None, 0, 1:x.shape[3]],
    "x[:, :, :W]": lambda x: x[:, :, :x.shape[3]],
    "x[..., ::2]": lambda x: x[..., ::2],
    "x[:, :, -4:]": lambda x: x[:, :, -4:],
}


@pytest.mark.parametrize("name", INDEXES)
def test_symbolic_slices_have_the_sizes_real_slicing_gives(name):
    from convlint.core import dims
    from convlint.app import input_shapes
    from convlint.frontends.torch_model import load

    class Index(nn.Module):
        def forward(self, x):
            return INDEXES[name](x)

    graph = load(Index(), input_shapes.coerce("2,3,H,W"))
    [node] = [n for n in graph.nodes if n.name == "__getitem__"]
    shape = node.outputs[0].shape
    for h, w in [(2, 12), (5, 12), (8, 3), (9, 9), (20, 4)]:
        real = INDEXES[name](torch.empty(2, 3, h, w)).shape
        at = {dims.symbol("H"): h, dims.symbol("W"): w}
        got = tuple(d if type(d) is int else int(d.subs(at)) for d in shape)
        assert got == tuple(real), (name, h, w, shape)
