"""PyTorch targets: `file.py:name`, `package.module:name`, `.pt2` archives, pickled modules, `--weights`; every bad
target ends in one line and exit status 2, or in findings with a note on where tracing stopped."""

from __future__ import annotations

import json
import textwrap

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import convlint  # noqa: E402

from conftest import run_cli  # noqa: E402

NET = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, channels=1):
        super().__init__()
        self.conv = nn.Conv2d(channels, 4, 3)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.conv(x).mean((2, 3)))


net = Net()


def build():
    return Net()


def needs(channels):
    return Net(channels)


def broken():
    return {"config": "missing"}["model"]


def not_a_model():
    return 42


class Untraceable(Net):
    def forward(self, x):
        x = self.conv(x)
        n = int(x.sum())  # needs values
        return self.head(x.mean((2, 3))) * n


def untraceable():
    model = Untraceable()
    model.head.weight = nn.Parameter(torch.zeros(2, 5))
    return model
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "net.py").write_text(NET)
    (tmp_path / "bad_syntax.py").write_text("def build(:\n    pass\n")
    (tmp_path / "raises_on_import.py").write_text("import torch\nraise RuntimeError('no GPU here')\n")
    pkg = tmp_path / "zoo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(NET)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def lint(target, **kw):
    kw.setdefault("verify", False)
    return convlint.lint(target, **kw)


@pytest.mark.parametrize("target,names", [
    ("net.py:net", "instance"), ("net.py:Net", "class"), ("net.py:build", "factory"), ("zoo.models:build", "package"),
])
def test_module_instance_class_factory_and_package_targets(project, target, names):
    report = lint(target, input_shape="N,1,H,W")
    assert not report.input_errors, report.input_errors
    assert report.findings == []


@pytest.mark.parametrize("target,message", [
    ("missing.py:build", "missing.py:build: no such file 'missing.py'"),
    ("bad_syntax.py:build", "bad_syntax.py:build: syntax error in bad_syntax.py line 1: invalid syntax"),
    ("raises_on_import.py:build", "raises_on_import.py:build: importing raises_on_import.py raised RuntimeError: no "
                                  "GPU here at raises_on_import.py:2"),
    ("net.py:nothing", "net.py:nothing: net.py has no attribute 'nothing'"),
    ("net.py:needs", "net.py:needs: needs() needs arguments"),
    ("net.py:broken", "net.py:broken: calling broken raised KeyError: 'model' at net.py:"),
    ("net.py:not_a_model", "net.py:not_a_model: not_a_model() returned a int, not an nn.Module"),
    ("zoo.nothere:build", "zoo.nothere:build: no module named 'zoo.nothere'"),
])
def test_bad_targets_end_in_one_line(project, target, message):
    report = lint(target, input_shape="N,1,H,W")
    [result] = report.results
    assert result.error.startswith(message), result.error
    assert "\n" not in result.error
    assert report.exit_code() == 2


def test_bad_targets_on_the_command_line(project):
    proc = run_cli("missing.py:build", "bad_syntax.py:build", "net.py:nothing", "net.py:broken", "net.py:build",
                   "--input-shape", "N,1,H,W", cwd=str(project))
    assert proc.returncode == 2
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 4 and all(line.startswith("convlint: error: ") for line in errors), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_untraceable_forward_still_gets_declared_checks_and_a_note(project):
    report = lint("net.py:untraceable", input_shape="N,1,H,W")
    got = sorted((f.rule, f.severity, f.location.get("module")) for f in report.findings)
    assert got == [("CL011", "info", None), ("CL210", "warning", "head")]
    note = next(f for f in report.findings if f.rule == "CL011")
    assert note.location["line"] == NET.splitlines().index("        n = int(x.sum())  # needs values") + 1
    assert "`n = int(x.sum())  # needs values` needs the values of a tensor" in note.message


def test_pickled_module_needs_trust(project):
    torch.save(nn.Sequential(nn.Conv2d(1, 4, 3)), project / "whole.pt")
    refused = lint("whole.pt", input_shape="N,1,H,W")
    assert "convlint loads it only with --trust-pickle" in refused.results[0].error
    trusted = lint("whole.pt", input_shape="N,1,H,W", trust_pickle=True)
    assert not trusted.input_errors and trusted.findings == []


def test_state_dict_is_not_a_model_but_weights(project):
    state = {"conv.weight": torch.zeros(4, 3, 3, 3), "conv.bias": torch.zeros(4), "head.weight": torch.zeros(2, 4),
             "head.bias": torch.zeros(2), "stray": torch.zeros(1)}
    torch.save(state, project / "ckpt.pt")
    assert "is a state dict (weights only), not a model" in lint("ckpt.pt").results[0].error
    report = lint("net.py:build", input_shape="N,1,H,W", weights="ckpt.pt")
    got = sorted((f.rule, f.location.get("module")) for f in report.findings)
    # the checkpoint's 3-channel stem, the 1-channel input it then meets at the first forward, and the stray key
    assert got == [("CL101", "conv"), ("CL700", "conv"), ("CL702", None)]
    stray = next(f for f in report.findings if f.rule == "CL702")
    assert stray.message == "ckpt.pt holds stray (1,), which the model has no place for"


def test_weights_apply_to_a_model_object_too(project):
    """The checkpoint is compared with the model, never loaded into it: a model object is left as it was."""
    model = nn.Sequential(nn.Conv2d(1, 4, 3))
    torch.save({"0.weight": torch.zeros(4, 3, 3, 3), "0.bias": torch.zeros(4)}, project / "stem.pt")
    report = lint(model, input_shape="N,1,H,W", weights="stem.pt")
    assert sorted(f.rule for f in report.findings) == ["CL101", "CL700"]
    assert model[0].weight.shape == (4, 1, 3, 3)


def test_exported_program(project):
    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(self.conv(x).mean((2, 3)))

    batch, height = torch.export.Dim("batch"), torch.export.Dim("height", min=4)
    ep = torch.export.export(Small(), (torch.randn(2, 3, 16, 16),), dynamic_shapes={"x": {0: batch, 2: height}})
    torch.export.save(ep, project / "small.pt2")
    proc = run_cli("small.pt2", "--input-shape", "N,3,H,16", "--format", "json", cwd=str(project))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["findings"] == []
    from convlint.frontends import load_graph
    from convlint.app.input_shapes import parse

    graph = load_graph("small.pt2", [parse("N,3,H,16")])
    conv = next(n for n in graph.nodes if n.op == "Conv")
    assert (conv.origin.module, conv.origin.module_class) == ("conv", "Conv2d")
    assert str(conv.outputs[0].shape) == "(N, 4, H - 2, 14)"
    unnamed = load_graph("small.pt2")
    assert str(unnamed.inputs[0].shape) == "(x_d0, 3, x_d2, 16)"
    # the archive holds the sizes export computed: what it fixed cannot be changed from the command line
    for dims, message in [("N,1,H,16", "axis 1 of input 'x' is 3 in the exported program (torch.export fixed it)"),
                          ("N,3,H,W", "axis 3 of input 'x' is 16 in the exported program"),
                          ("N,3,H", "input 'x' of the exported program has 4 dims, not 3")]:
        proc = run_cli("small.pt2", "--input-shape", dims, cwd=str(project))
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_pt2_that_is_not_an_archive(project):
    (project / "fake.pt2").write_bytes(b"not a zip")
    assert lint("fake.pt2").results[0].error == "fake.pt2: not a .pt2 archive (not a zip file)"


def test_module_file_with_a_main_guard_is_not_run(project):
    (project / "script.py").write_text(textwrap.dedent('''
        from torch import nn
        model = nn.Linear(3, 3)
        if __name__ == "__main__":
            raise SystemExit("training started")
    '''))
    assert not lint("script.py:model").input_errors
