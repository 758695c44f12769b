"""Torch functions run by another implementation that computes the same result and keeps sizes symbolic, where
torch's own would fix the user's symbols to their example values."""

from __future__ import annotations

import sympy
import torch
import torch._prims_common
import torch._refs
from torch.fx.experimental.symbolic_shapes import statically_known_true
from torch.nn import functional as F

from convlint.core import dims


def _constant_pad(input, pad, mode="constant", value=None):
    """``F.pad`` by torch's reference implementation for constant padding: the C++ kernel reads every size of the
    input, which fixes the user's symbols (``N``, ``H``) to their example values even where the padding is zero.
    A padding that is itself a size (``H % 2``, Swin's ``(7 - W % 7) % 7``) is not compared with zero, as the
    reference does to skip a side: that comparison would be a branch on the user's sizes hidden in torch's code,
    and the trace would hold only for the sizes whose padding is zero (or only for the others)."""
    if mode != "constant":
        return F.pad(input, pad, mode, value)
    if not any(isinstance(p, torch.SymInt) for p in pad) or len(pad) % 2 or len(pad) // 2 > input.dim():
        return torch._refs.constant_pad_nd(input, pad, 0 if value is None else value)
    sizes = list(input.shape)
    for i in range(len(pad) // 2):
        axis = input.dim() - 1 - i
        new = _rounded_up(sizes[axis], pad[2 * i] + pad[2 * i + 1])
        torch._check(new >= 0, lambda: f"The input size {input.shape[axis]}, plus negative padding {pad[2 * i]} "
                                        f"and {pad[2 * i + 1]} resulted in a negative output size, which is "
                                        f"invalid. Check dimension {axis} of your input.")
        sizes[axis] = new
    memory_format = torch._prims_common.suggest_memory_format(input)
    return torch.empty(sizes, dtype=input.dtype, device=input.device, memory_format=memory_format)


def _is_mod(e) -> bool:
    return type(e).__name__ in ("Mod", "PythonMod") and len(e.args) == 2 and e.args[1].is_Integer \
        and e.args[1] > 0


def _periodic(e, t, k: int) -> bool:
    """Whether ``e`` depends on ``t`` only through remainders ``Mod(a, m)`` with ``m`` dividing ``k`` and ``a`` an
    integer multiple of ``t`` plus such remainders: then ``e(t + k) == e(t)`` for every integer ``t``."""
    if not e.has(t):
        return True
    if _is_mod(e) and k % int(e.args[1]) == 0:
        inner = e.args[0]
        hidden = {m: sympy.Dummy(integer=True) for m in inner.atoms(sympy.Function) if _is_mod(m) and m.has(t)}
        if not all(_periodic(m, t, k) for m in hidden):
            return False
        rest = inner.xreplace(hidden)
        coefficient = sympy.expand(rest).coeff(t)
        return coefficient.is_Integer and not sympy.expand(rest - coefficient * t).has(t)
    if isinstance(e, (sympy.Add, sympy.Mul)):
        return all(_periodic(a, t, k) for a in e.args)
    return False


def _rounded_up(size, padding):
    """``size + padding``, written as ``k * ((size + k - 1) // k)`` when the padding is what rounds ``size`` up to a
    multiple of ``k`` (``(7 - W % 7) % 7``, ``H % 2``): equal for every size, and a form in which torch sees at once
    that the padded size divides into windows of ``k``, where the sum makes it reason over the remainders."""
    if not isinstance(size, torch.SymInt) or not isinstance(padding, torch.SymInt):
        return size + padding
    s, p = size.node.expr, padding.node.expr
    t = sympy.Dummy(integer=True)
    p = p.xreplace({s: t})
    if p.free_symbols != {t}:
        return size + padding
    for k in sorted({int(m.args[1]) for m in p.atoms(sympy.Function) if _is_mod(m)}):
        if _periodic(p, t, k) and all(p.xreplace({t: sympy.Integer(v)}) == (-v) % k for v in range(k)):
            return k * ((size + (k - 1)) // k)
    return size + padding


def _clamped(bound, size):
    """A slice bound as Python clamps it into ``[0, size]``, kept symbolic when the bound or the size is a SymInt
    (a negative int counts from the end: ``size - Min(-bound, size)``); no ``Min`` where the size is known to be
    at least the bound."""
    if bound is None or not isinstance(bound, (int, torch.SymInt)) or (type(bound) is int and type(size) is int):
        return bound
    if type(bound) is int and bound < 0:
        return size + bound if statically_known_true(size >= -bound) else size - torch.sym_min(-bound, size)
    return bound if statically_known_true(size >= bound) else torch.sym_min(bound, size)


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


def _target(args, kwargs):
    shape = args if args else (kwargs.get("shape", kwargs.get("size")),)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)):
        shape = tuple(shape[0])
    return shape


def _expr(d):
    return d.node.expr if isinstance(d, torch.SymInt) else sympy.Integer(d)


def _sizes(x, shape):
    """``(shape with a -1 worked out, whether its element count is proven equal to x's)`` when ``shape`` names the
    user's sizes; None when it is no list of sizes (a dtype), has a -1 torch must refuse, or is all ints on an
    all-int ``x`` (torch decides those unaided). Unproven: ``(n, c, h // 4, 4, w // 4, 4)`` for ``(N, C, H, W)``
    (equal only when 4 divides H), ``(n, -1, 16)`` (only when 16 divides ``C*H*W``)."""
    if not shape or any(not isinstance(d, (int, torch.SymInt)) for d in shape) \
            or any(type(d) is int and d < -1 for d in shape) or sum(type(d) is int and d == -1 for d in shape) > 1:
        return None
    numel = x.numel()
    if all(type(d) is int for d in shape) and type(numel) is int:
        return None
    known = sympy.Integer(1)
    for d in shape:
        if not (type(d) is int and d == -1):
            known *= _expr(d)
    if not any(type(d) is int and d == -1 for d in shape):
        return tuple(shape), sympy.expand(_expr(numel) - known) == 0
    if known == 0:
        return None
    rest = 1
    for d in shape:
        if not (type(d) is int and d == -1):
            rest = rest * d
    return tuple(numel // rest if type(d) is int and d == -1 else d for d in shape), \
        dims.quotient(_expr(numel), known)[1] == 1


def known_contiguous(x) -> bool:
    """Whether ``x``'s strides are the contiguous ones for its sizes, decided without a guard (torch's own check
    compares sizes with 1, which fixes a size that is 1 at the example values, such as a count of windows)."""
    expected = torch._prims_common.make_contiguous_strides_for(x.shape)
    return all(statically_known_true(a == b) for a, b in zip(x.stride(), expected))


def _viewed(x, shape):
    return x.as_strided(shape, torch._prims_common.make_contiguous_strides_for(shape), x.storage_offset())


def _reshaped(x, target, by_torch):
    """``x`` viewed or reshaped to ``target`` without torch's own reasoning where convlint's is enough
    (``by_torch()`` does it torch's way). Sizes not proven to hold ``x``'s elements: a new tensor of that shape, so
    that the symbols stay symbols and the Reshape node's rule states the condition (``H % 4 == 0``); torch would fix
    them to their example values. Proven, on a contiguous ``x``: the view itself, strided as torch strides it;
    torch would compare each size with 1 on the example values, and fix those that are. Otherwise torch's way (which
    checks the strides of a view)."""
    found = _sizes(x, target)
    if found is None:
        return by_torch()
    shape, proven = found
    if not proven:
        return x.new_empty(shape)
    return _viewed(x, shape) if known_contiguous(x) else by_torch()


def _view(x, *args, **kwargs):
    return _reshaped(x, _target(args, kwargs), lambda: x.view(*args, **kwargs))


def _reshape(x, *args, **kwargs):
    """``x.reshape(shape)``, ``torch.reshape(x, shape)``: a contiguous ``x`` is reshaped as a view, as torch does."""
    return _reshaped(x, _target(args, kwargs), lambda: torch.reshape(x, _target(args, kwargs)))


def _pixel_unshuffle(x, downscale_factor):
    """``F.pixel_unshuffle`` with the check PyTorch makes (each of the last two sizes divisible by the factor) asked
    as a comparison, which the trace keeps as an equality it followed (``H % 2 == 0``); torch's kernel fixes the
    sizes to their example values to make it."""
    r = downscale_factor
    if type(r) is not int or r < 1 or x.dim() < 3 or all(type(d) is int for d in x.shape[-2:]):
        return F.pixel_unshuffle(x, r)
    for axis, name in ((-2, "height"), (-1, "width")):
        if x.shape[axis] % r != 0:
            raise RuntimeError(f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but "
                               f"input.size({x.dim() + axis})={x.shape[axis]} is not divisible by {r}")
    *batch, c, h, w = x.shape
    return x.new_empty((*batch, c * r * r, h // r, w // r))


# addcmul/addcdiv: torch's composite kernel asks for concrete sizes ("SymIntArrayRef expected to contain only
# concrete integers"); their references broadcast symbolically.
SYMBOLIC_IMPL = {F.pad: _constant_pad, torch.constant_pad_nd: torch._refs.constant_pad_nd,
                 torch.Tensor.__getitem__: _slice_getitem,
                 torch.addcmul: torch._refs.addcmul, torch.Tensor.addcmul: torch._refs.addcmul,
                 torch.addcdiv: torch._refs.addcdiv, torch.Tensor.addcdiv: torch._refs.addcdiv,
                 torch.Tensor.view: _view, torch.Tensor.reshape: _reshape, torch.reshape: _reshape,
                 F.pixel_unshuffle: _pixel_unshuffle, torch.pixel_unshuffle: _pixel_unshuffle}
