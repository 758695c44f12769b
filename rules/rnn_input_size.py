from convlint.core import dims
from convlint.examples import TorchExample
from convlint.rule import Rule

from ._sizes import condition_clause, equal_verdict, every_size, judged, layer, named

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _embedded_lstm(input_size):
    from torch import nn

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(100, 300)
            self.lstm = nn.LSTM(input_size, 128, batch_first=True)

        def forward(self, ids):
            return self.lstm(self.embed(ids))[0]

    return Tagger()


def _lstm_300():
    return _embedded_lstm(300)


def _lstm_256():
    return _embedded_lstm(256)


class RnnInputSize(Rule):
    """## What it does
    Checks that an `LSTM`, `GRU` or `RNN` receives as many features per step as its input weight takes: the last
    dim of `X` must equal `input_size`, the last dim of `W` (`weight_ih_l0` in PyTorch, `(gates·hidden, input_size)`).

    ## Why is this bad?
    The layer cannot run: PyTorch fails with "input.size(-1) must be equal to input_size. Expected 256, got 300",
    onnxruntime in `run()`. It usually follows an `Embedding` of another dimension, or a change of the layer
    before it that the recurrent layer's `input_size` did not follow.

    ## Example
    An embedding of dim 300 feeding `LSTM` whose `W` is `(1, 512, 256)`: hidden 128, 4 gates, `input_size=256`.

    ## Fix
    Set `input_size` to the features that arrive (the message gives them), or project the input to `input_size`
    features first.
    """

    code = "CL420"
    name = "rnn-input-size"
    brief = "LSTM/GRU/RNN `input_size` equals the features that arrive"
    ops = tuple(GATES)

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[S, 2, 16] x) => (float[S, 1, 2, 8] y)
        <float[1, 32, 16] w, float[1, 32, 8] r> { y = LSTM<hidden_size = 8>(x, w, r) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[S, 2, 16] x) => (float[S, 2, 2, 8] y)
        <float[2, 24, 16] w, float[2, 24, 8] r> { y = GRU<hidden_size = 8, direction = "bidirectional">(x, w, r) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (int64[2, 5] ids) => (float[5, 1, 2, 8] y)
        <float[100, 12] emb, float[1, 32, 16] w, float[1, 32, 8] r>
        { e = Gather(emb, ids)  x = Transpose<perm = [1, 0, 2]>(e)  y = LSTM<hidden_size = 8>(x, w, r) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[S, 2, 10] x) => (float[S, 1, 2, 8] y)
        <float[1, 8, 16] w, float[1, 8, 8] r> { y = RNN<hidden_size = 8>(x, w, r) }""",
    ]
    TORCH_VALID = [TorchExample(_lstm_300, "N,T", "int64")]
    TORCH_INVALID = [TorchExample(_lstm_256, "N,T", "int64")]

    def check(self, node, ctx):
        x, w = node.input_shape(0), node.input_shape(1)
        if x is None or w is None or len(x) != 3 or len(w) != 3:
            return
        have, want = x[2], w[2]
        verdict = equal_verdict(have, want)
        if not (verdict.never or verdict.some):
            return
        torch = node.origin is not None and node.origin.kind == "torch"
        # PyTorch holds one (gates·hidden, input_size) weight per direction; the IR stacks them as ONNX's W does
        shown = w[1:] if torch else w
        weight = f"{node.input(1).name!r} {dims.pretty_shape(shown)}"
        hidden = node.attrs.get("hidden_size")
        detail = f" (hidden_size {hidden}, {GATES[node.op]} gate{'s' if GATES[node.op] > 1 else ''})" if hidden else ""
        message = (f"{layer(node)} receives {dims.pretty(have)} features per step from "
                   f"{named(node.input(0))}{_source(node.input(0))}, but its weight {weight}{detail} "
                   f"takes input_size={dims.pretty(want)}")
        message += every_size(have) if verdict.never else condition_clause(verdict)
        fixed = (*shown[:-1], have)
        what = f"{node.input(1).name} of shape" if torch else "W of shape"
        hint = (f"set input_size={dims.pretty(have)} ({what} {dims.pretty_shape(fixed)}), or project the input "
                f"to {dims.pretty(want)} features first")
        yield self.finding(node, message, hint, **judged(verdict))


def _source(v) -> str:
    """`` (the embedding 'emb' of dim 12)`` when the input comes, through transposes, from an embedding lookup."""
    seen = 0
    while v is not None and v.producer is not None and seen < 8:
        p = v.producer
        if p.op == "Gather" and p.input(0) is not None and p.input(0).is_param and p.input(0).rank == 2:
            table = p.input(0)
            return f", the embedding {table.name!r} of dim {dims.pretty(table.shape[1])}"
        if p.op not in ("Transpose", "Identity", "Cast", "Dropout", "Reshape", "Squeeze", "Unsqueeze"):
            return ""
        v, seen = p.input(0), seen + 1
    return ""
