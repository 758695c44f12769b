from convlint.examples import TorchExample
from convlint.rule import ALL_OPS, WARNING, Rule


def _unflatten_mismatch():
    from torch import nn

    class SplitHeads(nn.Module):
        def forward(self, x):
            return x.unflatten(-1, (4, 6))  # 24 features, but x has 20

    return SplitHeads()


def _unflatten_fits():
    from torch import nn

    class SplitHeads(nn.Module):
        def forward(self, x):
            return x.unflatten(-1, (4, 5))

    return SplitHeads()


def _strided_same_padding():
    from torch import nn

    return nn.Conv2d(3, 8, 3, stride=2, padding="same")


class TorchRefused(Rule):
    """## What it does
    Reports a call PyTorch itself refuses while convlint traces the forward pass (or a layer it refuses to
    construct), with PyTorch's own message, its sizes in your names, when no other rule already explains the fault
    on that call. convlint then carries on with the output shape the layer's weights imply (where it can work it
    out), so the faults after it are found in the same run.

    When an input of the call has a symbolic size, PyTorch could only try example sizes; the refusal is then a
    warning that names them, since the call may work for other sizes.

    ## Why is this bad?
    The model cannot run: this is where its first forward pass would stop.

    ## Example
    `x.unflatten(-1, (4, 6))` on a tensor with 20 features: "unflatten: Provided sizes [4, 6] don't multiply up to
    the size of dim 2 (20) in the input tensor".

    ## Fix
    Make the call's inputs what it expects; the message says what PyTorch found.
    """

    code = "CL010"
    name = "torch-refused"
    brief = "a call PyTorch refuses while tracing (or a layer it refuses to build) that no other rule explains"
    ops = (ALL_OPS,)
    fallback = True

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3] x) => (float[1, 3] y) { y = Relu(x) }""",
    ]
    INVALID = []
    TORCH_VALID = [TorchExample(_unflatten_fits, "N,L,20")]
    TORCH_INVALID = [TorchExample(_unflatten_mismatch, "N,L,20"), TorchExample(_strided_same_padding)]

    def check(self, node, ctx):
        refusal = node.facts.refusal
        if refusal is None or not refusal.certain:
            return
        error, sizes = refusal.message, refusal.sizes
        if refusal.construction:
            message = f"PyTorch refuses to construct this layer: {error}"
            hint = "fix the layer's arguments; nothing after it could be built or checked"
        elif sizes:
            tried = ", ".join(f"{k} = {v}" for k, v in sizes.items())
            message = f"PyTorch refuses this call for the sizes convlint tried ({tried}): {error}"
            hint = ("it may work for other sizes: check which ones this call accepts, or pin them with "
                    "--input-shape")
        else:
            message = f"PyTorch refuses this call: {error}"
            hint = ("make the inputs what this call expects; convlint carried on with the output shape it "
                    "would have, so the findings after it still hold")
        yield self.finding(node, message, hint, WARNING if sizes else None,
                           not_replayable="PyTorch's own refusal, in PyTorch's semantics, not onnxruntime's")
