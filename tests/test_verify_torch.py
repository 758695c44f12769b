"""A PyTorch model is judged by PyTorch: each error on a PyTorch layer is replayed in PyTorch itself (a CPU copy of
that module alone, real tensors at the witness sizes) and in onnxruntime for its export, and the verdict says
both. Nothing PyTorch refuses is lowered to a warning."""

from __future__ import annotations

import json
import textwrap

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from conftest import run_cli  # noqa: E402

POOLS = textwrap.dedent("""
    from torch import nn


    def pool3d():
        return nn.MaxPool3d(2)


    def pool2d():
        return nn.MaxPool2d(2)
""")


@pytest.fixture
def pools(tmp_path):
    path = tmp_path / "pools.py"
    path.write_text(POOLS)
    return str(path)


@pytest.mark.parametrize("name,shape,given,calculated", [
    ("pool3d", "N,16,1,2,2", "(16x1x2x2)", "(16x0x1x1)"),
    ("pool2d", "N,3,1,1", "(3x1x1)", "(3x0x0)"),
])
def test_an_empty_pooling_output_pytorch_refuses_is_a_confirmed_error(pools, name, shape, given, calculated):
    """onnxruntime runs MaxPool with a window larger than the input; PyTorch refuses it ("Output size is too small"):
    the PyTorch model cannot run, so the finding stays an error and the exit status is 1."""
    proc = run_cli(f"{pools}:{name}", "--input-shape", shape)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "CL106 error" in proc.stdout
    witness = "(2, " + shape.split(",", 1)[1].replace(",", ", ") + ")"
    assert (f'confirmed — PyTorch refuses this layer on input {witness} with N=2: "Given input size: {given}. '
            f'Calculated output size: {calculated}. Output size is too small"; onnxruntime would run its export') \
        in proc.stdout
    doc = json.loads(run_cli(f"{pools}:{name}", "--input-shape", shape, "--format", "json").stdout)
    (f,) = doc["results"][0]["findings"]
    assert f["severity"] == "error"
    v = f["verification"]
    assert (v["status"], v["runtime"]) == ("confirmed", "PyTorch")
    assert v["message"].endswith("Output size is too small")
    assert v["witness"]["inputs"] == {"input": json.loads(witness.replace("(", "[").replace(")", "]"))}
    assert v["onnxruntime"]["status"] == "not reproduced"


def test_the_pooling_case_through_the_api_keeps_onnxruntimes_word_about_the_export():
    import convlint

    report = convlint.lint(nn.MaxPool3d(2), input_shape="N,16,1,2,2")
    (f,) = report.errors
    v = f.verification
    assert (f.rule, v.status, v.runtime) == ("CL106", "confirmed", "PyTorch")
    assert v.witness.inputs == {"input": (2, 16, 1, 2, 2)} and v.witness.symbols == {"N": 2}
    # onnxruntime pools the depth-1 input to depth 1 instead of refusing: the export would silently run
    assert (v.export.status, v.export.message) == ("not reproduced", "a tensor of shape (2, 16, 1, 1, 1)")
    assert v.line().endswith("; onnxruntime would run its export and return a tensor of shape (2, 16, 1, 1, 1)")


def _split_heads(features):
    class SplitHeads(nn.Module):
        def forward(self, x):
            return x.unflatten(-1, (4, 6))

    return SplitHeads


def test_a_refused_torch_call_cl010_is_confirmed_by_pytorch():
    """CL010's example: `x.unflatten(-1, (4, 6))` on 20 features. Its fault is PyTorch's (no ONNX op stands for the
    call), so onnxruntime has nothing to say; PyTorch refuses the call again on real tensors."""
    import convlint
    from convlint.checking import registry

    rule = registry.load().rules["CL010"]
    example = rule.TORCH_INVALID[0]
    (f,) = convlint.lint(example.build, input_shape=example.input_shape).errors
    v = f.verification
    assert (f.rule, f.severity, v.status, v.runtime) == ("CL010", "error", "confirmed", "PyTorch")
    assert v.message == "unflatten: Provided sizes [4, 6] don't multiply up to the size of dim 2 (20) in the input " \
                        "tensor"
    assert v.witness.inputs == {"x": (2, 2, 20)} and v.witness.symbols == {"N": 2, "L": 2}
    assert v.export.status == "unverifiable" and "torch.unflatten" in v.export.message


def test_a_layer_pytorch_refuses_to_construct_cl010_is_confirmed_by_pytorch():
    import convlint

    (f,) = convlint.lint(lambda: nn.Conv2d(3, 8, 3, padding_mode="mirror")).errors
    v = f.verification
    assert (f.rule, v.status, v.runtime) == ("CL010", "confirmed", "PyTorch")
    assert v.message.startswith("ValueError: padding_mode must be one of")
    assert v.replayed.startswith("Conv2d(in_channels=3, out_channels=8, kernel_size=(3, 3)")


class Functional(nn.Module):
    """Tensor operations, not modules: F.conv2d with the model's own weight, and a view to a symbolic size."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(8, 4, 3, 3))

    def forward(self, x):
        y = nn.functional.conv2d(x, self.weight)
        return y.view(y.shape[0], 7, -1)


def test_torch_functions_are_replayed_by_name_with_their_own_arguments():
    import convlint

    report = convlint.lint(Functional(), input_shape="N,3,H,W")
    by_rule = {f.rule: f.verification for f in report.errors}
    conv = by_rule["CL101"]
    assert (conv.status, conv.runtime) == ("confirmed", "PyTorch")
    assert conv.witness.inputs == {"x": (2, 3, 3, 3)}  # the weight is made too, but is not an input
    assert "expected input[2, 3, 3, 3] to have 4 channels, but got 3 channels instead" in conv.message


def test_a_symbolic_size_among_a_calls_arguments_takes_its_witness_value():
    import convlint

    class View(nn.Module):
        def forward(self, x):
            return x.view(x.shape[0], 7, -1)

    (f,) = convlint.lint(View(), input_shape="N,5,6").errors
    assert (f.rule, f.verification.status) == ("CL504", "confirmed")
    assert f.verification.message == "shape '[2, 7, -1]' is invalid for input of size 60"


def test_an_unbatched_input_is_fed_unbatched_and_its_export_batched():
    import convlint

    (f,) = convlint.lint(nn.Conv2d(3, 4, 3), input_shape="1,H,W").errors
    v = f.verification
    assert v.witness.inputs == {"input": (1, 3, 3)}
    assert v.export.witness.inputs == {"input": (1, 1, 3, 3)}  # the ONNX Conv takes a batch
    assert v.status == "confirmed" and "expected input[1, 1, 3, 3] to have 3 channels" in v.message


def test_the_calls_other_tensors_are_fed_too():
    import convlint

    class Attend(nn.Module):
        def __init__(self):
            super().__init__()
            self.att = nn.MultiheadAttention(16, 4, kdim=8, vdim=8)

        def forward(self, q, k):
            return self.att(q, k, k)

    (f,) = convlint.lint(Attend(), input_shape=("L,N,16", "S,N,12")).errors
    v = f.verification
    assert (v.status, v.message) == ("confirmed", "expecting key weights shape of (16, 12), but got "
                                                  "torch.Size([16, 8])")
    assert v.witness.inputs == {"q": (2, 2, 16), "k": (2, 2, 12)}


class FlagConvs(__import__("convlint.rule", fromlist=["Rule"]).Rule):
    """## What it does
    Reports every convolution as an error, right or wrong: a stand-in for a rule that is wrong."""

    code = "TST910"
    name = "flag-every-conv"
    ops = ("Conv",)

    def check(self, node, ctx):
        yield self.finding(node, "flagged by the test rule")


def test_an_error_pytorch_runs_is_lowered_to_a_warning_and_says_both():
    from convlint.frontends.torch_model import load
    from convlint.app import input_shapes
    from convlint.checking.engine import run_rules
    from convlint.verify import verify_findings

    graph = load(nn.Conv2d(3, 4, 3, padding=1), input_shapes.coerce("N,3,H,W"))
    findings = run_rules(graph, [FlagConvs()])
    verify_findings(graph, findings)
    (f,) = findings
    assert (f.severity, f.verification.status, f.verification.runtime) == ("warning", "not reproduced", "PyTorch")
    assert f.verification.line() == ("not reproduced — PyTorch ran this layer on input (2, 3, 2, 2) with N=2, H=2, "
                                     "W=2; reported as a warning, not an error; onnxruntime would run its export and "
                                     "return a tensor of shape (2, 4, 2, 2)")


class Guarded(nn.Module):
    """State worth guarding around a faulty layer: batch norm in training mode, a hook on the faulty layer that
    counts its calls, a frozen parameter."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(3)
        self.conv = nn.Conv2d(4, 8, 3)
        self.conv.bias.requires_grad_(False)
        self.calls = []
        self.conv.register_forward_pre_hook(lambda m, args: self.calls.append(1))

    def forward(self, x):
        return self.conv(self.bn(x))


def test_the_replay_never_changes_the_users_module_nor_runs_its_hooks():
    import convlint
    from model_state import same, snapshot

    model = Guarded()
    convlint.lint(model, input_shape="N,3,H,W", verify=False)
    traced = len(model.calls)  # the trace itself calls the layer, pre-hooks and all
    model.calls.clear()
    before, rng = snapshot(model), torch.get_rng_state()
    (f,) = convlint.lint(model, input_shape="N,3,H,W").errors
    assert (f.rule, f.verification.status, f.verification.runtime) == ("CL101", "confirmed", "PyTorch")
    same(before, snapshot(model))
    assert torch.equal(rng, torch.get_rng_state())
    assert len(model.calls) == traced  # the replay ran a copy, without hooks


def test_the_replay_never_touches_the_rest_of_the_model():
    """Huge layers on the meta device stay there: only the flagged layer is copied, and a flagged layer too large
    to copy is unverifiable, with the reason, and keeps its severity."""
    import convlint

    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(32768, 32768), nn.ReLU(), nn.Linear(32768, 32768), nn.Linear(32768, 16),
                              nn.Linear(17, 4))
    report = convlint.lint(model, input_shape="N,L,32768")
    (f,) = report.errors
    assert (f.rule, f.location["module"], f.verification.status) == ("CL220", "4", "confirmed")
    assert f.verification.message == "mat1 and mat2 shapes cannot be multiplied (4x16 and 17x4)"
    assert all(p.is_meta for p in model.parameters())

    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(64, 32768), nn.Linear(32769, 32768))
    (f,) = convlint.lint(model, input_shape="N,64").errors
    v = f.verification
    assert (f.rule, f.severity, v.status) == ("CL220", "error", "unverifiable")
    assert v.message == ("the module holds 1073807360 parameter and buffer elements; convlint replays layers of up "
                         "to 16777216 elements")
    assert all(p.is_meta for p in model.parameters())


def test_onnx_models_keep_onnxruntime_as_judge_and_never_import_torch():
    import subprocess
    import sys

    from conftest import ROOT

    code = ("import sys, convlint; r = convlint.lint('fixtures/onnx/seed_conv_channels.onnx'); (f,) = r.errors; "
            "v = f.verification; assert (v.status, v.runtime, v.export) == ('confirmed', 'onnxruntime', None); "
            "assert 'runtime' not in v.to_json() and 'onnxruntime' not in v.to_json(); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_an_export_onnxruntime_runs_to_an_empty_tensor_is_said_so():
    import convlint

    (f,) = convlint.lint(nn.MaxPool2d(5, stride=1), input_shape="N,1,4,4").errors
    v = f.verification
    assert (f.severity, v.status, v.export.status) == ("error", "confirmed", "not reproduced")
    assert v.line().endswith('Output size is too small"; onnxruntime would run its export and return an empty tensor '
                             '(2, 1, 0, 0)')
    assert v.to_json()["onnxruntime"]["message"] == "an empty tensor (2, 1, 0, 0)"
