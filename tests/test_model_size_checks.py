"""The model's own size checks (``assert H == 224``, ``torch._assert``, ``if W % 16: raise``) are conditions, not
errors: each becomes a CL012 warning with the exact condition, the trace goes on past it on sizes that meet it, and
every condition is checked against eager PyTorch on sizes inside and outside it."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import convlint  # noqa: E402


class PatchEmbed(nn.Module):
    """timm's patch embedding, reduced: a fixed image height and a width the patch size divides."""

    def __init__(self, out_features=10):
        super().__init__()
        self.proj = nn.Conv2d(3, 8, 16, 16)
        self.head = nn.Linear(8, out_features)

    def forward(self, x):
        B, C, H, W = x.shape
        torch._assert(H == 224, f"Input height ({H}) doesn't match model (224).")
        torch._assert(W % 16 == 0, f"Input width ({W}) should be divisible by patch size (16).")
        x = self.proj(x).flatten(2).transpose(1, 2)
        return self.head(x)


class Square(nn.Module):
    def forward(self, x):
        if x.shape[-1] != x.shape[-2]:
            raise ValueError("square images only")
        return x * 2


class PlainAssert(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        assert x.shape[2] % 32 == 0, "H must be a multiple of 32"  # passes on the first example size
        return self.conv(x)


def eager_runs(model, shape) -> bool:
    try:
        with torch.no_grad():
            model(torch.zeros(shape))
    except Exception:
        return False
    return True


def size_findings(report):
    return sorted((f.severity, f.condition, f.location.get("line")) for f in report.findings if f.rule == "CL012")


def test_a_fixed_image_size_is_a_condition_not_an_error():
    report = convlint.lint(PatchEmbed(), input_shape="N,3,H,W", verify=False)
    assert report.errors == []
    found = {f.condition: f for f in report.findings if f.rule == "CL012"}
    assert set(found) == {"H == 224", "W % 16 == 0"}
    assert all(f.severity == "warning" for f in found.values())
    assert found["H == 224"].message.endswith(': "Input height (H) doesn\'t match model (224)."')
    # every stated condition is true: inside it the model runs, outside it PyTorch refuses
    model = PatchEmbed()
    assert eager_runs(model, (1, 3, 224, 32)) and eager_runs(model, (1, 3, 224, 48))
    assert not eager_runs(model, (1, 3, 225, 32)) and not eager_runs(model, (1, 3, 224, 33))


def test_the_layers_after_a_check_are_still_linted():
    """The trace goes on past the check on sizes that meet it, so a fault after it is found."""
    model = PatchEmbed()
    model.head.weight = nn.Parameter(torch.randn(10, 9))
    report = convlint.lint(model, input_shape="N,3,H,W", verify=False)
    assert [(f.rule, f.location.get("module")) for f in report.errors] == [("CL220", "head")]


def test_pinned_sizes_that_fail_the_check_are_an_error():
    report = convlint.lint(PatchEmbed(), input_shape="N,3,200,W", verify=False)
    assert [f.rule for f in report.errors] == ["CL010"]
    assert "Input height (200) doesn't match model (224)." in report.errors[0].message
    assert not eager_runs(PatchEmbed(), (1, 3, 200, 32))
    assert size_findings(convlint.lint(PatchEmbed(), input_shape="N,3,224,W", verify=False)) == [
        ("warning", "W % 16 == 0", 26)]
    assert convlint.lint(PatchEmbed(), input_shape="N,3,224,32", verify=False).findings == []


@pytest.mark.parametrize("model,condition,inside,outside", [
    (Square(), "H == W", [(1, 3, 5, 5), (1, 3, 8, 8)], [(1, 3, 5, 6)]),
    (PlainAssert(), "H % 32 == 0", [(1, 3, 32, 7), (1, 3, 64, 9)], [(1, 3, 33, 7), (1, 3, 48, 7)]),
])
def test_python_asserts_and_raises_become_conditions(model, condition, inside, outside):
    report = convlint.lint(model, input_shape="N,3,H,W", verify=False)
    assert report.errors == []
    assert [f.condition for f in report.findings if f.rule == "CL012"] == [condition]
    assert all(eager_runs(model, s) for s in inside)
    assert not any(eager_runs(model, s) for s in outside)


def test_a_raise_that_does_not_follow_from_sizes_is_no_condition():
    class Unfinished(nn.Module):
        def forward(self, x):
            if x.shape[2] > 100:
                x = x * 2
            raise RuntimeError("this model is not finished")

    report = convlint.lint(Unfinished(), input_shape="N,3,H,W", verify=False)
    assert [f.rule for f in report.findings] == ["CL011"]
    assert "this model is not finished" in report.findings[0].message


def test_the_model_itself_is_located_where_the_user_made_it(tmp_path, monkeypatch):
    """A factory that returns one bare layer: the file and line that built it, named by the factory."""
    (tmp_path / "net.py").write_text("import torch\nfrom torch import nn\n\n\ndef build():\n"
                                     "    conv = nn.Conv2d(1, 4, 3)\n"
                                     "    conv.weight = nn.Parameter(torch.randn(4, 3, 3, 3))\n    return conv\n")
    monkeypatch.chdir(tmp_path)
    report = convlint.lint("net.py:build", input_shape="N,1,H,W", verify=False)
    assert {(f.node, f.location["file"], f.location["line"]) for f in report.findings} == {("build", "net.py", 6)}
    conv = nn.Conv2d(1, 4, 3)
    conv.weight = nn.Parameter(torch.randn(4, 3, 3, 3))
    report = convlint.lint(conv, input_shape="N,1,H,W", verify=False)  # the line that asked for the lint
    here = __file__.rsplit("/", 1)[1]
    assert {(f.node, f.location["file"].rsplit("/", 1)[-1]) for f in report.findings} == {("<root>", here)}
