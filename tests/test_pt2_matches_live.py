"""One translation: a model read from its ``.pt2`` archive and the same model traced live give the same findings
(rule, severity, layer), on every PyTorch fixture that exports and on layers whose ONNX form is easy to get wrong
(a dilated ``padding="same"`` convolution, which ``auto_pad=SAME_UPPER`` would describe with other pads)."""

from __future__ import annotations

import importlib.util
import os

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import convlint  # noqa: E402

from conftest import FIXTURES  # noqa: E402

FOLDER = os.path.join(FIXTURES, "torch")


def _fixture(name):
    spec = importlib.util.spec_from_file_location(f"_pt2_fixture_{name}", os.path.join(FOLDER, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _same_padding():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding="same", dilation=2), nn.ReLU(),
                         nn.Conv2d(4, 4, (3, 5), padding="same", dilation=(1, 3)), nn.MaxPool2d(2))


class _FunctionalPools(nn.Module):
    def forward(self, x):
        x = nn.functional.max_pool2d(x, 3, 2, 1, 1, True)
        return nn.functional.avg_pool2d(x, (2, 3), ceil_mode=True) + nn.functional.avg_pool2d(x, (2, 3), 1, (0, 1))[
            ..., :1, :1]


def _cases():
    out = []
    for f in sorted(os.listdir(FOLDER)):
        if f.endswith(".py") and not f.startswith("_"):
            mod = _fixture(f[:-3])
            if not any(e[1] == "error" for e in mod.EXPECTED):
                out.append(pytest.param(mod.build, mod.INPUT_SHAPE, id=f[:-3]))
    out.append(pytest.param(_same_padding, "N,3,H,W", id="dilated_same_padding"))
    out.append(pytest.param(_FunctionalPools, "N,3,H,W", id="functional_pools"))
    return out


def _findings(report):
    """Findings both paths can make: a .pt2 holds no module's declared attributes (README, "PyTorch models"), so the
    declared-versus-actual rules have nothing to compare there; CL011 notes differ in what each path could follow."""
    assert not report.input_errors, report.input_errors
    return sorted((f.rule, f.severity, f.location.get("module")) for f in report.findings
                  if f.rule != "CL011" and not f.name.endswith("declared-mismatch"))


@pytest.mark.parametrize("build,shape", _cases())
def test_pt2_and_live_trace_agree(build, shape, tmp_path):
    model = build().eval()
    sizes = [int(d) if d.isdigit() else 16 for d in shape.split(",")]
    dynamic = {i: torch.export.Dim.AUTO for i, d in enumerate(shape.split(",")) if not d.isdigit()}
    ep = torch.export.export(model, (torch.zeros(sizes),), dynamic_shapes=({**dynamic},))
    path = tmp_path / "model.pt2"
    torch.export.save(ep, str(path))
    live = convlint.lint(model, input_shape=",".join(map(str, sizes)), verify=False)
    archived = convlint.lint(str(path), verify=False)
    assert _findings(archived) == _findings(live)
    assert [f for f in archived.findings if f.severity == "error"] == []
