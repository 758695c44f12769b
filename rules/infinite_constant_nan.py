from convlint.rule import WARNING, Rule

from ._sizes import layer

_ADDITIVE = ("Add", "Sub")  # a mask added to the scores keeps its rows' infinities
_SHAPING = ("Reshape", "Unsqueeze", "Squeeze", "Expand", "Identity", "Cast")  # values kept, axes moved
_DEPTH = 4


class InfiniteConstantNan(Rule):
    """## What it does
    Finds a constant (an initializer, or a `Constant`) holding an infinity that makes NaN where it is used: added
    as a mask before a `Softmax` or `LogSoftmax` with a whole row at -inf along the softmax axis, or multiplied
    into a value (0 × inf is NaN wherever that value is 0). It says which rows, or under which condition.

    ## Why is this bad?
    The model runs and returns NaN: the softmax of a row that is -inf throughout divides 0 by 0, and
    `(1 - mask) * -1e9` gives 0 × -inf at every position the mask keeps. A float16 conversion makes these
    infinities: -1e9 and 1e5 are beyond float16's range (65504) and become -inf and inf.

    ## Example
    `Softmax(Add(scores, mask))` where the float16 initializer `mask` is -inf on a whole row.

    ## Fix
    Use the type's most negative finite value (`torch.finfo(torch.float16).min`, -65504), as transformers does,
    so that a row masked whole gives a uniform row; or keep the masking in float32.
    """

    code = "CL806"
    name = "infinite-constant-nan"
    brief = "a constant holding inf or -inf that makes NaN (a softmax row masked whole, 0 × inf)"
    severity = WARNING
    ops = ("Softmax", "LogSoftmax", "Mul")

    # float16 literals are written as their bits: 64512 is -inf, 64511 is -65504
    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float16[2, 2] x) => (float16[2, 2] y)
        <float16[2, 2] mask = {0, 64511, 64511, 64511}> { s = Add(x, mask)  y = Softmax(s) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float16[2, 2] x) => (float16[2, 2] y) {
            mask = Constant <value = float16[2, 2] {0, 64512, 64512, 64512}> ()
            s = Add(x, mask)
            y = Softmax(s)
        }""",
    ]

    def check(self, node, ctx):
        if node.op == "Mul":
            yield from self._product(node)
        else:
            yield from self._softmax(node)

    def _softmax(self, node):
        out = node.outputs[0] if node.outputs else None
        rank = len(out.shape) if out is not None and out.shape is not None else None
        if rank is None:
            return
        axis = node.attrs.get("axis", -1)
        axis = axis + rank if axis < 0 else axis
        for const, path, aligned in _masks(node.input(0)):
            rows, total = _masked_rows(const.data, rank, axis, aligned)
            if not rows:
                continue
            yield self.finding(node, f"{layer(node)} gives NaN on {_rows(rows, total)}: {_named(const)} is -inf "
                                     f"along the whole softmax axis there, and the softmax of a row at -inf "
                                     f"throughout is 0 / 0",
                               _HINT, nodes=tuple(n.name for n in path), nonfinite=True)
            return

    def _product(self, node):
        for i, v in enumerate(node.inputs[:2]):
            const = _constant_behind(v)
            other = node.input(1 - i)
            if const is None or other is None or other.data is not None:
                continue
            import numpy as np

            inf = np.isinf(const.data)
            if not inf.any():
                continue
            made = other.producer is not None
            factor = f"{other.producer.op} {other.producer.name!r}'s output" if made else f"{other.name!r}"
            yield self.finding(node, f"{layer(node)} multiplies {factor} by {_named(const)}, which holds "
                                     f"{_which(const.data)}: the product is NaN wherever "
                                     f"{'that output' if made else factor} is 0 (0 × inf)", _HINT, nonfinite=True)
            return


_HINT = ("use the type's most negative finite value instead of an infinity (torch.finfo(torch.float16).min, "
         "-65504): a float32 -1e9 or 1e5 becomes ±inf when converted to float16")


def _masks(v, depth: int = _DEPTH, path=(), aligned=True):
    """(constant, the nodes from it to the softmax, whether its axes line up with the softmax's) for each constant
    with an infinity that reaches ``v`` through additions and reshapes."""
    if v is None or depth == 0:
        return
    if _has_inf(v):
        yield v, path, aligned
        return
    p = v.producer
    if p is None:
        return
    if p.op in _ADDITIVE:
        for i in p.inputs:
            yield from _masks(i, depth - 1, (p,) + path, aligned)
    elif p.op == "Where":
        # a branch reaches the softmax everywhere only when the condition is a constant that always picks it; a
        # computed condition (GPT-2's causal mask: Where(mask, scores, -inf)) picks the scores on some of each row
        condition = p.input(0)
        data = condition.data if condition is not None else None
        if data is not None and getattr(data, "dtype", None) is not None and data.dtype.kind == "b" and data.size:
            for i, taken in ((p.input(1), data.all()), (p.input(2), not data.any())):
                if taken:
                    yield from _masks(i, depth - 1, (p,) + path, aligned)
    elif p.op in _SHAPING:
        yield from _masks(p.input(0), depth - 1, (p,) + path, aligned and p.op in ("Identity", "Cast"))


def _constant_behind(v, depth: int = _DEPTH):
    """The constant with an infinity that ``v`` is, through ops that only move its values; else None."""
    for _ in range(depth):
        if v is None:
            return None
        if _has_inf(v):
            return v
        p = v.producer
        if p is None or p.op not in _SHAPING:
            return None
        v = p.input(0)
    return None


def _has_inf(v) -> bool:
    """``v`` is an initializer or a Constant's value, and holds an infinity (a Cast that makes one is CL801's)."""
    constant = v.is_param or (v.producer is not None and v.producer.op == "Constant")
    data = v.data if constant else None
    if data is None or getattr(data, "dtype", None) is None or data.dtype.kind != "f" or data.size == 0:
        return False
    import numpy as np

    return bool(np.isinf(data).any())


def _masked_rows(data, rank: int, axis: int, aligned: bool):
    """(how many rows along ``axis`` are -inf throughout, how many rows the constant has); (0, 0) when none or
    when its axes cannot be lined up with the softmax's."""
    import numpy as np

    neg = np.isneginf(data)
    if not aligned:  # moved axes: only a constant that is -inf throughout masks every row for sure
        return (1, 1) if neg.all() else (0, 0)
    j = data.ndim - (rank - axis)
    if j < 0 or data.shape[j] == 1:
        whole = neg.reshape(-1) if j < 0 else neg.squeeze(axis=j).reshape(-1)  # the row is one value, broadcast
    else:
        whole = neg.all(axis=j).reshape(-1)
    return int(whole.sum()), int(whole.size)


def _rows(rows: int, total: int) -> str:
    if rows == total:
        return "every row" if total > 1 else "every row (the mask is -inf throughout)"
    return f"{rows} of the {total} rows the mask covers"


def _named(v) -> str:
    return f"{'initializer' if v.is_param else 'the Constant'} {v.name!r} ({v.dtype})"


def _which(data) -> str:
    import numpy as np

    inf = np.isinf(data)
    signs = sorted({"-inf" if x < 0 else "inf" for x in data[inf].reshape(-1)[:64]})
    return f"{' and '.join(signs)} in {int(inf.sum())} of its {data.size} values"
