import sympy

from convlint.core import dims
from convlint.examples import TorchExample
from convlint.rule import INFO, Rule
from convlint.shapes.base import ints_of

from ._sizes import ALWAYS, NEVER, UNKNOWN, condition_clause, divides_verdict, equal_verdict, judged, layer, named


def _split_heads(heads):
    from torch import nn

    class SplitHeads(nn.Module):
        def forward(self, x):
            b, t, e = x.shape
            return x.view(b, t, heads, -1).transpose(1, 2)

    return SplitHeads()


def _four_heads():
    return _split_heads(4)


def _eight_heads():
    return _split_heads(8)


class ReshapeElementCount(Rule):
    """## What it does
    Checks that a `Reshape` keeps the number of elements: the target shape (with `0` copying an input dim and `-1`
    inferred) must hold exactly as many elements as the input. With a `-1`, the other target dims must divide the
    input's element count. This is how a split into attention heads fails in an exported model: `(N, T, 100)`
    reshaped to `(N, T, 8, -1)` needs 100 to be a multiple of 8.

    ## Why is this bad?
    The reshape cannot run: PyTorch fails with "shape '[2, 7, 8, -1]' is invalid for input of size 1400",
    onnxruntime in `run()` with "The input tensor cannot be reshaped to the requested shape". Typical causes: an
    embedding size that the number of heads does not divide, or a `view(-1, 16 * 5 * 5)` written for another input
    size.

    ## Example
    `Reshape(x[2, 7, 100], shape = [2, 7, 8, -1])`.

    ## Fix
    Make the target hold the input's elements: for heads, an embedding size that is a multiple of the number of
    heads (or a number of heads that divides it); for a flatten, `x.flatten(1)` instead of hard-coded sizes.
    """

    code = "CL504"
    name = "reshape-element-count"
    brief = "a Reshape keeps the element count (a split into heads that does not divide)"
    ops = ("Reshape",)

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[2, 7, 96] x) => (float[2, 7, 8, 12] y)
        <int64[4] s = {0, 0, 8, -1}> { y = Reshape(x, s) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 16, 5, 5] x) => (float[N, 400] y)
        <int64[2] s = {-1, 400}> { y = Reshape(x, s) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[2, 7, 100] x) => (float[2, 7, 8, 12] y)
        <int64[4] s = {0, 0, 8, -1}> { y = Reshape(x, s) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 16, 5, 5] x) => (float[N, 8, 48] y)
        <int64[3] s = {0, 8, 48}> { y = Reshape(x, s) }""",
    ]
    TORCH_VALID = [TorchExample(_four_heads, "N,T,100")]
    TORCH_INVALID = [TorchExample(_eight_heads, "N,T,100")]

    def check(self, node, ctx):
        x = node.input_shape(0)
        target = node.attrs.get("shape") if "shape" in node.attrs else ints_of(node, 1)
        if x is None or target is None or any(d is None for d in x) or any(d is None for d in target):
            return
        allowzero = node.attrs.get("allowzero", 0)
        known, infer = [], 0
        for i, d in enumerate(target):
            if type(d) is int and d == -1:
                infer += 1
            elif type(d) is int and d == 0 and not allowzero:
                if i >= len(x):
                    return
                known.append(x[i])
            elif type(d) is int and d < 0:
                return
            else:
                known.append(d)
        if infer > 1:
            return
        total, kept = dims.product(x), dims.product(known)
        if total is None or kept is None:
            return
        verdict = _divides(kept, total) if infer else equal_verdict(total, kept)
        shown = "(" + ", ".join("-1" if type(d) is int and d == -1 else dims.pretty(d) for d in target) + \
            ("," if len(target) == 1 else "") + ")"
        if verdict.status == "unknown" and not (type(total) is int and type(kept) is int):
            needs = _needs(kept, total, infer)
            if needs:
                yield self.finding(node, f"{layer(node)} turns {named(node.input(0))}, {dims.pretty(total)} elements, "
                                         f"into {shown} only when {needs}, which convlint cannot solve for the sizes",
                                   "check that your input sizes meet it", INFO, condition=needs)
            return
        if not (verdict.never or verdict.some):
            return
        what = (f"the other target dims hold {dims.pretty(kept)}, which does not divide it" if infer
                else f"the target holds {dims.pretty(kept)}")
        message = (f"{layer(node)} cannot turn {named(node.input(0))}, {dims.pretty(total)} elements, into {shown}: "
                   f"{what}")
        message += condition_clause(verdict, "it works")
        yield self.finding(node, message, _hint(x, target, infer), **judged(verdict))


def _needs(kept, total, infer):
    """What the reshape needs, as a condition in the user's names, unsolved: ``3·H·W % 16 == 0``."""
    if not infer:
        return f"{dims.pretty(total)} == {dims.pretty(kept)}"
    if kept == 0:
        return None
    num, den = dims.quotient(total, kept)
    return f"{dims.pretty(num)} % {den} == 0" if den.is_Integer and den != 1 else None


def _divides(kept, total):
    """Whether ``kept`` divides ``total`` for every size, none, or some (when the quotient has an integer
    denominator)."""
    if type(kept) is int and type(total) is int:
        return ALWAYS if kept and total % kept == 0 else NEVER
    if kept == 0:
        return UNKNOWN
    num, den = dims.quotient(total, kept)
    if not den.is_Integer:
        return UNKNOWN
    den = int(den)
    if den == 1:
        return ALWAYS
    return divides_verdict(den, dims.norm(num))


def _hint(x, target, infer):
    """For a split of the last dim into heads, the sizes that work; else the general fix."""
    if len(target) == len(x) + 1 and type(x[-1]) is int:
        heads = [d for d in target[-2:] if type(d) is int and d > 0]
        if infer and len(heads) == 1:
            h, e = heads[0], x[-1]
            near = sorted({e - e % h, e - e % h + h} - {0})
            divisors = [d for d in range(2, e + 1) if e % d == 0 and abs(d - h) <= max(4, h)]
            return (f"{e} features do not split into {h} heads: use an embedding size that is a multiple of {h} "
                    f"({' or '.join(map(str, near))}), or a number of heads that divides {e}"
                    + (f" ({', '.join(map(str, divisors[:4]))})" if divisors else ""))
    return ("make the target hold the input's elements: use -1 for the dim that should absorb the rest (x.flatten(1) "
            "rather than hard-coded sizes), or check the layer that produces the input")
