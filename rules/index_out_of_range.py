import re

from convlint.core import conditions as cond
from convlint.core import dims
from convlint.examples import TorchExample
from convlint.core.ir import IndexRange
from convlint.rule import ERROR, INFO, WARNING, Rule

from ._sizes import every_size, is_torch, layer, named


def _positions(rows: int, offset: int = 0):
    import torch
    from torch import nn

    class Positions(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(50, 8)
            self.pos = nn.Embedding(rows, 8)

        def forward(self, ids):
            positions = torch.arange(offset, ids.shape[1] + offset, device=ids.device)
            return self.tok(ids) + self.pos(positions)

    return Positions()


def _table_of_100():
    return _positions(100)


def _shifted_into_100():
    return _positions(100, offset=1)


def _buffer_sliced():
    import torch
    from torch import nn

    class Buffered(nn.Module):
        def __init__(self):
            super().__init__()
            self.pos = nn.Embedding(512, 8)
            self.register_buffer("position_ids", torch.arange(512).expand((1, -1)), persistent=False)

        def forward(self, ids):
            return self.pos(self.position_ids[:, :ids.shape[1]])

    return Buffered()


class IndexOutOfRange(Rule):
    """## What it does
    Checks that the indices of an embedding lookup (`nn.Embedding`, `F.embedding`, ONNX `Gather`), of
    `index_select` and of `gather` stay inside the table, when their values are known from how they were made:
    `torch.arange(T)` in all its forms, expanded, unsqueezed, reshaped, sliced, shifted by a number or clamped, a
    position buffer made by `torch.arange` and sliced to the input's length (`self.position_ids[:, :T]`), or
    constant indices in an ONNX model. Indices that come from the data (token ids fed as an input) are not known
    and are not checked.

    An index that goes past the table for every size (or for the sizes you pinned) is an error. When it depends on
    a size, the exact condition is stated: `torch.arange(T)` into a position table of 1024 rows works only when
    `T <= 1024`. A table that bounds the input's length that way is the model's longest input, by design: that is a
    note with the condition (`condition` in JSON), not a warning. Any other condition is a warning.

    PyTorch refuses negative indices in all of these (`index out of range in self`), ONNX `Gather` accepts
    `-rows..rows-1`.

    ## Why is this bad?
    The forward pass fails: PyTorch with "IndexError: index out of range in self" (an embedding or
    `index_select`), "index 120 is out of bounds for dimension 0 with size 100" (`gather`), a device-side assert
    on a GPU; onnxruntime with "indices element out of data bounds". It typically surfaces only once a longer
    sequence arrives than the ones tested.

    ## Example
    A learned position table `nn.Embedding(100, d)` looked up with `torch.arange(L)`, fed sequences of 120
    tokens: positions 0…119 in a table of 100 rows.

    ## Fix
    Give the table as many rows as the longest input needs (`max_position_embeddings` in a Hugging Face config),
    or cut the input to the table's length; for positions counted from 1, one row more.
    """

    code = "CL212"
    name = "index-out-of-range"
    brief = ("indices made from sizes (`torch.arange(T)`, a sliced position buffer) "
             "stay inside their table (`T <= 1024`)")
    severity = ERROR
    ops = ("Gather", "GatherElements")

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[100, 8] w) => (float[3, 8] y)
        <int64[3] idx = {0, 99, -100}> { y = Gather(w, idx) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[100, 8] w) => (float[2, 8] y)
        <int64[2] idx = {3, 120}> { y = Gather(w, idx) }""",
    ]
    TORCH_VALID = [TorchExample(_table_of_100, "2,100", "int64"), TorchExample(_buffer_sliced, "N,T", "int64")]
    TORCH_INVALID = [TorchExample(_table_of_100, "2,120", "int64"), TorchExample(_shifted_into_100, "2,100", "int64")]

    def check(self, node, ctx):
        data, idx = node.input(0), node.input(1)
        if data is None or idx is None or not data.shape:
            return
        r = index_range(idx)
        if r is None:
            return
        rank = len(data.shape)
        axis = node.attr("axis", 0)
        if type(axis) is not int or not -rank <= axis < rank:
            return
        axis %= rank
        rows = data.shape[axis]
        if rows is None:
            return
        torch = is_torch(node)
        low = 0 if torch else dims.sub(0, rows)
        last = dims.sub(rows, 1)
        domain = cond.sizes(rows, *(d for d in (idx.shape or ()) if d is not None))
        atoms = [cond.le(r.hi, last), cond.ge(r.lo, low)]
        verdict = cond.solve(atoms, domain)
        if not (verdict.never or verdict.some):
            return
        high_verdict = cond.solve([cond.le(r.hi, last)], domain)
        low_verdict = cond.solve([cond.ge(r.lo, low)], domain)
        too_high = not high_verdict.always
        table = _table(node, data, axis, rows)
        values = f"{_span(r)}{f' ({r.source})' if r.source else ''}"
        what = f"{layer(node)} {table[0]} {values} {table[1]}"
        too_low = not low_verdict.always
        if verdict.never:
            # the bound that fails for every size is the reason; when each fails for some sizes only, both are
            high = high_verdict.never or too_high and not low_verdict.never
            negative = low_verdict.never or too_low and not high_verdict.never
            reasons = []
            if high:
                row = "row" if _embedding_like(node, data, axis) else "entry"
                reasons.append(f"index {dims.pretty(r.hi)} is past the last {row}, {dims.pretty(last)}")
            if negative:
                reasons.append(f"index {dims.pretty(r.lo)} is negative, which PyTorch refuses" if torch else
                               f"index {dims.pretty(r.lo)} is below -{dims.pretty(rows)}")
            message = f"{what}: {' and '.join(reasons)}{every_size(r.lo, r.hi, rows)}"
            # the replay feeds the same indices to onnxruntime, whose Gather takes negative ones
            not_replayable = None if high_verdict.never or not torch else NEGATIVE_IN_ONNX
            hint = _hint(node, data, r, rows, axis, torch, high, negative, None)
            yield self.finding(node, message, hint, ERROR, not_replayable=not_replayable)
            return
        condition = verdict.condition
        if too_high and high_verdict.some and _longest_input(verdict) and verdict.key() == high_verdict.key():
            message = f"{what}: valid only when {condition}, so that is the longest input the model takes"
            hint = _hint(node, data, r, rows, axis, torch, True, False, condition)
            yield self.finding(node, message, hint, INFO, condition=condition, atoms=atoms, domain=domain)
            return
        message = f"{what}: valid only when {condition} (smallest: {verdict.example_text()})"
        hint = _hint(node, data, r, rows, axis, torch, too_high, too_low, condition)
        yield self.finding(node, message, hint, WARNING, condition=condition, atoms=atoms, domain=domain)


NEGATIVE_IN_ONNX = "PyTorch refuses negative indices here, where ONNX's Gather counts them from the end"


def index_range(value):
    """What is known of an index tensor's values: the front end's range (``torch.arange(T)``...), or the min and max
    of constant integer indices (an ONNX initializer); None when unknown."""
    if value.range is not None:
        return value.range
    data = value.data
    if data is None or getattr(data, "dtype", None) is None or data.dtype.kind not in "iu" or data.size == 0:
        return None
    return IndexRange(int(data.min()), int(data.max()), "constant")


def _span(r) -> str:
    if r.lo == r.hi:
        return f"index {dims.pretty(r.lo)}"
    return f"indices {dims.pretty(r.lo)}…{dims.pretty(r.hi)}"


def _embedding_like(node, data, axis) -> bool:
    return node.op == "Gather" and axis == 0 and data.is_param and data.rank == 2


def _table(node, data, axis, rows):
    """(verb, where) for the message: ``looks up``, ``in the table 'pos.weight' (100, 8) of 100 rows``."""
    if _embedding_like(node, data, axis):
        return "looks up", f"in {named(data)}, a table of {dims.pretty(rows)} rows"
    verb = "picks" if node.op == "Gather" else "gathers"
    return verb, f"along axis {axis} of {named(data)}, which has {dims.pretty(rows)} entries there"


def _longest_input(verdict) -> bool:
    """Whether the condition bounds each size from above (``T <= 1024``): the table sets the longest input."""
    if not verdict.sets or verdict.solutions or verdict.coupled:
        return False
    for s in verdict.sets.values():
        key = s.canonical()
        if key[0] != "finite" or not key[1] or key[1] != tuple(range(1, len(key[1]) + 1)):
            return False
    return True


def _hint(node, data, r, rows, axis, torch, too_high, too_low, condition):
    """How to fix it: a longer table (named as the user builds it), indices that start at 0, or shorter inputs."""
    fixes = []
    if too_low:
        fixes.append("make the indices start at 0 or above (PyTorch takes no negative index here)" if torch else
                     f"keep the indices at or above -{dims.pretty(rows)}")
    if too_high:
        need = dims.add(r.hi, 1)
        table = data.is_param and data.rank == 2 and axis == 0
        module = _EMBEDDING.search(node.name) or (node.origin is not None and node.origin.module_class == "Embedding")
        if not table:
            fixes.append(f"make axis {axis} of {data.name!r} " +
                         (f"at least {need} long" if type(need) is int else "longer"))
        elif type(need) is not int:
            fixes.append(f"give {data.name!r} more rows" +
                         (" (max_position_embeddings in a Hugging Face config)" if module else ""))
        else:
            fixes.append(f"give {data.name!r} at least {need} rows" +
                         (f" (nn.Embedding({need}, {dims.pretty(data.shape[1])}); max_position_embeddings in a "
                          f"Hugging Face config)" if module else ""))
    fix = "; ".join(fixes)
    if condition:
        return f"if {'longer' if not too_low else 'other'} inputs must work, {fix}; else keep to {condition}"
    if too_high:
        return f"{fix}, or cut the input so that the indices stay below {dims.pretty(rows)}"
    return fix


_EMBEDDING = re.compile(r"(^|\.)embedding(#\d+)?$")
