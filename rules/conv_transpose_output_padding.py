from convlint.examples import TorchExample
from convlint.rule import WARNING, Rule

from ._conv import layout, spatial_name
from ._sizes import is_torch


def _upsampling_deconv():
    from torch import nn

    return nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)


def _padding_as_large_as_stride():
    from torch import nn

    return nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=2)  # PyTorch refuses it in forward


class ConvTransposeOutputPadding(Rule):
    """## What it does
    Checks that each `output_padding` value of a `ConvTranspose` lies between 0 and `stride - 1` on its axis.

    ## Why is this bad?
    `output_padding` only chooses among the output sizes that all map back to the same input size under the
    forward convolution; there are `stride` of them, so a value of `stride` or more describes no such output.
    onnxruntime refuses the layer in `run()`: "output_padding[0] (2) must be less than max(stride, dilation)", or,
    when the dilation is larger than the stride, "Computed output shape is inconsistent with input spatial
    dimensions. output_padding (1) may be too large for stride (1)" (a negative value fails its shape inference).
    PyTorch refuses `output_padding` at least as large as both the stride and the dilation ("output padding must
    be smaller than either stride or dilation") in the forward pass, not in the constructor.

    One case PyTorch runs and onnxruntime does not: a value at least the stride but below the dilation
    (`stride=1, dilation=2, output_padding=1`). On a PyTorch model that is a warning, since the model runs in
    PyTorch; its ONNX export (either exporter writes `output_padding` as is) is refused by onnxruntime.

    ## Example
    `ConvTranspose<strides = [2, 2], output_padding = [2, 2]>(x[1, 8, 4, 4], W[8, 4, 3, 3])`.

    ## Fix
    Make `output_padding` smaller than the stride on every axis. For a larger output, lower `pads` (PyTorch's
    `padding`) instead, or pad the layer's output.
    """

    code = "CL107"
    name = "conv-transpose-output-padding"
    brief = "a ConvTranspose's `output_padding` lies between 0 and `stride - 1` on every axis"
    ops = ("ConvTranspose",)

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 8, 4, 4] x) => (float[1, 4, 8, 8] y)
        <float[8, 4, 3, 3] w> {
            y = ConvTranspose<strides = [2, 2], pads = [1, 1, 1, 1], output_padding = [1, 1]>(x, w)
        }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 8, 4] x) => (float[1, 4, 16] y)
        <float[8, 4, 3] w> { y = ConvTranspose<strides = [3], dilations = [2], output_padding = [2]>(x, w) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 8, 4, 4] x) => (float[1, 4, 9, 9] y)
        <float[8, 4, 3, 3] w> {
            y = ConvTranspose<strides = [2, 2], pads = [1, 1, 1, 1], output_padding = [2, 2]>(x, w)
        }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 8, 4] x) => (float[1, 4, 9] y)
        <float[8, 4, 3] w> { y = ConvTranspose<dilations = [2], output_padding = [1]>(x, w) }""",
    ]
    TORCH_VALID = [TorchExample(_upsampling_deconv, "N,8,H,W")]
    TORCH_INVALID = [TorchExample(_padding_as_large_as_stride, "N,8,H,W")]

    def check(self, node, ctx):
        grow = node.attrs.get("output_padding")
        if not grow:
            return
        rank = len(grow)
        strides = list(node.attrs.get("strides") or [1] * rank)
        dilations = list(node.attrs.get("dilations") or [1] * rank)
        if len(strides) != rank or len(dilations) != rank:
            return
        bad = [i for i in range(rank) if grow[i] < 0 or grow[i] >= strides[i]]
        if not bad:
            return
        torch_runs = is_torch(node) and all(0 <= grow[i] < dilations[i] for i in bad)
        dilated = f" and dilations {_ints(dilations)}" if any(d != 1 for d in dilations) else ""
        names = [spatial_name(rank, i) for i in bad]
        where = f"the {names[0]} axis" if len(names) == 1 else f"the {', '.join(names[:-1])} and {names[-1]} axes"
        if torch_runs:
            outcome = ("PyTorch runs it, since output_padding stays below the dilation there, but onnxruntime refuses "
                       "this layer once exported to ONNX")
        else:
            outcome = f"{'PyTorch and onnxruntime refuse' if is_torch(node) else 'onnxruntime refuses'} this layer"
        message = (f"output_padding {_ints(grow)} with strides {_ints(strides)}{dilated} is not within 0 .. stride - 1 "
                   f"on {where}: {outcome}")
        fits = [min(max(g, 0), s - 1) for g, s in zip(grow, strides)]
        hint = (f"keep output_padding below the stride on each axis, at most {_ints(fits)} here; for a larger output, "
                f"lower the padding instead, or pad the output")
        shapes = layout(node).replay_shapes() if not torch_runs else {}
        yield self.finding(node, message, hint, WARNING if torch_runs else None, replay_shapes=shapes)


def _ints(values) -> str:
    return "(" + ", ".join(str(v) for v in values) + ("," if len(values) == 1 else "") + ")"
