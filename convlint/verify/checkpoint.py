"""A ``--weights`` checkpoint's difference from the model, judged by PyTorch's own ``load_state_dict``.

No tensor is read for it: the checkpoint's headers become meta tensors of their shapes and dtypes, and they are
loaded (``strict=True``) into a copy of the model whose parameters and buffers are meta tensors too (the copy is
made with every tensor replaced up front, so nothing of the weights is copied). PyTorch then says what it says
to a training script ("size mismatch for fc.weight: copying a param with shape torch.Size([1000, 2048]) from
checkpoint, ..."), and each finding keeps the line of that message about its own keys. It is done once per model.
"""

from __future__ import annotations

import copy
import time

from convlint.verify.verdict import CONFIRMED, NOT_REPRODUCED, UNVERIFIABLE, Verification

ACTION = "the checkpoint's tensors (their headers, as meta tensors) in load_state_dict(strict=True)"


def verify_checkpoint(finding, graph, cache: dict) -> Verification:
    """PyTorch's verdict on ``finding``, a checkpoint rule's, from one load_state_dict per model (``cache``)."""
    facts = graph.trace.checkpoint if graph.trace is not None else None
    if facts is None or facts.model is None:
        return Verification(UNVERIFIABLE, "the checkpoint is not at hand", runtime="PyTorch")
    if "checkpoint" not in cache:
        cache["checkpoint"] = _load(facts)
    lines, seconds, why = cache["checkpoint"]
    if why:
        return Verification(UNVERIFIABLE, why, seconds=seconds, runtime="PyTorch")
    if not lines:
        return Verification(NOT_REPRODUCED, "", seconds=seconds, runtime="PyTorch", action=ACTION)
    return Verification(CONFIRMED, _about(finding, lines), seconds=seconds, runtime="PyTorch", action=ACTION)


def _load(facts) -> tuple:
    """(the lines of PyTorch's refusal, seconds, why it could not be asked)."""
    start = time.perf_counter()
    try:
        import torch

        twin = _meta_copy(facts.model)
        state = {name: torch.empty(shape, dtype=getattr(torch, dtype, torch.float32), device="meta")
                 for name, (shape, dtype) in facts.headers.items()}
        twin.load_state_dict(state, strict=True)
    except RuntimeError as e:
        lines = [line.strip() for line in str(e).splitlines()[1:] if line.strip()]
        return lines or [str(e).strip()], time.perf_counter() - start, None
    except Exception as e:  # a model that cannot be copied: say so, never end the lint
        return [], time.perf_counter() - start, f"the model cannot be copied to ask PyTorch ({type(e).__name__}: {e})"
    return [], time.perf_counter() - start, None


def _meta_copy(model):
    """``model`` deep-copied with every parameter and buffer replaced by a meta tensor of its shape."""
    import torch
    from torch import nn

    memo = {}
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) not in memo:
            meta = torch.empty_like(t, device="meta")
            memo[id(t)] = nn.Parameter(meta, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else meta
    return copy.deepcopy(model, memo)


def _about(finding, lines) -> str:
    """The line of PyTorch's message about the finding's keys: a size mismatch naming one, or the missing or
    unexpected keys' list; else the first line."""
    keys = [k for k in _keys(finding)]
    for line in lines:
        if any(f"for {k}:" in line or f'"{k}"' in line for k in keys):
            return _cut(line)
    return _cut(lines[0])


def _keys(finding) -> list:
    import re

    return re.findall(r"[\w.]+\.(?:weight|bias|running_mean|running_var|num_batches_tracked|[\w]+)", finding.message)


def _cut(line: str, limit: int = 300) -> str:
    return line if len(line) <= limit else line[:limit - 1] + "…"
