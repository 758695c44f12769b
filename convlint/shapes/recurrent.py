"""LSTM, GRU and RNN: outputs from ``hidden_size``, the sequence and batch of the input, and the direction."""

from __future__ import annotations

from convlint.shapes.base import Out, input_dtype, shape_fn


@shape_fn("LSTM", "GRU", "RNN")
def recurrent(node, ctx):
    x = node.input_shape(0)
    dtype = input_dtype(node)
    hidden = node.attrs.get("hidden_size")
    if hidden is None:
        w = node.input_shape(2)  # R: (num_directions, gates * hidden, hidden)
        hidden = w[2] if w is not None and len(w) == 3 else None
    directions = 2 if node.attrs.get("direction", "forward") == "bidirectional" else 1
    seq = batch = None
    if x is not None and len(x) == 3:
        seq, batch = (x[1], x[0]) if node.attrs.get("layout", 0) else (x[0], x[1])
    if node.attrs.get("layout", 0):
        y = (batch, seq, directions, hidden)
        state = (batch, directions, hidden)
    else:
        y = (seq, directions, batch, hidden)
        state = (directions, batch, hidden)
    outs = [Out(y, dtype), Out(state, dtype), Out(state, dtype)]
    return outs[: len(node.outputs)]
