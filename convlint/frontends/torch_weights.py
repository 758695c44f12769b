"""A checkpoint (``--weights``) against a PyTorch model, from the tensors' headers alone.

What ``model.load_state_dict(checkpoint)`` would say is worked out without reading a tensor: the model's state-dict
names, shapes and dtypes (``state_dict(keep_vars=True)``, references, nothing copied) against the checkpoint's
headers (:mod:`convlint.frontends.checkpoint`). The model is never changed. The differences go to
``Trace.checkpoint`` for the checkpoint rules (CL7xx), and the checkpoint's shapes are put in place of the model's
for the trace (as ``load_state_dict(assign=True)`` would), so the layers that would then fail are found too; dtypes
stay the model's, as a plain ``load_state_dict`` copies into them.
"""

from __future__ import annotations

from convlint.core.ir import CheckpointFacts


def compare(model, checkpoint) -> tuple:
    """(CheckpointFacts, overrides): overrides maps id(tensor of the model) -> the checkpoint's shape, for the
    tensors whose shapes differ."""
    state = model.state_dict(keep_vars=True)
    names = {}
    for name, t in state.items():
        if t is not None:
            names.setdefault(id(t), []).append(name)
    have = checkpoint.tensors
    missing, unexpected, mismatched, dtypes, tied, overrides = [], [], [], [], {}, {}
    for name, t in state.items():
        if t is None:
            continue
        header = have.get(name)
        if header is None:
            other = next((n for n in names[id(t)] if n != name and n in have), None)
            if other is not None:
                tied[name] = other  # the same tensor under another name, which the checkpoint holds
            else:
                missing.append((name, tuple(t.shape), _dtype(t)))
            continue
        shape = tuple(int(d) for d in t.shape)
        if tuple(header.shape) != shape:
            mismatched.append((name, shape, tuple(header.shape)))
            overrides[id(t)] = tuple(header.shape)
        elif header.dtype != _dtype(t):
            dtypes.append((name, _dtype(t), header.dtype))
    unexpected = [(name, tuple(h.shape), h.dtype) for name, h in have.items() if name not in state]
    facts = CheckpointFacts(checkpoint.path, checkpoint.key, checkpoint.format, missing, unexpected, mismatched,
                            dtypes, tied, tuple(state), tuple(have),
                            {n: (tuple(h.shape), h.dtype) for n, h in have.items()}, model)
    return facts, overrides


def _dtype(t) -> str:
    return str(t.dtype).replace("torch.", "")
