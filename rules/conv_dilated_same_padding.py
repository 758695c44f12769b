from convlint.examples import TorchExample
from convlint.rule import Rule
from convlint.shapes.conv import kernel_of, window

from ._conv import layout
from ._same_padding import SAME, pads_hint, same_pads


def _dilated_same_conv():
    from torch import nn

    return nn.Conv1d(4, 8, 3, padding="same", dilation=2)


class ConvDilatedSamePadding(Rule):
    """## What it does
    Checks that a convolution (`Conv`, `ConvInteger`, `QLinearConv`) does not combine `auto_pad` `SAME_UPPER` or
    `SAME_LOWER` with a dilation other than 1, which onnxruntime cannot run.

    ## Why is this bad?
    The model is valid ONNX: the specification defines SAME padding for any dilation, and other runtimes may run
    it. onnxruntime does not: its convolutions work out SAME padding only for undilated kernels and refuse the
    layer in `run()` with "Dilation not supported for AutoPadType::SAME_UPPER or AutoPadType::SAME_LOWER". It is an
    error because onnxruntime is where convlint verifies every error and where the model will most likely be
    deployed; if yours runs elsewhere, `--ignore CL108`.

    A PyTorch layer with `padding="same"` and a dilation is not reported: PyTorch runs it, and its default ONNX
    exporter (`torch.onnx.export(..., dynamo=True)`) writes the padding out in `pads`. The older TorchScript
    exporter (`dynamo=False`) writes `auto_pad="SAME_UPPER"` instead, which onnxruntime refuses.

    ## Example
    `Conv<auto_pad = "SAME_UPPER", dilations = [2, 2]>(x[1, 3, 8, 8], W[4, 3, 3, 3])`.

    ## Fix
    Write the padding out: `auto_pad = "NOTSET"` and the `pads` SAME padding stands for (the hint gives them when
    the input size allows). Per axis the total is
    `max(0, (ceil(D / stride) - 1) * stride + dilation * (k - 1) + 1 - D)`, split in half with the odd one at the
    end (`SAME_UPPER`) or at the beginning (`SAME_LOWER`).
    """

    code = "CL108"
    name = "conv-dilated-same-padding"
    brief = "a convolution does not combine SAME `auto_pad` with a dilation, which onnxruntime cannot run"
    ops = ("Conv", "ConvInteger", "QLinearConv")

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3, 8, 8] x) => (float[1, 4, 8, 8] y)
        <float[4, 3, 3, 3] w> { y = Conv<auto_pad = "SAME_UPPER">(x, w) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3, 8, 8] x) => (float[1, 4, 8, 8] y)
        <float[4, 3, 3, 3] w> { y = Conv<dilations = [2, 2], pads = [2, 2, 2, 2]>(x, w) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3, 8, 8] x) => (float[1, 4, 8, 8] y)
        <float[4, 3, 3, 3] w> { y = Conv<auto_pad = "SAME_UPPER", dilations = [2, 2]>(x, w) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (uint8[1, 3, N] x) => (int32[1, 4, M] y)
        <uint8[4, 3, 2] w> { y = ConvInteger<auto_pad = "SAME_LOWER", dilations = [3], strides = [2]>(x, w) }""",
    ]
    TORCH_VALID = [TorchExample(_dilated_same_conv, "N,4,L")]

    def check(self, node, ctx):
        auto_pad = node.attrs.get("auto_pad")
        dilations = node.attrs.get("dilations")
        if auto_pad not in SAME or not dilations or all(d == 1 for d in dilations):
            return
        rank = len(dilations)
        message = (f"auto_pad {auto_pad} with dilations ({', '.join(map(str, dilations))}{',' if rank == 1 else ''}) "
                   f"is valid ONNX, but onnxruntime cannot run it: its {node.op} works out SAME padding only for "
                   f"undilated kernels")
        win = window(node, rank, kernel_of(node, node.input_shape(3 if node.op == "QLinearConv" else 1)))
        hint = pads_hint(auto_pad, same_pads(node.input_shape(0), win) if win is not None else None)
        shapes = layout(node).replay_shapes() if node.op == "Conv" else {}
        yield self.finding(node, message, hint, replay_shapes=shapes)

