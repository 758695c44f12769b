"""What a PyTorch trace knows of index tensors' values, without their elements: ``Value.range``.

Fake tensors carry sizes, not values, so an index built from a size (``torch.arange(T)``, a ``position_ids`` buffer
sliced to the input's length) would reach an embedding as "unknown". Here the tracer records, for the integer
tensors it can follow, the smallest and largest element as dims in the user's names (an
:class:`~convlint.core.ir.IndexRange`): ``torch.arange`` in all its forms makes one, and the operations that move values
without changing them carry it on (``expand``, ``unsqueeze``, ``view``, ``repeat``, ``transpose``, slicing, ``.long()``,
``.to(dtype)``), or change it the way they change every element (``+``/``-``/``*`` by a number, ``clamp``, ``//``).
Anything else (two tensors added, a ``cumsum`` of a mask, ids fed as an input) leaves the range unknown, and the rules
stay silent.

A registered integer buffer whose values are on the CPU (``self.register_buffer("position_ids",
torch.arange(512).expand((1, -1)))``) is read once, when it is swapped for its fake twin: its minimum and maximum, and
whether it is a progression along one axis, for buffers of at most :data:`MAX_BUFFER_ELEMENTS` elements. A buffer on
the meta device has no values: unknown.
"""

from __future__ import annotations

import torch

from convlint.core import compare, dims
from convlint.core.ir import IndexRange

MAX_BUFFER_ELEMENTS = 1_000_000
_INDEX_DTYPES = (torch.int64, torch.int32)


def progression(first, step, n, axis, source) -> IndexRange | None:
    """The range of ``first + step * i`` for ``i`` in ``0..n-1`` along ``axis``; None when it may be empty or is
    not known."""
    if first is None or n is None or type(step) is not int or (type(n) is int and n < 1):
        return None
    last = dims.add(first, dims.mul(step, dims.sub(n, 1)))
    if last is None:
        return None
    lo, hi = (first, last) if step >= 0 else (last, first)
    return IndexRange(lo, hi, source, axis, first, step)


def _moved(r: IndexRange, axis) -> IndexRange:
    """``r`` with its progression on another axis (None: the values are no longer a progression along one axis)."""
    if axis is None:
        return IndexRange(r.lo, r.hi, r.source)
    return IndexRange(r.lo, r.hi, r.source, axis, r.first, r.step)


# -- buffers ----------------------------------------------------------------------------------------------------------


def of_buffer(t, name: str) -> IndexRange | None:
    """The range of a real integer buffer (CPU values, at most MAX_BUFFER_ELEMENTS elements), else None."""
    try:
        if t.dtype not in _INDEX_DTYPES or t.device.type == "meta" or not 0 < t.numel() <= MAX_BUFFER_ELEMENTS \
                or t.layout is not torch.strided or type(t) not in (torch.Tensor, torch.nn.Parameter):
            return None
        with torch.no_grad():
            flat = t.detach().to("cpu").reshape(-1)
            lo, hi = int(flat.min()), int(flat.max())
            source = f"buffer {name!r}"
            for axis in range(t.dim() - 1, -1, -1):
                n = t.shape[axis]
                if n < 2:
                    continue
                line = t.detach().to("cpu")
                for other in range(t.dim()):
                    if other != axis:
                        line = line.narrow(other, 0, 1)
                line = line.reshape(-1)
                first, step = int(line[0]), int(line[1] - line[0])
                expected = first + step * torch.arange(n, dtype=line.dtype)
                if torch.equal(line, expected) and bool((t == line.reshape([n if i == axis else 1 for i in
                                                                             range(t.dim())])).all()):
                    return IndexRange(lo, hi, source, axis, first, step)
            return IndexRange(lo, hi, source)
    except Exception:
        return None


# -- operations -------------------------------------------------------------------------------------------------------


def record(tracer, name: str, args, kwargs, node) -> None:
    """Give the first output of the op ``name`` (just recorded as ``node``) its range, when one is known."""
    if not node.outputs:
        return
    out = node.outputs[0]
    if out.dtype not in ("int64", "int32"):
        return
    handler = _HANDLERS.get(name)
    if handler is None:
        return
    try:
        r = handler(_Call(tracer, args, kwargs, out, node))
    except Exception:
        r = None
    if r is not None:
        out.range = r


class _Call:
    """One op call: its arguments, as tensors' ranges and dims."""

    def __init__(self, tracer, args, kwargs, out, node):
        self.t, self.args, self.kwargs, self.out, self.node = tracer, args, kwargs, out, node

    def arg(self, i, name=None, default=None):
        if i < len(self.args):
            return self.args[i]
        return self.kwargs.get(name, default) if name else default

    def range(self):
        """The range of the first argument as it was before the call: an op that returns its input (``.long()`` on
        a long tensor, ``add_``) has already given that tensor the output's Value, so it is read from the node."""
        if not self.args or not isinstance(self.args[0], torch.Tensor):
            return None
        first = self.node.inputs[0] if self.node.inputs else None
        return first.range if first is not None else None

    def dim(self, x):
        """An int or SymInt argument as a dim; None for anything else (a float, a tensor)."""
        if type(x) is bool:
            return None
        if type(x) is int or isinstance(x, torch.SymInt):
            return self.t.table.dim(x)
        return None

    @property
    def shape(self):
        return self.out.shape

    def in_rank(self):
        x = self.args[0]
        return x.dim() if isinstance(x, torch.Tensor) else None


def _source_text(c, parts) -> str:
    return f"torch.arange({', '.join(dims.pretty(p) for p in parts)})"


def _arange(c):
    if c.kwargs.get("out") is not None:
        return None
    pos = list(c.args)
    if len(pos) == 1 and "end" not in c.kwargs:
        start, end, step = c.kwargs.get("start", 0), pos[0], c.kwargs.get("step", 1)
    else:
        start = pos[0] if len(pos) > 0 else c.kwargs.get("start", 0)
        end = pos[1] if len(pos) > 1 else c.kwargs.get("end")
        step = pos[2] if len(pos) > 2 else c.kwargs.get("step", 1)
    first, last, step_ = c.dim(start), c.dim(end), c.dim(step)
    if first is None or last is None or type(step_) is not int or step_ == 0 or not c.shape:
        return None
    shown = [last] if first == 0 and step_ == 1 else [first, last] + ([step_] if step_ != 1 else [])
    return progression(first, step_, c.shape[0], 0, _source_text(c, shown))


def _constant(c, value):
    return IndexRange(value, value, f"a tensor of {value}s") if c.shape is not None and \
        all(d != 0 for d in c.shape) else None


def _full(c):
    v = c.arg(1, "fill_value")
    return _constant(c, v) if type(v) is int else None


def _full_like(c):
    v = c.arg(1, "fill_value")
    return _constant(c, v) if type(v) is int else None


def _same(c):
    """An op that keeps every value where it is (a copy, a dtype change)."""
    r = c.range()
    if r is None:
        return None
    x = c.args[0]
    return r if x.dim() == len(c.shape or ()) else _moved(r, None)


def _expand(c):
    r = c.range()
    if r is None or r.axis is None:
        return r
    return _moved(r, r.axis + len(c.shape) - c.in_rank())


def _unsqueeze(c):
    r = c.range()
    if r is None or r.axis is None:
        return r
    d = c.arg(1, "dim")
    if type(d) is not int:
        return _moved(r, None)
    d = d + c.in_rank() + 1 if d < 0 else d
    return _moved(r, r.axis + (1 if d <= r.axis else 0))


def _squeeze(c):
    r = c.range()
    if r is None or r.axis is None:
        return r
    x = c.args[0]
    given = c.arg(1, "dim")
    rank = x.dim()
    if given is None:
        axes = range(rank)
    elif type(given) is int:
        axes = [given % max(rank, 1)]
    elif isinstance(given, (tuple, list)) and all(type(a) is int for a in given):
        axes = [a % max(rank, 1) for a in given]
    else:
        return _moved(r, None)
    removed = [a for a in axes if c.t.table.dim(x.shape[a]) == 1]
    if r.axis in removed:
        return _moved(r, None)
    return _moved(r, r.axis - sum(1 for a in removed if a < r.axis))


def _reshape(c):
    """A view keeps the values; it keeps the progression when the input and the output each have one axis longer
    than 1 (``arange(T).view(1, T)``)."""
    r = c.range()
    if r is None or r.axis is None:
        return r
    x = c.args[0]
    in_shape = c.t.table.shape(x.shape)
    if any(d != 1 for i, d in enumerate(in_shape) if i != r.axis):
        return _moved(r, None)
    n = in_shape[r.axis]
    long = [i for i, d in enumerate(c.shape) if d != 1]
    if len(long) == 1 and compare.equal(c.shape[long[0]], n) is True:
        return _moved(r, long[0])
    return _moved(r, None)


def _repeat(c):
    r = c.range()
    if r is None or r.axis is None:
        return r
    reps = c.args[1:] if len(c.args) > 1 else [c.kwargs.get("repeats")]
    if len(reps) == 1 and isinstance(reps[0], (tuple, list, torch.Size)):
        reps = list(reps[0])
    axis = r.axis + len(c.shape) - c.in_rank()
    if axis >= len(reps) or c.dim(reps[axis]) != 1:
        return _moved(r, None)
    return _moved(r, axis)


def _transpose(c):
    r = c.range()
    if r is None or r.axis is None:
        return r
    rank = c.in_rank()
    if rank < 2:
        return r
    a, b = c.arg(1, "dim0", 0), c.arg(2, "dim1", 1)
    if type(a) is not int or type(b) is not int:
        return _moved(r, None)
    a, b = a % rank, b % rank
    return _moved(r, b if r.axis == a else a if r.axis == b else r.axis)


def _permute(c):
    r = c.range()
    if r is None or r.axis is None:
        return r
    order = c.args[1:] if len(c.args) > 1 else [c.kwargs.get("dims")]
    if len(order) == 1 and isinstance(order[0], (tuple, list, torch.Size)):
        order = list(order[0])
    rank = c.in_rank()
    if len(order) != rank or any(type(o) is not int for o in order):
        return _moved(r, None)
    return _moved(r, [o % rank for o in order].index(r.axis))


def _getitem(c):
    """``x[...]`` with ints, slices, None and Ellipsis: a slice along the progression's axis narrows the range to
    what it keeps (its length, ``Min(T, 512)``, comes from the output); an int on that axis picks one value."""
    r = c.range()
    if r is None or len(c.args) < 2:
        return None
    x, index = c.args[0], c.args[1]
    items = list(index) if type(index) is tuple else [index]
    if any(not (i is None or i is Ellipsis or type(i) is int or isinstance(i, torch.SymInt) or type(i) is slice)
           for i in items):
        return None
    rank = x.dim()
    consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
    if consumed > rank or c.shape is None or any(d == 0 for d in c.shape):
        return None
    dots = [k for k, i in enumerate(items) if i is Ellipsis]
    if dots:
        items = items[:dots[0]] + [slice(None)] * (rank - consumed) + items[dots[0] + 1:]
    if r.axis is None:
        return r
    in_axis = out_axis = 0
    for item in items:
        if item is None:
            out_axis += 1
            continue
        if in_axis == r.axis:
            n = c.t.table.dim(x.shape[in_axis])
            if type(item) is slice:
                return _sliced(c, r, item, n, out_axis)
            k = c.dim(item)
            if k is None or n is None:
                return None
            if type(k) is int and k < 0:
                k = dims.add(n, k)
            value = dims.add(r.first, dims.mul(r.step, k))
            return IndexRange(value, value, r.source) if value is not None else None
        if type(item) is slice:
            out_axis += 1
        in_axis += 1
    return _moved(r, out_axis + r.axis - in_axis)  # the axis lies past the last item


def _sliced(c, r, item, n, out_axis):
    step = 1 if item.step is None else c.dim(item.step)
    if type(step) is not int or step < 1 or n is None:
        return None
    start = 0 if item.start is None else c.dim(item.start)
    if start is None:
        return None
    if type(start) is int and start < 0:
        start = dims.maximum(dims.add(n, start), 0)
    elif type(start) is not int or type(n) is not int:
        start = dims.minimum(start, n)
    else:
        start = min(start, n)
    length = c.shape[out_axis] if c.shape is not None and out_axis < len(c.shape) else None
    first = dims.add(r.first, dims.mul(r.step, start))
    return progression(first, r.step * step, length, out_axis, r.source)


def _number(c, x):
    """A Python int (or SymInt) operand as a dim; None for tensors and floats."""
    return c.dim(x)


def _affine(scale_sign, reverse=False):
    """``x + k`` / ``x - k`` / ``k - x`` (``reverse``): every element moved by the same amount."""
    def handler(c):
        r = c.range()
        other = c.arg(1, "other")
        k = _number(c, other)
        if r is None or k is None or c.kwargs.get("alpha", 1) != 1:
            return None
        if reverse:  # k - x
            first = dims.sub(k, r.first) if r.first is not None else None
            lo, hi = dims.sub(k, r.hi), dims.sub(k, r.lo)
            return IndexRange(lo, hi, r.source, r.axis if first is not None else None, first, -r.step)
        shift = k if scale_sign > 0 else dims.sub(0, k)
        first = dims.add(r.first, shift) if r.first is not None else None
        return IndexRange(dims.add(r.lo, shift), dims.add(r.hi, shift), r.source, r.axis, first, r.step)
    return handler


def _mul(c):
    r = c.range()
    k = c.dim(c.arg(1, "other"))
    if r is None or type(k) is not int:
        return None
    lo, hi = (dims.mul(r.lo, k), dims.mul(r.hi, k)) if k >= 0 else (dims.mul(r.hi, k), dims.mul(r.lo, k))
    first = dims.mul(r.first, k) if r.first is not None else None
    return IndexRange(lo, hi, r.source, r.axis, first, r.step * k)


def _neg(c):
    r = c.range()
    if r is None:
        return None
    first = dims.sub(0, r.first) if r.first is not None else None
    return IndexRange(dims.sub(0, r.hi), dims.sub(0, r.lo), r.source, r.axis, first, -r.step)


def _floordiv(c):
    r = c.range()
    k = c.dim(c.arg(1, "other"))
    if r is None or type(k) is not int or k < 1:
        return None
    return IndexRange(dims.floordiv(r.lo, k), dims.floordiv(r.hi, k), r.source)


def _clamp(low_name, high_name, which=None):
    """``clamp(min, max)``: a nondecreasing function of each element, so the bounds are clamped as they are."""
    def handler(c):
        r = c.range()
        if r is None:
            return None
        if which == "min":
            low, high = c.arg(1, "min"), None
        elif which == "max":
            low, high = None, c.arg(1, "max")
        else:
            low, high = c.arg(1, low_name), c.arg(2, high_name)
        bounds = []
        for b in (low, high):
            if b is None:
                bounds.append(None)
                continue
            d = c.dim(b)
            if d is None:
                return None
            bounds.append(d)
        lo, hi = r.lo, r.hi
        if bounds[0] is not None:
            lo, hi = dims.maximum(lo, bounds[0]), dims.maximum(hi, bounds[0])
        if bounds[1] is not None:
            lo, hi = dims.minimum(lo, bounds[1]), dims.minimum(hi, bounds[1])
        return IndexRange(lo, hi, r.source)
    return handler


_HANDLERS = {
    "arange": _arange,
    "zeros": lambda c: _constant(c, 0), "zeros_like": lambda c: _constant(c, 0),
    "ones": lambda c: _constant(c, 1), "ones_like": lambda c: _constant(c, 1),
    "full": _full, "full_like": _full_like,
    "expand": _expand, "expand_as": _expand, "broadcast_to": _expand,
    "unsqueeze": _unsqueeze, "squeeze": _squeeze,
    "view": _reshape, "reshape": _reshape, "view_as": _reshape, "reshape_as": _reshape,
    "repeat": _repeat,
    "transpose": _transpose, "swapaxes": _transpose, "permute": _permute,
    "__getitem__": _getitem,
    "__add__": _affine(1), "__radd__": _affine(1), "__iadd__": _affine(1), "add": _affine(1), "add_": _affine(1),
    "__sub__": _affine(-1), "__isub__": _affine(-1), "sub": _affine(-1), "sub_": _affine(-1),
    "subtract": _affine(-1), "__rsub__": _affine(-1, reverse=True),
    "__mul__": _mul, "__rmul__": _mul, "mul": _mul, "mul_": _mul,
    "__neg__": _neg, "neg": _neg,
    "__floordiv__": _floordiv, "floor_divide": _floordiv,
    "clamp": _clamp("min", "max"), "clip": _clamp("min", "max"), "clamp_": _clamp("min", "max"),
    "clamp_min": _clamp("min", "max", "min"), "clamp_max": _clamp("min", "max", "max"),
}
for _name in ("long", "int", "to", "type", "type_as", "clone", "contiguous", "detach", "cpu", "cuda", "flatten"):
    _HANDLERS[_name] = _same
