"""Padding by an amount that is itself a size (``H % 2``, ``(7 - W % 7) % 7``) is followed for every size at once:
no comparison of the amount with zero is hidden in the trace (torch's own constant padding makes one, and the trace
then held for the sizes that need no padding only), and padding up to a multiple of ``k`` comes out as
``k * ⌊(H + k - 1) / k⌋``, in which dividing into windows of ``k`` is plainly exact; and a count of windows that is
1 at the example sizes fixes no size (torch's view and its contiguity check compare sizes with 1). Each verdict is
checked against eager PyTorch at sizes on both sides."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import sympy  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import convlint  # noqa: E402
from convlint.app import input_shapes  # noqa: E402
from convlint.core import dims  # noqa: E402
from convlint.frontends.torch_model import load  # noqa: E402


class PatchMerging(nn.Module):
    """torchvision's Swin patch merging: pad height and width to even, then join the four interleaved halves."""

    def __init__(self, c=8):
        super().__init__()
        self.reduction = nn.Linear(4 * c, 2 * c)

    def forward(self, x):  # N, H, W, C
        h, w, _ = x.shape[-3:]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x0, x1 = x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :]
        x2, x3 = x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]
        return self.reduction(torch.cat([x0, x1, x2, x3], -1))


class WindowPartition(nn.Module):
    """Swin's window attention: pad to whole windows of 7, then cut the map into them."""

    def __init__(self, c=8, window=7):
        super().__init__()
        self.window = window
        self.proj = nn.Linear(c, c)

    def forward(self, x):  # N, H, W, C
        b, h, w, c = x.shape
        ws = self.window
        x = F.pad(x, (0, 0, 0, (ws - w % ws) % ws, 0, (ws - h % ws) % ws))
        _, ph, pw, _ = x.shape
        x = x.view(b, ph // ws, ws, pw // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)
        return self.proj(x)


class PadByRemainder(nn.Module):
    """Pads the height by ``H % 3`` (a slip for ``(3 - H % 3) % 3``), then cuts it into rows of 3: only heights
    divisible by 3 (which get no padding) can be cut."""

    def forward(self, x):  # N, H, C
        x = F.pad(x, (0, 0, 0, x.shape[1] % 3))
        return x.view(x.shape[0], -1, 3, x.shape[2])


def runs(model, *shape) -> bool:
    try:
        with torch.no_grad():
            model(torch.zeros(*shape))
    except RuntimeError:
        return False
    return True


def pad_node(model, shape):
    graph = load(model, input_shapes.coerce(shape))
    [node] = [n for n in graph.nodes if n.name == "pad"]
    return graph, node


def rounded_up(name, k):
    return k * sympy.floor((dims.symbol(name) + k - 1) / k)


@pytest.mark.parametrize("build, k, sizes", [
    (PatchMerging, 2, ((5, 6), (6, 5), (7, 7), (8, 8), (1, 1))),  # pads to even, joins the interleaved halves
    (WindowPartition, 7, ((7, 7), (8, 13), (1, 2), (20, 14))),  # pads to whole windows of 7, cuts into them
], ids=["patch_merging", "window_partition"])
def test_padding_to_a_multiple_works_for_every_size(build, k, sizes):
    model = build()
    report = convlint.lint(model, input_shape="N,H,W,8", verify=False)
    assert report.findings == [], [f.message for f in report.findings]
    graph, node = pad_node(model, "N,H,W,8")
    assert node.outputs[0].shape == (dims.symbol("N"), rounded_up("H", k), rounded_up("W", k), 8)
    assert graph.trace.branches == graph.trace.followed == [] and graph.trace.specialized == {}
    for h, w in sizes:
        assert runs(model, 1, h, w, 8)


def test_padding_that_does_not_round_up_keeps_its_condition():
    model = PadByRemainder()
    report = convlint.lint(model, input_shape="N,H,8", verify=False)
    assert report.errors == []
    [f] = report.findings
    assert f.condition == "H % 3 == 0", f.message
    _, node = pad_node(model, "N,H,8")
    h = dims.symbol("H")
    assert node.outputs[0].shape == (dims.symbol("N"), h + sympy.Mod(h, 3), 8)
    for size in (3, 6, 9):
        assert runs(model, 1, size, 8)
    for size in (4, 5, 7, 8):
        assert not runs(model, 1, size, 8)


class DeepWindows(nn.Module):
    """Windows of 7 on a map 32 times smaller than the input: at the example sizes (a height of 192 gives a map of 6)
    there is one window, and comparing that count with 1 (as torch's own view and linear do) would fix the input's
    size. ``transposed``: the windows' rows and columns swapped before the projection, as Twins does."""

    def __init__(self, transposed=False):
        super().__init__()
        self.transposed = transposed
        self.down = nn.Conv2d(3, 8, 32, stride=32)
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        x = self.down(x).permute(0, 2, 3, 1).contiguous()
        b, h, w, c = x.shape
        x = F.pad(x, (0, 0, 0, (7 - w % 7) % 7, 0, (7 - h % 7) % 7))
        _, ph, pw, _ = x.shape
        x = x.view(b, ph // 7, 7, pw // 7, 7, c)
        return self.proj(x.transpose(2, 3) if self.transposed else x)


@pytest.mark.parametrize("transposed", [False, True])
def test_one_window_at_the_example_sizes_fixes_no_size(transposed):
    model = DeepWindows(transposed)
    report = convlint.lint(model, input_shape="N,3,H,W", verify=False)
    assert report.findings == [], [f.message for f in report.findings]
    graph = load(model, input_shapes.coerce("N,3,H,W"))
    assert graph.trace.specialized == {}
    for h, w in ((32, 32), (192, 256), (230, 460)):
        assert runs(model, 1, 3, h, w)
