"""A condition found after a branch on sizes holds for every size, not just those that take the branch's way: the
model is traced the other way too and the two conditions are joined (:mod:`convlint.checking.branches`). Each stated
condition is checked against eager PyTorch at sizes inside and outside it."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import convlint  # noqa: E402


class PadToStride(nn.Module):
    """Pads the height (and, with ``both``, the width) up to a multiple of 32, as segmentation backbones do, then
    joins a map downsampled 32 times and upsampled back with the input."""

    def __init__(self, both=False):
        super().__init__()
        self.both = both
        self.down = nn.Conv2d(3, 8, 3, stride=32, padding=1)
        self.up = nn.Upsample(scale_factor=32)

    def forward(self, x):
        pad_h = (32 - x.shape[2] % 32) % 32
        pad_w = (32 - x.shape[3] % 32) % 32 if self.both else 0
        if pad_h:
            x = F.pad(x, (0, 0, 0, pad_h))
        if pad_w:
            x = F.pad(x, (0, pad_w, 0, 0))
        return torch.cat([x, self.up(self.down(x))], 1)


def runs(model, h, w) -> bool:
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, h, w))
    except Exception:
        return False
    return True


def test_a_padded_height_leaves_only_the_width_condition():
    model = PadToStride()
    report = convlint.lint(model, input_shape="N,3,H,W", verify=False)
    assert report.errors == []
    [f] = [f for f in report.findings if f.rule == "CL502"]
    assert f.condition == "W % 32 == 0"
    assert "only when W % 32 == 0 (smallest: W = 32)" in f.message and "H % 32" not in f.message
    for h in (224, 225, 231, 240, 256):  # inside: every height
        assert runs(model, h, 64)
    for w in (63, 65, 80):  # outside
        assert not runs(model, 224, w)


def test_padding_both_sides_states_no_false_condition():
    """Two branches on two sizes: the joined condition (every size) is beyond the solver, so the finding is a
    note scoped to the way followed, never a warning with a condition some sizes break."""
    model = PadToStride(both=True)
    report = convlint.lint(model, input_shape="N,3,H,W", verify=False)
    assert [(f.severity, f.condition) for f in report.findings if f.rule == "CL502"] in ([], [("info", None)])
    assert all(runs(model, h, w) for h, w in ((224, 224), (225, 63), (33, 97)))


def test_pinned_sizes_are_unchanged():
    report = convlint.lint(PadToStride(), input_shape="N,3,225,65", verify=False)
    assert [f.rule for f in report.errors] == ["CL502"]


class ScaledBack(nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=1.7) + x  # a size computed in floating point: torch fixes H and W


def test_no_condition_is_stated_on_a_size_torch_fixed():
    """After torch fixed H to its example value, the sizes that follow hold for that value only: the broadcast's
    'condition' would be false (H = 326 does not run), so it is a note that says so, not a warning."""
    report = convlint.lint(ScaledBack(), input_shape="N,3,H,W", verify=False)
    [f] = [f for f in report.findings if f.rule == "CL500"]
    assert (f.severity, f.condition) == ("info", None)
    assert "PyTorch fixed" in f.message
    assert not runs(ScaledBack(), 326, 435)
