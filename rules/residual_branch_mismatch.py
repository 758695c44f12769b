from convlint.core import compare, dims
from convlint.examples import TorchExample
from convlint.rule import Rule

from ._conv import spatial_name
from ._constraints import default_opset, legacy_broadcast
from ._residual import shortcut_and_branch
from ._sizes import broadcast_verdict, condition_clause, judged, layer, named, same


def _block(projection):
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(8, 16, 3, stride=2, padding=1)
            self.shortcut = nn.Conv2d(8, 16, 1, stride=2) if projection else nn.Identity()

        def forward(self, x):
            return self.shortcut(x) + self.conv(x)

    return Block()


def _projected_block():
    return _block(True)


def _unprojected_block():
    return _block(False)


class ResidualBranchMismatch(Rule):
    """## What it does
    Checks that a residual addition, `Add(x, f(x))` where the branch `f(x)` is computed from the shortcut `x`
    through a layer that changes shapes (a convolution, a pooling, a linear layer), receives operands that
    broadcast. It says which operand is the shortcut and which the branch, how the branch changed the shape, and
    the projection the shortcut is missing.

    ## Why is this bad?
    The block cannot run: PyTorch fails with "The size of tensor a (64) must match the size of tensor b (128) at
    non-singleton dimension 1", onnxruntime in `run()`. A ResNet block whose branch downsamples (stride 2) or
    changes the channel count needs a projection on its shortcut; without it, the shortcut keeps the old shape.

    ## Example
    `y = Add(x, bn2)` where `x` is `(N, 64, 56, 56)` and the branch, with a stride-2 convolution to 128 channels,
    gives `(N, 128, 28, 28)`.

    ## Fix
    Project the shortcut to the branch's shape: a 1×1 convolution with the branch's channels and stride, followed
    by a BatchNorm (ResNet's `downsample`), or drop the stride and the channel change from the branch.
    """

    code = "CL501"
    name = "residual-branch-mismatch"
    brief = "a residual Add's shortcut and branch agree (a missing projection)"
    ops = ("Add",)

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 8, H, W] x) => (float[N, 8, H, W] y)
        <float[8, 8, 3, 3] w> { c = Conv<pads = [1, 1, 1, 1]>(x, w)  r = Relu(c)  y = Add(x, r) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 8, H, W] x) => (float[N, 16, H2, W2] y)
        <float[16, 8, 3, 3] w, float[16, 8, 1, 1] p>
        { c = Conv<pads = [1, 1, 1, 1], strides = [2, 2]>(x, w)  s = Conv<strides = [2, 2]>(x, p)  y = Add(s, c) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 8, 16, 16] x) => (float[1, 16, 8, 8] y)
        <float[16, 8, 3, 3] w> { c = Conv<pads = [1, 1, 1, 1], strides = [2, 2]>(x, w)  r = Relu(c)  y = Add(x, r) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 8, H, W] x) => (float[N, 16, H2, W2] y)
        <float[16, 8, 3, 3] w> { c = Conv<pads = [1, 1, 1, 1]>(x, w)  y = Add(c, x) }""",
    ]
    TORCH_VALID = [TorchExample(_projected_block, "N,8,H,W")]
    TORCH_INVALID = [TorchExample(_unprojected_block, "N,8,H,W")]

    def check(self, node, ctx):
        x, fx = node.input(0), node.input(1)
        if x is None or fx is None or x.shape is None or fx.shape is None or x.shape == fx.shape:
            return
        verdict, axes = broadcast_verdict([x.shape, fx.shape])
        if not (verdict.never or verdict.some) or legacy_broadcast(node, default_opset(ctx.graph)):
            return
        pair = shortcut_and_branch(node)
        if pair is None:
            return
        shortcut, branch = pair
        changes = []
        for i in range(1, len(shortcut.shape)):
            a, b = shortcut.shape[i], branch.shape[i]
            if not same(a, b):
                what = "channels" if i == 1 else spatial_name(len(shortcut.shape) - 2, i - 2)
                changes.append(f"{what} {dims.pretty(a)} → {dims.pretty(b)}")
        message = (f"residual {layer(node)} adds the shortcut {named(shortcut)} to the branch {named(branch)}, "
                   f"which changed {', '.join(changes) or 'its shape'}: the shortcut has no projection")
        message += condition_clause(verdict, "they broadcast")
        yield self.finding(node, message, _hint(shortcut, branch), **judged(verdict))


def _hint(shortcut, branch):
    s, b = shortcut.shape, branch.shape
    strides = []
    for i in range(2, len(s)):
        if same(s[i], b[i]):
            strides.append(1)
            continue
        stride = next((k for k in range(2, 9) if compare.equal(dims.add(dims.floordiv(dims.sub(s[i], 1), k), 1), b[i])
                       is True), None)
        if stride is None:
            return (f"make the branch keep the shortcut's size, or resize the shortcut {shortcut.name!r} to "
                    f"{dims.pretty_shape(b)} before the addition")
        strides.append(stride)
    stride = strides[0] if strides and len(set(strides)) == 1 else tuple(strides)
    kind = "1×1 " if len(s) == 4 else ""
    return (f"project the shortcut {shortcut.name!r}: a {kind}convolution with {dims.pretty(b[1])} output channels "
            f"and stride {stride}, then a BatchNorm (ResNet's downsample), so that it gives {dims.pretty_shape(b)}")
