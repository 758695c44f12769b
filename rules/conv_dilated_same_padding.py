from convlint import dims
from convlint.examples import TorchExample
from convlint.rule import Rule
from convlint.shapes.conv import kernel_of

from ._conv import layout
from ._sizes import is_torch

SAME = ("SAME_UPPER", "SAME_LOWER")


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
        if auto_pad not in SAME or not dilations or all(d == 1 for d in dilations) or is_torch(node):
            return
        rank = len(dilations)
        message = (f"auto_pad {auto_pad} with dilations ({', '.join(map(str, dilations))}{',' if rank == 1 else ''}) "
                   f"is valid ONNX, but onnxruntime cannot run it: its {node.op} works out SAME padding only for "
                   f"undilated kernels")
        pads = _explicit_pads(node, auto_pad, rank)
        hint = (f'set auto_pad to "NOTSET" and pads to {pads}, the padding {auto_pad} stands for here' if pads else
                f'set auto_pad to "NOTSET" and write the padding {auto_pad} stands for in pads (it depends on the '
                f'input size when the stride is above 1)')
        evidence = layout(node).replay_evidence() if node.op == "Conv" else {}
        yield self.finding(node, message, hint, **evidence)


def _explicit_pads(node, auto_pad: str, rank: int):
    """The ``pads`` that ``auto_pad`` stands for (the ONNX definition), or None when they depend on an unknown size."""
    x = node.input_shape(0)
    w = node.input_shape(3 if node.op == "QLinearConv" else 1)
    kernel = kernel_of(node, w)
    strides = list(node.attrs.get("strides") or [1] * rank)
    dilations = node.attrs["dilations"]
    if kernel is None or len(kernel) != rank or len(strides) != rank:
        return None
    begin, end = [], []
    for i in range(rank):
        s, span = strides[i], dilations[i] * (kernel[i] - 1) + 1
        if s == 1:
            total = span - 1
        else:
            d = x[2 + i] if x is not None and len(x) == rank + 2 else None
            if type(d) is not int:
                return None
            total = max(0, (dims.ceildiv(d, s) - 1) * s + span - d)
        small, large = total // 2, total - total // 2
        begin.append(small if auto_pad == "SAME_UPPER" else large)
        end.append(large if auto_pad == "SAME_UPPER" else small)
    return begin + end
