from convlint.core import compare, dims
from convlint.rule import WARNING, Rule
from convlint.shapes.conv import kernel_of, output_size, padded_size, window

from ._conv import layout, spatial_name

WINDOW_OPS = ("Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool")


class WindowLargerThanInput(Rule):
    """## What it does
    Checks that a convolution or pooling window fits in what reaches it: the dilated kernel,
    `dilation * (k - 1) + 1`, must not exceed the padded input, so that every output size
    `floor((D + pad_begin + pad_end - dilation * (k - 1) - 1) / stride) + 1` is at least 1.
    With symbolic sizes it reports only a layer that fails for every value of the symbols.

    Where a pooling window leaves an output of size exactly 0, onnxruntime
    returns an empty tensor instead of failing (PyTorch refuses), so that case is a warning for ONNX models.

    ## Why is this bad?
    The layer cannot run: onnxruntime fails in `run()` with "Invalid input shape", PyTorch with "Kernel size can't
    be greater than actual input size". It is typical of a network built for 224×224 images fed 32×32 ones, or
    of one downsampling too many.

    ## Example
    A 7×7 kernel on a 3×3 input padded by 1 on each side: 5 positions, and the kernel needs 7.

    ## Fix
    Feed a larger input (the message gives the smallest that works for this layer), pad more, or use a smaller
    kernel, dilation or fewer downsampling steps before this layer.
    """

    code = "CL106"
    name = "window-larger-than-input"
    brief = "a convolution or pooling window fits in its padded input"
    ops = WINDOW_OPS

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3, 5, 5] x) => (float[1, 4, 1, 1] y)
        <float[4, 3, 5, 5] w> { y = Conv(x, w) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 3, H, W] x) => (float[N, 4, H2, W2] y)
        <float[4, 3, 7, 7] w> { y = Conv<pads = [3, 3, 3, 3], strides = [2, 2]>(x, w) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3, 3, 3] x) => (float[1, 4, 3, 3] y)
        <float[4, 3, 7, 7] w> { y = Conv<auto_pad = "SAME_UPPER">(x, w) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3, 3, 3] x) => (float[1, 4, 1, 1] y)
        <float[4, 3, 7, 7] w> { y = Conv<pads = [1, 1, 1, 1]>(x, w) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 8, 2, W] x) => (float[N, 8, 1, W2] y)
        { y = MaxPool<kernel_shape = [5, 3]>(x) }""",
    ]

    def check(self, node, ctx):
        x = node.input_shape(0)
        if x is None or len(x) < 3:
            return
        rank = len(x) - 2
        w = node.input_shape(1) if node.op.startswith("Conv") else None
        win = window(node, rank, node.attrs.get("kernel_shape") if w is None else kernel_of(node, w))
        if win is None or win.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            return
        for i in range(rank):
            d = x[2 + i]
            if node.op == "ConvTranspose":
                grow = node.attrs.get("output_padding") or ()
                out = dims.add(dims.mul(dims.sub(d, 1), win.strides[i]), win.span(i) - win.pads_begin[i]
                               - win.pads_end[i] + (grow[i] if len(grow) == rank else 0))
            else:
                out = output_size(d, win, i)
            if compare.at_least(out, 1) is not False:
                continue
            empty_only = compare.at_least(out, 0) is not False
            pooling = not node.op.startswith("Conv")
            if pooling and empty_only and (node.origin is None or node.origin.kind == "onnx"):
                yield self._finding(node, win, i, rank, d, WARNING,
                                    "; onnxruntime returns an empty tensor here, so every layer after it sees no data")
            else:
                yield self._finding(node, win, i, rank, d)
            return

    def _finding(self, node, win, i, rank, d, severity=None, consequence=""):
        axis = spatial_name(rank, i)
        pads = win.pads_begin[i] + win.pads_end[i]
        what = "kernel" if node.op.startswith("Conv") else "pooling window"
        k = win.kernel[i]
        span = win.span(i)
        dilated = f" (dilation {win.dilations[i]}: covers {span})" if win.dilations[i] != 1 else ""
        if node.op == "ConvTranspose":
            message = (f"pads {win.pads_begin[i]}+{win.pads_end[i]} on the {axis} axis remove more than the "
                       f"transposed convolution produces from input {axis} {dims.pretty(d)}: the output would be empty")
            return self.finding(node, message, "reduce the padding on this axis",
                                replay_shapes=layout(node).replay_shapes())
        padded = padded_size(d, win, i)
        padding = f" + pads {win.pads_begin[i]}+{win.pads_end[i]} = {dims.pretty(padded)}" if pads else ""
        symbolic = "" if type(d) is int else f" for every value of {', '.join(str(s) for s in dims.symbols_of(d))}"
        message = (f"{what} {k}{dilated} on the {axis} axis is larger than the input: {axis} {dims.pretty(d)}{padding}"
                   f"{symbolic}, so the output would have no positions{consequence}")
        need = span - pads
        hint = (f"this layer needs an input {axis} of at least {need}" if need > 0 else "pad the input") + \
            f"; or use a smaller {what}, more padding, or fewer downsampling steps before it"
        shapes = layout(node).replay_shapes() if node.op == "Conv" else {}
        return self.finding(node, message, hint, severity, replay_shapes=shapes)
