from convlint.rule import WARNING, Rule

from ._sizes import layer

# The largest finite value of each narrow float type, by ONNX element type and numpy name.
_LARGEST = {10: ("float16", 65504.0), 16: ("bfloat16", 3.3895313892515355e38)}
_BY_NAME = {name: (code, top) for code, (name, top) in _LARGEST.items()}
# Ops after which an infinite value turns into NaN for some rows or elements (a mask of -inf over a whole row).
_SENSITIVE = ("Softmax", "LogSoftmax", "Exp", "Log", "Pow", "Div", "ReduceLogSumExp")
_PASS_THROUGH = ("Add", "Sub", "Mul", "Where", "Expand", "Reshape", "Unsqueeze", "Cast", "Identity")


class Float16Overflow(Rule):
    """## What it does
    Finds a `Cast` (or `CastLike`) to float16 or bfloat16 of a constant whose finite values that type cannot hold
    (|x| > 65504 for float16): a float32 mask value of -1e9, a scale of 1e5. They become -inf or inf. It says
    which op after it turns the infinity into NaN (a `Softmax` over a row masked whole, an `Exp`, a division).

    ## Why is this bad?
    The model loads and runs, and returns NaN or inf where the float32 model returned numbers: attention over a
    row the mask covers whole, a normalization by an infinite scale. Nothing refuses it; the outputs are wrong.
    Verification runs the Cast with the ops after it, up to the one that makes NaN, in onnxruntime, and confirms
    the warning when the result holds NaN or an infinity.

    ## Example
    `Cast<to = float16>(Constant(-1e9))` before the `Add` of an attention mask: -1e9 becomes -inf.

    ## Fix
    Use a value the type holds (`torch.finfo(torch.float16).min`, -65504, or -1e4 as converters clamp to), or keep
    that part of the graph in float32 (the converter's `op_block_list`).
    """

    code = "CL801"
    name = "float16-overflow"
    brief = "a constant cast to float16/bfloat16 that the type cannot hold (-1e9 becomes -inf)"
    severity = WARNING
    ops = ("Cast", "CastLike")

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float16[2, 4] x) => (float16[2, 4] y) {
            c = Constant <value = float {-10000.0}> ()
            h = Cast <to = 10> (c)
            s = Add(x, h)
            y = Softmax(s)
        }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float16[2, 4] x) => (float16[2, 4] y) {
            c = Constant <value = float {-1000000000.0}> ()
            h = Cast <to = 10> (c)
            s = Add(x, h)
            y = Softmax(s)
        }""",
    ]

    def check(self, node, ctx):
        target = _target(node)
        source = node.input(0)
        if target is None or source is None or source.dtype in (None, "float16", "bfloat16"):
            return
        data = source.data
        if data is None or getattr(data, "size", 0) == 0 or data.dtype.kind != "f":
            return
        import numpy as np

        name, top = target
        finite = data[np.isfinite(data)]
        over = finite[np.abs(finite) > top]
        if over.size == 0:
            return
        worst = float(over[np.argmax(np.abs(over))])
        becomes = "-inf" if worst < 0 else "inf"
        path = _path_to_sensitive(node, ctx)
        after = path[-1] if path else None
        then = f"; {after.op} {after.name!r} after it then gives NaN where it meets it (a row masked whole)" \
            if after is not None else ""
        yield self.finding(node, f"{layer(node)} turns {source.name!r} ({source.dtype}, {worst:g}) into {name}, "
                                 f"whose largest value is {top:g}: {worst:g} becomes {becomes}{then}",
                           f"use a value {name} holds ({'-' if worst < 0 else ''}{top:g}, or "
                           f"torch.finfo(torch.{name}).{'min' if worst < 0 else 'max'}), or keep this part in "
                           f"float32 (the converter's op_block_list)",
                           nodes=tuple(n.name for n in path), nonfinite=True)


def _target(node):
    if node.op == "Cast":
        return _LARGEST.get(node.attrs.get("to"))
    other = node.input(1)
    return _BY_NAME.get(other.dtype) if other is not None else None


def _path_to_sensitive(node, ctx, depth: int = 4) -> list:
    """The nodes after ``node`` up to the first op that turns an infinity into NaN, through a few element-wise ops
    (its verification replays them together); empty when there is none."""
    consumers = getattr(ctx, "consumers", None)
    frontier = [(node, [])]
    for _ in range(depth):
        nxt = []
        for n, path in frontier:
            for v in n.outputs:
                for c in (consumers(v) if consumers else _consumers_of(ctx.graph, v)):
                    if c.op in _SENSITIVE:
                        return path + [c]
                    if c.op in _PASS_THROUGH:
                        nxt.append((c, path + [c]))
        frontier = nxt
    return []


def _consumers_of(graph, value) -> list:
    return [n for n in graph.nodes if any(v is value for v in n.inputs)]
