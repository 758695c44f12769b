from convlint.examples import TorchExample
from convlint.rule import ERROR, INFO, WARNING, Rule


def _fixed_height():
    import torch
    from torch import nn

    class PatchEmbed(nn.Module):
        def __init__(self):
            super().__init__()
            self.img_size = 224
            self.proj = nn.Conv2d(3, 8, 1)

        def forward(self, x):
            torch._assert(x.shape[2] == self.img_size, f"Input height ({x.shape[2]}) doesn't match model (224).")
            return self.proj(x)

    return PatchEmbed()


def _any_height():
    from torch import nn

    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1))


def _square_only():
    from torch import nn

    class Square(nn.Module):
        def forward(self, x):
            if x.shape[-1] != x.shape[-2]:
                raise ValueError("square images only")
            return x * 2

    return Square()


class ModelSizeCheck(Rule):
    """## What it does
    States the input sizes the model's own code accepts, where that code checks them: an `assert`,
    `torch._assert` or `torch._check`, or a `raise` right after comparing sizes (`assert H == self.img_size`,
    `if W % 16: raise ValueError(...)`). With symbolic sizes (`--input-shape N,3,H,W`), each check becomes the exact
    condition under which it passes (`H == 224`, `H % 16 == 0`, `H == W`), and convlint follows the forward pass on
    with example sizes that meet it, so the layers after the check are linted too. The same holds for a check
    PyTorch's own layers make on sizes in Python (an LSTM's initial state built for a batch of 8 passes only when
    `N == 8`).

    A warning when some sizes pass, with the condition; an error when no size passes every check (two checks that
    contradict each other). With sizes you pinned there is nothing to state: a `torch._assert` that fails there is
    PyTorch refusing the call (CL010, an error), and a plain `assert` or `raise` that fails there ends the trace
    with a note saying where (CL011).

    ## Why is this bad?
    It is not always a fault: a ViT with a fixed position table takes only the image size it was built for. But a
    model that runs only for some sizes fails on any other input, after loading, at the first batch; the condition
    says which inputs it takes.

    ## Example
    timm's `PatchEmbed` checks `torch._assert(H == self.img_size[0], ...)`: with `--input-shape N,3,H,W`, it runs
    only when `H == 224`.

    ## Fix
    Feed inputs that meet the condition, or build the model for the sizes you feed it (timm: `img_size=...` or
    `dynamic_img_size=True`); pin the sizes with `--input-shape` to check them.
    """

    code = "CL012"
    name = "model-size-check"
    brief = "the sizes the model's own `assert`/`torch._assert`/`raise` accepts (`H == 224`, `W % 16 == 0`)"
    severity = WARNING

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3] x) => (float[1, 3] y) { y = Relu(x) }""",
    ]
    INVALID = []
    TORCH_VALID = [TorchExample(_any_height, "N,3,H,W"), TorchExample(_fixed_height, "N,3,224,W")]
    TORCH_INVALID = [TorchExample(_fixed_height, "N,3,H,W"), TorchExample(_square_only, "N,3,H,W")]

    def check_graph(self, graph, ctx):
        for req in graph.trace.requirements if graph.trace is not None else ():
            verdict, together = req.verdict, req.together
            check = f"`{req.code}`" if req.code else "a check"
            if req.by == "PyTorch":
                check = f"PyTorch's check on the call {check}"
            else:
                check = f"the model's own check {check}"
            said = f': "{req.message}"' if req.message else ""
            if verdict.never:
                f = self.finding(None, f"{check} passes for no input size{said}",
                                 "the check can never pass: fix the check or the sizes it compares", ERROR)
            elif together is not None and together.never:
                f = self.finding(None, f"{check} contradicts an earlier one: it needs "
                                       f"{verdict.condition}, which no size that passes the earlier checks meets{said}",
                                 "no input passes every check: make the checks agree", ERROR)
            elif verdict.some:
                f = self.finding(None, f"{check} passes only when {verdict.condition}{said}",
                                 f"feed inputs that meet it (smallest: {verdict.example_text()}); the layers after it "
                                 f"were checked for sizes that meet it", WARNING, condition=verdict.condition)
            else:
                f = self.finding(None, f"{check} needs {req.relation}, which convlint "
                                       f"cannot solve for the input sizes{said}",
                                 "pin the sizes with --input-shape to check them", INFO)
            f.location = {k: v for k, v in (("file", req.file or ctx.file), ("line", req.line),
                                            ("module", req.module)) if v}
            yield f
