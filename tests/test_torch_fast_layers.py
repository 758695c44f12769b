"""Linear and BatchNorm layers whose fit is certain get their output from convlint's shape functions instead of
PyTorch's fake kernels (the ``fits`` tests of :mod:`convlint.frontends.torch_modules`). These cases sit at the edge
of those tests: each must come out as PyTorch has it, its refusals included, and the shapes after a computed layer
must be PyTorch's, in the user's dim names.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import convlint  # noqa: E402


def findings(model, shape, dtype="float32"):
    report = convlint.lint(model, input_shape=shape, input_dtype=dtype, verify=False)
    assert not [r.error for r in report.results if r.error]
    return [(f.severity, f.rule, f.message) for r in report.results for f in r.findings]


class ChannelsLast(nn.Module):
    """BatchNorm keeps a channels-last layout, so the ``view`` after it is refused, as in eager PyTorch."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        return self.bn(x.to(memory_format=torch.channels_last)).view(1, -1)


def test_training_batch_norm_on_one_value_per_channel_is_refused():
    found = findings(nn.Sequential(nn.Flatten(), nn.BatchNorm1d(12)), (1, 12))
    assert [(s, r) for s, r, _ in found] == [("error", "CL010")], found
    assert "more than 1 value per channel" in found[0][2]


def test_same_batch_norm_in_eval_mode_is_clean():
    assert findings(nn.Sequential(nn.Flatten(), nn.BatchNorm1d(12)).eval(), (1, 12)) == []


def test_batch_norm_keeps_a_channels_last_layout():
    found = findings(ChannelsLast(), (1, 3, 4, 4))
    assert [(s, r) for s, r, _ in found] == [("error", "CL010")], found
    assert "Cannot view" in found[0][2]


def test_linear_that_does_not_fit_is_still_reported():
    found = findings(nn.Linear(8, 4), ("N", 9))
    assert [(s, r) for s, r, _ in found] == [("error", "CL220")], found


def test_shapes_after_computed_layers_are_pytorchs():
    """A symbolic-shape check downstream of computed Linear and BatchNorm outputs: a reshape that only works when
    the computed sizes are right (``T * 4`` features), and a residual add with the BatchNorm output."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 4)
            self.bn = nn.BatchNorm1d(4)

        def forward(self, x):
            y = self.fc(x)  # (N, T, 4)
            z = self.bn(y.transpose(1, 2)).transpose(1, 2)
            return (y + z).reshape(x.shape[0], -1)

    assert findings(Net().eval(), ("N", "T", 8)) == []
    wrong = findings(nn.Sequential(nn.Linear(8, 4), nn.Linear(5, 2)), ("N", "T", 8))
    assert [(s, r) for s, r, _ in wrong] == [("error", "CL220")], wrong
    assert "4 features" in wrong[0][2]
