from convlint.examples import TorchExample
from convlint.rule import ERROR

from ._declared import DeclaredRule, declared_text, listed, module_node, replaced, wrong_shapes

GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _lstm():
    from torch import nn

    return nn.LSTM(10, 20, num_layers=2, bidirectional=True)


def _lstm_new_input_size():
    import torch
    from torch import nn

    lstm = nn.LSTM(10, 20)
    lstm.weight_ih_l0 = nn.Parameter(torch.zeros(80, 12))
    return lstm


def _gru_wider_input():
    import torch
    from torch import nn

    gru = nn.GRU(8, 16, num_layers=2, batch_first=True)
    gru.weight_ih_l0.data = torch.zeros(48, 12)
    return gru


def expected_shapes(d) -> dict:
    """Every parameter of a PyTorch LSTM/GRU/RNN by name, with the shape its declared attributes give it."""
    gates = GATES.get(d.get("mode"))
    if gates is None:
        return {}
    hidden, proj = d["hidden_size"], d.get("proj_size") or 0
    out = proj or hidden
    directions = 2 if d.get("bidirectional") else 1
    shapes = {}
    for layer in range(d.get("num_layers", 1)):
        size_in = d["input_size"] if layer == 0 else out * directions
        for suffix in ("", "_reverse")[:directions]:
            shapes[f"weight_ih_l{layer}{suffix}"] = (gates * hidden, size_in)
            shapes[f"weight_hh_l{layer}{suffix}"] = (gates * hidden, out)
            if d.get("bias", True):
                shapes[f"bias_ih_l{layer}{suffix}"] = (gates * hidden,)
                shapes[f"bias_hh_l{layer}{suffix}"] = (gates * hidden,)
            if proj:
                shapes[f"weight_hr_l{layer}{suffix}"] = (proj, hidden)
    return shapes


class RecurrentDeclaredMismatch(DeclaredRule):
    """## What it does
    Checks that a PyTorch `nn.LSTM`, `nn.GRU` or `nn.RNN` has the weights its declared attributes give it: for each
    layer `k`, `weight_ih_lk` of shape `(gates * hidden_size, input_size)` (`hidden_size * directions` past the
    first layer), `weight_hh_lk` of `(gates * hidden_size, hidden_size)`, biases of `(gates * hidden_size,)`, with
    4 gates for an LSTM, 3 for a GRU and 1 for an RNN (`proj_size` replaces `hidden_size` where it projects). It
    needs no input shape.

    ## Why is this bad?
    The layer cannot run, whatever it is fed: its forward pass checks the input against the declared `input_size`
    and builds the initial state from the declared `hidden_size`, while the kernels use the weights. A layer whose
    `weight_ih_l0` was replaced to take 12 features still says `input_size=10`: fed 10 features, it fails inside
    `_VF.lstm`; fed 12, it fails the input check.

    ## Example
    `lstm = nn.LSTM(10, 20)` then `lstm.weight_ih_l0 = nn.Parameter(torch.zeros(80, 12))`.

    ## Fix
    Rebuild the layer with the sizes the weights have (`nn.LSTM(12, 20)`), or give it weights of the declared
    shapes.
    """

    code = "CL410"
    name = "recurrent-declared-mismatch"
    brief = "a PyTorch LSTM/GRU/RNN's weights match `input_size`/`hidden_size`/layers"
    severity = ERROR
    ops = ("LSTM", "GRU", "RNN")

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[5, 2, 10] x) => (float[5, 1, 2, 20] y)
        <float[1, 80, 10] w, float[1, 80, 20] r> { y = LSTM<hidden_size = 20>(x, w, r) }""",
    ]
    INVALID = []
    TORCH_VALID = [TorchExample(_lstm, "L,N,10"), TorchExample(_lstm)]
    TORCH_INVALID = [TorchExample(_lstm_new_input_size, "L,N,12"), TorchExample(_gru_wider_input, "N,L,12")]

    def check(self, node, ctx):
        if not module_node(node) or "hidden_size" not in node.declared:
            return
        d = node.declared
        try:
            expected = expected_shapes(d)
        except (KeyError, TypeError):
            return
        wrong = wrong_shapes(node, expected)
        if not wrong:
            return
        said = declared_text(node, "input_size", "hidden_size", "num_layers", "proj_size" if d.get("proj_size") else "",
                             "bidirectional" if d.get("bidirectional") else "")
        yield self.finding(node, f"{replaced(w[0] for w in wrong)} — declared {said}, but {listed(wrong)}",
                           "rebuild the layer with the sizes its weights have, or give it weights of the declared "
                           "shapes")
