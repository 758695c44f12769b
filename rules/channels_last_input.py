from convlint.core import dims
from convlint.examples import TorchExample
from convlint.rule import WARNING, Rule

from ._conv import CONV_OPS, QUANTIZED_CONV_OPS, layout
from ._layout import channels_axis, layout_name, permute_text
from ._sizes import equal_verdict, layer, named


def _conv1d():
    from torch import nn

    return nn.Conv1d(64, 32, 3)


class ChannelsLastInput(Rule):
    """## What it does
    Checks that a convolution is not fed a channels-last tensor whose axis 1 holds a symbol: a `Conv1d` fed
    `(N, L, 64)` when its weight wants 64 channels, a `Conv2d` fed `(N, H, W, 3)`. Exactly one other axis holds the
    channel count the weight expects; the layer runs only when the symbol happens to equal it (`L == 64`), and then
    mixes positions with channels. The message says which permute moves the channels to axis 1.

    When axis 1 holds a number, the channel count is provably wrong and `conv-input-channels` (CL101) reports it as
    an error, with the same permute as its hint.

    ## Why is this bad?
    PyTorch and ONNX convolutions read channels on axis 1 (NCHW). An image loaded as `(N, H, W, 3)`, or a sequence
    kept as `(batch, length, features)` from an embedding or a Transformer, fails with "expected input[1, 224, 224,
    3] to have 3 channels, but got 224 channels instead", or silently mixes positions and features when the sizes
    happen to match.

    ## Example
    `Conv(x[1, 224, 224, 3], W[64, 3, 7, 7])`.

    ## Fix
    Permute to channels-first before the convolution: `x.permute(0, 3, 1, 2)` for NHWC, `x.transpose(1, 2)` for
    `(N, L, C)`; in ONNX, a `Transpose` with the permutation the message gives.
    """

    code = "CL600"
    name = "channels-last-input"
    brief = "a convolution is not fed `(N, L, C)` or NHWC (the permute that fixes it)"
    severity = WARNING
    ops = CONV_OPS + QUANTIZED_CONV_OPS

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3, 224, 224] x) => (float[1, 8, 218, 218] y)
        <float[8, 3, 7, 7] w> { y = Conv(x, w) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 3, 3, 3] x) => (float[N, 4, 1, 1] y)
        <float[4, 3, 3, 3] w> { y = Conv(x, w) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, L, 64] x) => (float[N, 32, L2] y)
        <float[32, 64, 3] w> { y = Conv(x, w) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, H, W, 3] x) => (float[N, 8, H2, W2] y)
        <float[8, 3, 3, 3] w> { y = Conv<pads = [1, 1, 1, 1]>(x, w) }""",
    ]
    TORCH_VALID = [TorchExample(_conv1d, "N,64,L")]
    TORCH_INVALID = [TorchExample(_conv1d, "N,L,64")]

    def check(self, node, ctx):
        x = node.input_shape(0)
        if x is None or len(x) < 3 or type(x[1]) is int:
            return  # a number on axis 1 is conv-input-channels' business
        c = layout(node)
        j = channels_axis(c.x, c.expected_in)
        if j is None:
            return
        if type(c.channels) is int or not equal_verdict(c.channels, c.expected_in).some:
            return  # a number on axis 1 is conv-input-channels' error
        message = (f"{layer(node)} expects {dims.pretty(c.expected_in)} channels on axis 1 of "
                   f"{named(node.input(0))}, which holds {dims.pretty(c.channels)}, while axis {j} holds "
                   f"{dims.pretty(c.expected_in)}: the input looks {layout_name(c.x, j)}; it runs only when "
                   f"{dims.pretty(c.channels)} == {dims.pretty(c.expected_in)}, and then mixes positions with channels")
        hint = f"move the channels to axis 1 before the layer: {permute_text(len(c.x), j)}"
        yield self.finding(node, message, hint)

