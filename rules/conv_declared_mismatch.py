from convlint.core import compare, dims
from convlint.examples import TorchExample
from convlint.rule import WARNING

from ._conv import CONV_OPS
from ._declared import DeclaredRule, declared_text, input_shape, module_node, replaced, shape_of


def _conv():
    from torch import nn

    return nn.Conv2d(1, 4, 3)


def _rgb_weight_on_gray_conv():
    import torch
    from torch import nn

    conv = nn.Conv2d(1, 4, 3)
    conv.weight = nn.Parameter(torch.zeros(4, 3, 3, 3))
    return conv


def _same_shape_weight():
    import torch
    from torch import nn

    conv = nn.Conv2d(1, 4, 3)
    conv.weight.data = torch.ones(4, 1, 3, 3)
    return conv


def _transposed_for_six_channels():
    import torch
    from torch import nn

    up = nn.ConvTranspose2d(8, 4, 2, stride=2)
    up.weight = nn.Parameter(torch.zeros(6, 4, 2, 2))  # (in, out / groups, kH, kW): now takes 6 channels
    return up


class ConvDeclaredMismatch(DeclaredRule):
    """## What it does
    Checks that a PyTorch convolution's parameters still match what the layer declares: a `Conv` weight of shape
    `(out_channels, in_channels / groups, *kernel_size)`, a `ConvTranspose` weight of
    `(in_channels, out_channels / groups, *kernel_size)`. It needs no input shape. (A bias that does not fit the
    weight is `CL103`'s.)

    ## Why is this bad?
    PyTorch checks these only in the constructor. After `conv.weight = nn.Parameter(...)`, `conv.weight.data = ...`
    or a state dict assigned with `assign=True`, the layer says `in_channels=1` while its weight wants 3: the first
    forward pass fails far from the assignment, or, if the input happens to fit the new weight, everything that
    reads `conv.in_channels` (export code, model surgery, a `repr` in a log) is told something false.

    ## Example
    `conv = nn.Conv2d(1, 4, 3)` then `conv.weight = nn.Parameter(torch.zeros(4, 3, 3, 3))`: declared
    `in_channels=1`, but the weight expects 3 input channels.

    ## Fix
    Build the layer with the attributes the weight needs (`nn.Conv2d(3, 4, 3)`), or give it a weight of the
    declared shape (`(4, 1, 3, 3)`).
    """

    code = "CL110"
    name = "conv-declared-mismatch"
    brief = "a PyTorch conv's weight matches its declared `in_channels`/`out_channels`/`kernel_size`"
    severity = WARNING
    ops = CONV_OPS

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 1, 8, 8] x) => (float[1, 4, 6, 6] y)
        <float[4, 1, 3, 3] w> { y = Conv(x, w) }""",
    ]
    INVALID = []
    TORCH_VALID = [TorchExample(_conv, "N,1,H,W"), TorchExample(_same_shape_weight, "N,1,H,W"),
                   TorchExample(_conv)]
    TORCH_INVALID = [TorchExample(_rgb_weight_on_gray_conv, "N,3,H,W"), TorchExample(_rgb_weight_on_gray_conv),
                     TorchExample(_transposed_for_six_channels, "N,6,H,W")]

    def check(self, node, ctx):
        if not module_node(node):
            return
        d = node.declared
        groups, kernel = d.get("groups", 1), d.get("kernel_size")
        if type(groups) is not int or groups < 1 or kernel is None:
            return
        transposed = node.op == "ConvTranspose"
        yield from self._weight(node, d, groups, tuple(kernel), transposed)

    def _weight(self, node, d, groups, kernel, transposed):
        w = shape_of(node, "weight")
        if w is None or len(w) < 3:
            return
        if len(w) != 2 + len(kernel):
            yield self.finding(node, f"{replaced(['weight'])} — a {len(kernel)}-D convolution "
                                     f"({declared_text(node, 'kernel_size')}) needs a weight of rank "
                                     f"{2 + len(kernel)}, but weight {dims.pretty_shape(w)} has rank {len(w)}",
                               "give the weight (out_channels, in_channels / groups, *kernel_size)")
            return
        implied_in = w[0] if transposed else dims.mul(w[1], groups)
        implied_out = dims.mul(w[1], groups) if transposed else w[0]
        wrong, says = [], []
        if compare.equal(implied_in, d.get("in_channels")) is False:
            wrong.append("in_channels")
            says.append(f"expects {dims.pretty(implied_in)} input channels")
        if compare.equal(implied_out, d.get("out_channels")) is False:
            wrong.append("out_channels")
            says.append(f"has {dims.pretty(implied_out)} output channels")
        if any(compare.equal(a, b) is False for a, b in zip(w[2:], kernel)):
            wrong.append("kernel_size")
            says.append(f"has a {'×'.join(dims.pretty(k) for k in w[2:])} kernel")
        if not wrong:
            return
        message = (f"{replaced(['weight'])} — declared {declared_text(node, *wrong)}, but weight "
                   f"{dims.pretty_shape(w)} with groups={groups} {' and '.join(says)}")
        x = input_shape(node)
        if "in_channels" in wrong and x is not None and len(x) >= 2 and x[1] is not None:
            message += f"; the input here has {dims.pretty(x[1])}"
        fixed = {"in_channels": implied_in, "out_channels": implied_out, "kernel_size": tuple(w[2:])}
        build = ", ".join(f"{k}={dims.pretty(fixed[k]) if k != 'kernel_size' else fixed[k]}" for k in wrong)
        yield self.finding(node, message,
                           f"build the layer with {build} to match the weight, or give it a weight of the declared "
                           f"shape")
