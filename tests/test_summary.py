"""``convlint summary`` and ``convlint.summary()``: per-layer shapes, parameters and MACs as formulas, the totals,
and the input domain, on real torch modules and real ONNX files, as a user runs them.

Parameters are checked against ``sum(p.numel() for p in model.parameters())`` and the initializers of the ONNX
file; the formulas against the counts at concrete sizes (``--at``) and against the ONNX export of the same model;
the text output against the README, which shows it.
"""

from __future__ import annotations

import json
import math
import re

import onnx
import pytest
import sympy

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import convlint  # noqa: E402
import torch_models as tm  # noqa: E402
from conftest import ROOT  # noqa: E402

UNET = "fixtures/torch/unet.py:build"


def _readme_block(command: str) -> str:
    """The output the README shows under ``$ command``."""
    text = open(f"{ROOT}/README.md", encoding="utf-8").read()
    start = text.index(f"$ {command}\n") + len(command) + 3
    return text[start:text.index("```", start)]


def test_the_readme_shows_what_the_command_prints(cli):
    command = f"convlint summary {UNET} --input-shape N,3,H,W --depth 2"
    proc = cli(*command.split()[1:], env={"COLUMNS": "120"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == _readme_block(command)


def test_every_leaf_is_a_row_with_its_shapes_params_and_macs(cli):
    proc = cli("summary", UNET, "--input-shape", "N,3,H,W", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    [s] = json.loads(proc.stdout)["summaries"]
    rows = {row["name"]: row for row in s["layers"]}
    # the first convolution: 3 -> 8 channels, 3x3, padded: 8*3*9 = 216 MACs per position, 224 parameters
    assert rows["inc"]["class"] == "Conv2d" and rows["inc"]["params"] == 224
    assert rows["inc"]["output_shapes"] == [["N", 8, "H", "W"]]
    assert sympy.sympify(rows["inc"]["macs"]) == sympy.sympify("216*H*W")
    # functional calls inside a module's forward are rows of their own, named after the module and the call
    assert rows["ups.0.cat"]["class"] == "cat" and rows["ups.0.cat"]["findings"] == ["CL502"]
    assert rows["downs.0.act"]["class"] == "ReLU"  # a leaf module convlint steps into is one row
    assert s["per_sample"] == "N"
    assert s["domain"] == "H % 16 == 0 and W % 16 == 0"
    model = convlint_fixture_unet()
    assert s["total"]["params"] == sum(p.numel() for p in model.parameters())
    assert sum(row["params"] or 0 for row in s["layers"]) == s["total"]["params"]


def convlint_fixture_unet():
    import importlib.util

    spec = importlib.util.spec_from_file_location("unet_fixture", f"{ROOT}/fixtures/torch/unet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build()


def test_at_evaluates_every_formula_and_matches_substitution(cli):
    symbolic = json.loads(cli("summary", UNET, "--input-shape", "N,3,H,W", "--format", "json").stdout)
    fixed = json.loads(cli("summary", UNET, "--input-shape", "N,3,H,W", "--at", "H=W=64",
                           "--format", "json").stdout)
    [s], [f] = symbolic["summaries"], fixed["summaries"]
    assert f["at"] == {"H": 64, "W": 64}
    H, W = sympy.symbols("H W", integer=True, positive=True)
    for row, frow in zip(s["layers"], f["layers"]):
        expected = sympy.sympify(row["macs"], locals={"H": H, "W": W}).subs({H: 64, W: 64})
        assert frow["macs"] == int(expected), row["name"]
    assert f["total"]["macs"] == int(sympy.sympify(s["total"]["macs"], locals={"H": H, "W": W}).subs({H: 64, W: 64}))
    text = cli("summary", UNET, "--input-shape", "N,3,H,W", "--at", "H=W=64").stdout
    assert re.search(r"^at H = 64, N = 1, W = 64: \d+(\.\d+)? M MACs, activations [\d.]+ MB$", text, re.M), text


def test_depth_folds_containers_and_keeps_the_totals(cli):
    leaves = json.loads(cli("summary", UNET, "--input-shape", "N,3,H,W", "--format", "json").stdout)["summaries"][0]
    folded = json.loads(cli("summary", UNET, "--input-shape", "N,3,H,W", "--depth", "1",
                            "--format", "json").stdout)["summaries"][0]
    assert [row["name"] for row in folded["layers"]] == ["inc", "downs", "ups", "head"]
    assert [row["class"] for row in folded["layers"]] == ["Conv2d", "ModuleList", "ModuleList", "Conv2d"]
    assert folded["total"] == leaves["total"]
    assert sum(row["params"] for row in folded["layers"]) == folded["total"]["params"]
    macs = sum(sympy.sympify(row["macs"]) for row in folded["layers"])
    assert sympy.expand(macs - sympy.sympify(folded["total"]["macs"])) == 0


class _Tied(nn.Module):
    """Shared parameters (a tied head, a module called twice) and a module never called."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.block = nn.Linear(16, 16)
        self.unused = nn.Linear(16, 7)
        self.head = nn.Linear(16, 50, bias=False)
        self.head.weight = self.embed.weight
        self.pos = nn.Parameter(torch.zeros(1, 12, 16))

    def forward(self, idx):
        x = self.embed(idx) + self.pos[:, :idx.shape[1]]
        x = self.block(self.block(x))
        return self.head(x)


def test_shared_parameters_are_counted_once_and_unused_ones_in_the_total():
    model = _Tied()
    s = convlint.summary(model, input_shape="N,T", input_dtype="int64")
    assert s.error is None
    assert s.params == sum(p.numel() for p in model.parameters())
    rows = [(row.name, row.params, row.shared) for row in s.layers if row.params is not None]
    assert ("(model)", 12 * 16, False) in rows  # the position table no layer of its own reads
    assert ("block", 16 * 16 + 16, False) in rows and ("block#2", 0, True) in rows  # its second call
    assert not [row for row in s.layers if row.name == "head" and row.params]  # its weight is the embedding's
    # the unused Linear's 119 parameters are in the total, not in a row
    assert sum(row.params or 0 for row in s.layers) == s.params - (16 * 7 + 7)


@pytest.mark.parametrize("name", sorted(tm.CASES))
def test_parameters_equal_model_parameters_and_onnx_initializers(name, tmp_path):
    case = tm.CASES[name]
    torch.manual_seed(0)
    model = case.make().eval()
    shapes = {inp: ",".join(axes.get(a, str(int(x.shape[a]))) if isinstance(axes.get(a), str) else str(int(x.shape[a]))
                            for a in range(x.dim()))
              for (inp, axes), x in zip(case.dynamic.items(), case.inputs)}
    dtypes = ["int64" if not x.is_floating_point() else "float32" for x in case.inputs]
    s = convlint.summary(model, input_shape=list(shapes.values()), input_dtype=dtypes)
    assert s.error is None, s.error
    assert s.params == sum(p.numel() for p in model.parameters())
    path = tm.export(case, tmp_path / f"{name}.onnx", "torchscript")
    o = convlint.summary(path)
    assert o.error is None, o.error
    proto = onnx.load(path, load_external_data=False)
    assert o.params == sum(math.prod(t.dims) for t in proto.graph.initializer)


@pytest.mark.parametrize("name", ["resnet", "mobilenet_v2", "vgg", "gpt", "transformer_encoder"])
def test_onnx_export_and_pytorch_agree_on_macs(name, tmp_path):
    """The same model read from PyTorch and from its ONNX export costs the same, at the example's sizes: the
    linear algebra exactly, since the exporter folds an eval-mode BatchNorm into the convolution before it, and
    with it the normalization's own cost."""
    case = tm.CASES[name]
    torch.manual_seed(0)
    model = case.make().eval()
    concrete = [",".join(str(int(d)) for d in x.shape) for x in case.inputs]
    dtypes = ["int64" if not x.is_floating_point() else "float32" for x in case.inputs]
    live = convlint.summary(model, input_shape=concrete, input_dtype=dtypes)
    path = tm.export(case, tmp_path / f"{name}.onnx", "torchscript")
    exported = convlint.summary(path, input_shape=concrete)
    assert type(live.macs) is int and type(exported.macs) is int, (live.macs, exported.macs)
    assert live.macs > 0
    assert sum(row.macs for row in live.layers) == live.macs
    assert _linear_algebra(live) == _linear_algebra(exported), (live.macs, exported.macs)


def _linear_algebra(summary) -> int:
    return sum(row.macs for row in summary.layers if "Norm" not in row.kind)


def test_onnx_rows_are_nodes_with_their_initializers(cli):
    proc = cli("summary", "fixtures/onnx/seed_conv_channels.onnx", "--format", "markdown")
    assert proc.returncode == 1  # the model has an error: the exit status of linting
    lines = proc.stdout.splitlines()
    assert "| conv1 | Conv | (N, 4, H, W) | 112 | 108·H·W | CL101 |" in lines
    assert "| relu1 | Relu | (N, 4, H, W) | — | — | after CL101 |" in lines
    assert "Runs when: no size" in lines


def test_a_broken_model_still_gets_every_row(cli):
    proc = cli("summary", "fixtures/torch/many_faults.py:build", "--input-shape", "N,3,32,32", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    [s] = json.loads(proc.stdout)["summaries"]
    assert s["domain"] == "no size"
    marked = [row for row in s["layers"] if row["findings"]]
    assert marked, s["layers"]
    first = next(i for i, row in enumerate(s["layers"]) if row["findings"])
    assert all(row["after_error"] for row in s["layers"][first + 1:])


@pytest.mark.parametrize("args, said", [
    (("summary", "missing.onnx"), "missing.onnx"),
    (("summary", UNET, "--input-shape", "N,3,H,W", "--at", "H=0"), "--at"),
    (("summary", UNET, "--input-shape", "N,3,H,W", "--at", "Q=3"), "Q"),
    (("summary", UNET, "--input-shape", "N,3,H,W", "--depth", "0"), "--depth"),
])
def test_bad_input_is_one_line_and_exit_2(cli, args, said):
    proc = cli(*args)
    assert proc.returncode == 2
    assert said in proc.stderr.strip().splitlines()[-1] and "Traceback" not in proc.stderr


def test_the_lint_report_states_the_domain(cli):
    proc = cli(UNET, "--input-shape", "N,3,H,W", "--no-verify")
    assert proc.stdout.splitlines()[-1] == \
        "Found 4 warnings in 1 model; it runs when H % 16 == 0 and W % 16 == 0."
    result = json.loads(cli(UNET, "--input-shape", "N,3,H,W", "--no-verify", "--format", "json").stdout)
    assert result["results"][0]["domain"] == "H % 16 == 0 and W % 16 == 0"
    clean = cli("fixtures/torch/standard_conv.py:Net", "--input-shape", "N,1,H,W", "--no-verify")
    assert clean.stdout.splitlines()[-1] == "All clean: 1 model, no findings; it runs when H >= 3 and W >= 3."
