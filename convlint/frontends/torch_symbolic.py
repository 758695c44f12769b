"""Torch functions run by another implementation that computes the same result and keeps sizes symbolic, where
torch's own would fix the user's symbols to their example values."""

from __future__ import annotations

import torch
import torch._refs
from torch.nn import functional as F


def _constant_pad(input, pad, mode="constant", value=None):
    """``F.pad`` by torch's reference implementation for constant padding: the C++ kernel reads every size of the
    input, which fixes the user's symbols (``N``, ``H``) to their example values even where the padding is zero."""
    if mode != "constant":
        return F.pad(input, pad, mode, value)
    return torch._refs.constant_pad_nd(input, pad, 0 if value is None else value)


def _clamped(bound, size):
    """A slice bound as Python clamps it into ``[0, size]``, kept symbolic when the bound or the size is a SymInt
    (a negative int counts from the end: ``size - Min(-bound, size)``)."""
    if bound is None or not isinstance(bound, (int, torch.SymInt)) or (type(bound) is int and type(size) is int):
        return bound
    if type(bound) is int and bound < 0:
        return size - torch.sym_min(-bound, size)
    return torch.sym_min(bound, size)


def _slice_getitem(x, index):
    """``x[index]`` with each slice bound clamped to its axis as ``Min(bound, size)``. torch compares a symbolic
    bound with the axis size on the symbols' example values, so ``cos[:T]`` on a 64-row table would come out 64 rows
    for every ``T``; clamped, it is ``Min(T, 64)`` rows, which is what slicing gives."""
    items = index if type(index) is tuple else (index,)
    if not any(type(i) is slice for i in items) or any(isinstance(i, torch.Tensor) or i is True or i is False
                                                        or isinstance(i, (list, tuple)) for i in items):
        return x[index]
    consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
    out, axis = [], 0
    for k, item in enumerate(items):
        if item is Ellipsis:
            axis = x.dim() - (consumed - sum(1 for i in items[:k] if i is not None))
        elif item is not None:
            if type(item) is slice and 0 <= axis < x.dim():
                size = x.shape[axis]
                item = slice(_clamped(item.start, size), _clamped(item.stop, size), item.step)
            axis += 1
        out.append(item)
    return x[tuple(out)]


# addcmul/addcdiv: torch's composite kernel asks for concrete sizes ("SymIntArrayRef expected to contain only
# concrete integers"); their references broadcast symbolically.
SYMBOLIC_IMPL = {F.pad: _constant_pad, torch.constant_pad_nd: torch._refs.constant_pad_nd,
                 torch.Tensor.__getitem__: _slice_getitem,
                 torch.addcmul: torch._refs.addcmul, torch.Tensor.addcmul: torch._refs.addcmul,
                 torch.addcdiv: torch._refs.addcdiv, torch.Tensor.addcdiv: torch._refs.addcdiv}
