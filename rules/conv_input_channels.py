from convlint.core import compare, dims
from convlint.rule import Rule

from ._conv import CONV_OPS, QUANTIZED_CONV_OPS, layout
from ._sizes import plural
from ._layout import channels_last_hint


class ConvInputChannels(Rule):
    """## What it does
    Checks that a convolution's input has as many channels as its weight accepts: `W.shape[1] * group` for `Conv`,
    `W.shape[0]` for `ConvTranspose` (whose weight is laid out `(C, M / group, k...)`).

    ## Why is this bad?
    The layer cannot run. PyTorch fails at the first forward pass ("expected input[1, 1, 64, 64] to have 3 channels,
    but got 1 channels instead"), often an hour into a job; onnxruntime loads the model and fails only inside
    `run()`. ONNX's checker and shape inference accept the model.

    With `group > 1` each group sees `C / group` input channels, not all of them: a weight of shape `(4, 3, 3, 3)`
    with `group=2` wants `3 * 2 = 6` input channels.

    ## Example
    A 1-channel image fed to a convolution whose weight `(4, 3, 3, 3)` was made for RGB:
    `y = Conv(x[1, 1, 64, 64], W[4, 3, 3, 3])`.

    ## Fix
    Feed the channels the weight expects, or give the weight `C / group` input channels: `(4, 1, 3, 3)` for a
    1-channel input.
    """

    code = "CL101"
    name = "conv-input-channels"
    brief = "input channels equal `W.shape[1] * group` (`W.shape[0]` for ConvTranspose)"
    ops = CONV_OPS + QUANTIZED_CONV_OPS

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3, 8, 8] x) => (float[1, 4, 6, 6] y)
        <float[4, 3, 3, 3] w> { y = Conv(x, w) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 6, 8, 8] x) => (float[1, 4, 6, 6] y)
        <float[4, 3, 3, 3] w> { y = Conv<group = 2>(x, w) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 4, H, W] x) => (float[N, 6, H2, W2] y)
        <float[4, 3, 3, 3] w> { y = ConvTranspose<group = 2>(x, w) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 1, 8, 8] x) => (float[1, 4, 6, 6] y)
        <float[4, 3, 3, 3] w> { y = Conv(x, w) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3, 8, 8] x) => (float[1, 4, 6, 6] y)
        <float[4, 3, 3, 3] w> { y = Conv<group = 2>(x, w) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 3, H, W] x) => (float[N, 4, H2, W2] y)
        <float[4, 2, 3, 3] w> { y = ConvTranspose(x, w) }""",
    ]

    def check(self, node, ctx):
        c = layout(node)
        expected, have = c.expected_in, c.channels
        if compare.equal(have, expected) is not False:
            return
        w = dims.pretty_shape(c.w)
        if c.transposed:
            why = "W.shape[0] (a ConvTranspose weight is laid out (C, M / group, k...))"
            fix_w = (have,) + tuple(c.w[1:])
        else:
            why = f"W.shape[1] {dims.pretty(c.w[1])} × group {c.group}"
            fix_w = None
            if compare.divisible(have, c.group):
                fix_w = (c.w[0], dims.floordiv(have, c.group)) + tuple(c.w[2:])
        message = (f"input {c.input_name!r} has {plural(have, 'channel')}, but weight {c.weight_name!r} {w} "
                   f"with group={c.group} expects {dims.pretty(expected)} = {why}")
        if fix_w is not None:
            hint = f"feed an input with {dims.pretty(expected)} channels, or give the weight shape {dims.pretty_shape(fix_w)}"
        else:
            hint = (f"feed an input with {dims.pretty(expected)} channels, or pick a group that divides "
                    f"{dims.pretty(have)} and give the weight {dims.pretty(have)} / group input channels")
        hint = channels_last_hint(c.x, expected) or hint
        yield self.finding(node, message, hint)
