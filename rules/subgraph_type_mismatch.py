from convlint.rule import Rule

from ._dtypes import origin
from ._sizes import layer


class SubgraphTypeMismatch(Rule):
    """## What it does
    Checks that the values passing through a control-flow node keep one element type: the two branches of an `If`
    return the same type for each output, and each value a `Loop` or `Scan` carries from one iteration to the next
    has one type as it goes in (the initial value), as the body declares it, and as the body returns it.

    ## Why is this bad?
    onnxruntime refuses the model when the session is created ("[TypeInferenceError] Mismatched tensor element
    type: inferred=float declared=float16" on an `If`, "Input element type of 10 does not match existing output
    type of 1" on a `Loop`). A float16 conversion that skips a subgraph, or converts one branch only, leaves it;
    so does hand surgery on one side.

    ## Example
    `If(c)` whose `then_branch` returns the float16 input as it is and whose `else_branch` returns it cast to
    float32.

    ## Fix
    Make both sides one type: a `Cast` at the end of the branch (or of the body) that differs, or convert the
    subgraph with the rest of the model.
    """

    code = "CL804"
    name = "subgraph-type-mismatch"
    brief = "an `If`'s branches return one type per output; a `Loop`/`Scan` carries each value in one type"
    ops = ("If", "Loop", "Scan")

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (bool c, float16[2] x) => (float16[2] y) {
            y = If(c) <then_branch = t () => (float16[2] a) { a = Identity(x) },
                       else_branch = e () => (float16[2] b) { b = Neg(x) }>
        }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (bool c, float16[2] x) => (float16[2] y) {
            y = If(c) <then_branch = t () => (float16[2] a) { a = Identity(x) },
                       else_branch = e () => (float[2] b) { b = Cast <to = 1> (x) }>
        }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (int64 n, bool c, float[2] x) => (float[2] y) {
            y = Loop(n, c, x) <body = b (int64 i, bool ci, float[2] s) => (bool co, float16[2] so) {
                co = Identity(ci)
                so = Cast <to = 10> (s)
            }>
        }""",
    ]

    def check(self, node, ctx):
        if node.op == "If":
            yield from self._branches(node)
        else:
            yield from self._carried(node)

    def _branches(self, node):
        then, other = node.subgraphs.get("then_branch"), node.subgraphs.get("else_branch")
        if then is None or other is None:
            return
        for i, (a, b) in enumerate(zip(then.outputs, other.outputs)):
            if not a.dtype or not b.dtype or a.dtype == b.dtype:
                continue
            out = node.outputs[i].name if i < len(node.outputs) else f"#{i}"
            yield self.finding(node, f"{layer(node)} returns {out!r} (its output {i}) as {a.dtype} from its "
                                     f"then_branch ({_made(a)}) and as {b.dtype} from its else_branch ({_made(b)}): "
                                     f"both branches must return one type",
                               f"add a Cast to one type at the end of a branch ({b.name!r} to {a.dtype}, or "
                               f"{a.name!r} to {b.dtype}); a float16 conversion that converted one branch only "
                               f"leaves this")

    def _carried(self, node):
        body = node.subgraphs.get("body")
        if body is None:
            return
        if node.op == "Loop":
            initial, inside, returned = node.inputs[2:], body.inputs[2:], body.outputs[1:]
        else:  # Scan: the state variables come first, before the scanned inputs
            n = len(node.inputs) - int(node.attrs.get("num_scan_inputs") or 0)
            initial, inside, returned = node.inputs[:n], body.inputs[:n], body.outputs[:n]
        for k, (init, arg, ret) in enumerate(zip(initial, inside, returned)):
            if init is None or not init.dtype:
                continue
            types = {init.dtype, arg.dtype or init.dtype, ret.dtype or init.dtype}
            if len(types) == 1:
                continue
            said = [f"{init.dtype} ({origin(init)})"]
            if arg.dtype and arg.dtype != init.dtype:
                said.append(f"its body declares {arg.name!r} {arg.dtype}")
            if ret.dtype and ret.dtype != (arg.dtype or init.dtype):
                said.append(f"its body returns {ret.name!r} as {ret.dtype} ({_made(ret)})")
            yield self.finding(node, f"{layer(node)} carries {init.name!r} in as " + ", but ".join(said) +
                                     ": a carried value keeps one type through the iterations",
                               f"make the body return {init.dtype} (a Cast before its output {ret.name!r}), or "
                               f"give the initial value the body's type; a float16 conversion that skipped the "
                               f"body, or converted only the body, leaves this")


def _made(v) -> str:
    p = v.producer
    if p is None:
        return "an outer value, unchanged" if not v.is_param else f"initializer {v.name!r}"
    return origin(v)
