"""What the convolution rules share: the weight layout of Conv versus ConvTranspose (see DESIGN.md), and where the
quantized convolutions keep their weight and bias."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from convlint.core import compare, dims

CONV_OPS = ("Conv", "ConvTranspose")
QUANTIZED_CONV_OPS = ("QLinearConv", "ConvInteger")
# op -> (weight input, bias input or None): QLinearConv's inputs interleave scales and zero points
_WEIGHT_AND_BIAS = {"Conv": (1, 2), "ConvTranspose": (1, 2), "QLinearConv": (3, 8), "ConvInteger": (1, None)}
SPATIAL_NAMES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}


@dataclass
class ConvLayout:
    """A Conv or ConvTranspose node read in the terms of DESIGN.md's table."""

    node: object
    x: Optional[tuple]  # input shape
    w: Optional[tuple]  # weight shape
    group: int
    transposed: bool
    weight_index: int = 1
    bias_index: Optional[int] = 2

    @property
    def weight_name(self) -> str:
        w = self.node.input(self.weight_index)
        return w.name if w is not None else "W"

    @property
    def bias(self):
        """The bias value; None when it is omitted or the op has none."""
        return None if self.bias_index is None else self.node.input(self.bias_index)

    @property
    def input_name(self) -> str:
        return self.node.inputs[0].name if self.node.input(0) is not None else "X"

    @property
    def expected_in(self):
        """Input channels the weight accepts: W.shape[1] * group, or W.shape[0] when transposed."""
        if self.w is None or len(self.w) < 2:
            return None
        return self.w[0] if self.transposed else dims.mul(self.w[1], self.group)

    @property
    def out_channels(self):
        if self.w is None or len(self.w) < 2:
            return None
        return dims.mul(self.w[1], self.group) if self.transposed else self.w[0]

    @property
    def channels(self):
        return self.x[1] if self.x is not None and len(self.x) >= 2 else None


    def replay_shapes(self, fix_bias: bool = True) -> dict:
        """The shapes (``Evidence.replay_shapes``) that replay the layer with the input channels its weight takes
        (and, unless the finding is about the bias, a bias of the right length), so that a node with several faults
        shows onnxruntime refusing the finding's own fault rather than another's."""
        shapes = {}
        if self.x is not None and len(self.x) >= 2 and compare.equal(self.channels, self.expected_in) is False:
            shapes[self.input_name] = (self.x[0], self.expected_in) + tuple(self.x[2:])
        bias = self.bias
        if fix_bias and bias is not None and self.out_channels is not None and bias.shape != (self.out_channels,):
            shapes[bias.name] = (self.out_channels,)
        return shapes


def layout(node) -> ConvLayout:
    weight, bias = _WEIGHT_AND_BIAS.get(node.op, (1, 2))
    return ConvLayout(node, node.input_shape(0), node.input_shape(weight), node.attrs.get("group", 1) or 1,
                      node.op == "ConvTranspose", weight, bias)


def spatial_name(rank: int, i: int) -> str:
    names = SPATIAL_NAMES.get(rank)
    return names[i] if names else f"spatial axis {i}"


