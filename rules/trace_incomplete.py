from convlint.examples import TorchExample
from convlint.rule import INFO, Rule


def _needs_values():
    from torch import nn

    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(8, 8)

        def forward(self, x):
            if x.sum() > 0:  # a branch on tensor values
                return self.proj(x)
            return x

    return Gate()


def _traceable():
    from torch import nn

    return nn.Sequential(nn.Linear(8, 8), nn.ReLU())


class TraceIncomplete(Rule):
    """## What it does
    Notes what convlint could not check in a PyTorch model: that no input shape was given (so only each module's
    parameters were checked against its declared attributes), where tracing the forward pass stopped and why
    (code that needs tensor values, a call PyTorch refused and whose output cannot be worked out), that the model
    could not be built at all, or that PyTorch fixed a symbolic dim to an example value (so the layers after it
    were checked for that value only).

    ## Why is this bad?
    It is not a fault: it tells you where convlint's view of the model ends. Layers after a stop are checked only
    against their declared attributes.

    ## Example
    A forward pass with `if x.sum() > 0:` branches on tensor values, which fake tensors do not have.

    ## Fix
    Give `--input-shape` (and `--input-dtype` for token ids); move value-dependent branches out of the forward
    pass, or lint the part of the model before them.
    """

    code = "CL011"
    name = "trace-incomplete"
    brief = "notes where tracing a PyTorch model stopped and why, or that it did not run"
    severity = INFO

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3] x) => (float[1, 3] y) { y = Relu(x) }""",
    ]
    INVALID = []
    TORCH_VALID = [TorchExample(_traceable, "N,8")]
    TORCH_INVALID = [TorchExample(_needs_values, "N,8"), TorchExample(_traceable)]

    def check_graph(self, graph, ctx):
        trace = graph.trace
        if trace is None:
            return
        for note in trace.notes:
            yield self.finding(None, note, "check that the weights file belongs to this model")
        for name, where in trace.specialized.items():
            f = self.finding(None, f"PyTorch fixed {name} to {where.value} at {where.node}, so the sizes after it "
                                   f"were checked for {name} = {where.value} only",
                             f"this call computes a size from {name} in a way torch's symbolic shapes cannot follow "
                             f"(in floating point, say); pass a concrete {name} with --input-shape to check another "
                             f"value")
            f.location = {k: v for k, v in (("file", where.file), ("line", where.line), ("module", where.module)) if v}
            yield f
        stop = trace.stop
        if stop is None:
            return
        kind = stop.kind
        if kind == "no-input":
            f = self.finding(None, "no input shape given, so the forward pass was not followed: each module's "
                                   "parameters were checked against its declared attributes only",
                             "give the input's dims, e.g. --input-shape N,3,H,W (input_shape=... in the API)")
        elif kind == "not-built":
            f = self.finding(None, f"the model could not be built: {stop.reason}, so nothing else in it was "
                                   f"checked", "fix that layer's arguments, then lint again")
        else:
            where = stop.module or stop.node or stop.model or "the model's forward"
            at = f" ({stop.file}:{stop.line})" if stop.file and stop.line else ""
            f = self.finding(None, f"tracing stopped in {where}{at}: {stop.reason}; the layers after it were "
                                   f"checked against their declared attributes only",
                             "lint the model up to that point, or make that code work on shapes alone")
        f.location = {k: v for k, v in (("file", stop.file or ctx.file), ("line", stop.line), ("module", stop.module))
                      if v}
        yield f
