from convlint.core import compare, dims
from convlint.rule import Rule

from ._conv import CONV_OPS, QUANTIZED_CONV_OPS, layout


class ConvKernelShape(Rule):
    """## What it does
    Checks that a convolution's `kernel_shape` attribute matches the spatial dims of its weight, `W.shape[2:]`.

    ## Why is this bad?
    onnxruntime fails in `run()` with "kernel_shape is not compatible with W shape". The attribute usually goes
    stale when a graph is edited by hand or a weight is swapped for one with another kernel size.

    ## Example
    `Conv<kernel_shape = [2, 2]>(x, W[4, 3, 3, 3])`.

    ## Fix
    Set `kernel_shape` to the weight's spatial dims, or drop the attribute (it is optional and read from `W`).
    """

    code = "CL104"
    name = "conv-kernel-shape"
    brief = "`kernel_shape` matches the weight"
    ops = CONV_OPS + QUANTIZED_CONV_OPS

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3, 8, 8] x) => (float[1, 4, 6, 6] y)
        <float[4, 3, 3, 3] w> { y = Conv<kernel_shape = [3, 3]>(x, w) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3, 8, 8] x) => (float[1, 4, 7, 7] y)
        <float[4, 3, 3, 3] w> { y = Conv<kernel_shape = [2, 2]>(x, w) }""",
    ]

    def check(self, node, ctx):
        kernel = node.attrs.get("kernel_shape")
        c = layout(node)
        if not kernel or c.w is None or len(c.w) < 3:
            return
        spatial = tuple(c.w[2:])
        if len(kernel) == len(spatial) and all(compare.equal(k, s) is not False for k, s in zip(kernel, spatial)):
            return
        yield self.finding(node, f"kernel_shape={list(kernel)} but weight {c.weight_name!r} {dims.pretty_shape(c.w)} "
                                 f"has a {' × '.join(dims.pretty(s) for s in spatial)} kernel",
                           f"set kernel_shape to ({', '.join(dims.pretty(s) for s in spatial)}) or remove the attribute",
                           replay_shapes=c.replay_shapes())
