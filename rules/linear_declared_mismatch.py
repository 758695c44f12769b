from convlint.core import compare, dims
from convlint.examples import TorchExample
from convlint.rule import WARNING

from ._declared import DeclaredRule, declared_text, input_shape, module_node, replaced, shape_of


def _linear():
    from torch import nn

    return nn.Linear(16, 4)


def _pruned_outputs():
    import torch
    from torch import nn

    fc = nn.Linear(16, 4)
    fc.weight = nn.Parameter(torch.zeros(3, 16))
    fc.bias = nn.Parameter(torch.zeros(3))
    return fc


def _wider_input():
    import torch
    from torch import nn

    fc = nn.Linear(16, 4)
    fc.weight.data = torch.zeros(4, 32)
    return fc


class LinearDeclaredMismatch(DeclaredRule):
    """## What it does
    Checks that a PyTorch `nn.Linear` still has the parameters it declares: a weight of shape
    `(out_features, in_features)` and a bias of `(out_features,)`. It needs no input shape.

    ## Why is this bad?
    PyTorch checks the shapes only when it builds the layer. A weight assigned later (`fc.weight = nn.Parameter(...)`,
    `fc.weight.data = ...`, a checkpoint loaded with `assign=True`, a pruning step) leaves `in_features` and
    `out_features` stating sizes the layer no longer has: the forward pass fails far from the assignment, or code
    that builds the next layer from `fc.out_features` builds it wrong.

    ## Example
    `fc = nn.Linear(16, 4)` then `fc.weight.data = torch.zeros(4, 32)`: declared `in_features=16`, but the weight
    takes 32 input features.

    ## Fix
    Build the layer with the sizes of the weight (`nn.Linear(32, 4)`), or give it a weight of the declared shape.
    """

    code = "CL210"
    name = "linear-declared-mismatch"
    brief = "a PyTorch Linear's weight and bias match `in_features`/`out_features`"
    severity = WARNING
    ops = ("Gemm", "MatMul")

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[2, 16] x) => (float[2, 4] y)
        <float[4, 16] w, float[4] b> { y = Gemm<transB = 1>(x, w, b) }""",
    ]
    INVALID = []
    TORCH_VALID = [TorchExample(_linear, "N,16"), TorchExample(_linear)]
    TORCH_INVALID = [TorchExample(_pruned_outputs, "N,16"), TorchExample(_wider_input, "N,L,32"),
                     TorchExample(_wider_input)]

    def check(self, node, ctx):
        if not module_node(node) or "in_features" not in node.declared:
            return
        d = node.declared
        w, b = shape_of(node, "weight"), shape_of(node, "bias")
        wrong, says, names = [], [], []
        if w is not None and len(w) == 2:
            if compare.equal(w[1], d["in_features"]) is False:
                wrong.append("in_features")
                says.append(f"takes {dims.pretty(w[1])} input features")
            if compare.equal(w[0], d["out_features"]) is False:
                wrong.append("out_features")
                says.append(f"gives {dims.pretty(w[0])} output features")
            if wrong:
                names.append("weight")
        elif w is not None:
            names.append("weight")
            says.append(f"weight {dims.pretty_shape(w)} is not a matrix")
        bias_wrong = b is not None and (len(b) != 1 or compare.equal(b[0], d["out_features"]) is False)
        if bias_wrong:
            names.append("bias")
            if "out_features" not in wrong:
                wrong.append("out_features")
        if not names:
            return
        detail = (f"weight {dims.pretty_shape(w)} {' and '.join(says)}" if says and w is not None and len(w) == 2
                  else "; ".join(says))
        if bias_wrong:
            detail = (detail + " and " if detail else "") + f"bias has shape {dims.pretty_shape(b)}"
        message = f"{replaced(names)} — declared {declared_text(node, *wrong)}, but {detail}"
        x = input_shape(node)
        if "in_features" in wrong and x is not None and x and x[-1] is not None:
            message += f"; the input here has {dims.pretty(x[-1])} features"
        hint = (f"build the layer as nn.Linear({dims.pretty(w[1])}, {dims.pretty(w[0])}) to match the weight, or give "
                f"it parameters of the declared shapes" if w is not None and len(w) == 2 else
                "give the layer parameters of the declared shapes")
        yield self.finding(node, message, hint)
