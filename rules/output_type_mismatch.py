from convlint.rule import Rule

from ._dtypes import diverged
from ._sizes import layer


class OutputTypeMismatch(Rule):
    """## What it does
    Compares the element type the model file declares for a value (a graph output, or an entry of `value_info`)
    with the type its node makes: an output declared float32 while the last node makes float16 (the output `Cast`
    that `keep_io_types` adds, removed by hand), or a `Cast` to float32 that a float16 converter left while it
    declared its output float16 (onnxconverter-common#320).

    ## Why is this bad?
    onnxruntime refuses the model when the session is created ("Type Error: Type (tensor(float16)) of output arg
    (y) of node (...) does not match expected type (tensor(float))"); `onnx.checker.check_model` passes it.

    ## Example
    `g (float16[1, 8] x) => (float[1, 8] y) { y = Relu(x) }`: `y` is declared float32, `Relu` makes float16.

    ## Fix
    Declare the type the node makes, or add the `Cast` to the declared type before the output.
    """

    code = "CL803"
    name = "output-type-mismatch"
    brief = "a value's declared element type (graph output, value_info) is the one its node makes"

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float16[1, 8] x) => (float16[1, 8] y) { y = Relu(x) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float16[1, 8] x) => (float[1, 8] y) { y = Relu(x) }""",
    ]

    fallback = True  # a type fault of the node's own inputs (CL601, CL800) is the cause: it speaks instead

    def check_graph(self, graph, ctx):
        order = None  # each node's place in the graph, to sort the findings: made at the first finding
        for g in graph.graphs():
            outputs = {v.name for v in g.outputs}
            for name, declared in g.declared_types.items():
                v = g.values.get(name)
                node = v.producer if v is not None else None
                if node is None or not v.dtype or declared == v.dtype or any(diverged(g, i) for i in node.inputs):
                    continue  # agrees, or follows from an input that already diverged (reported there)
                what = f"graph output {name!r}" if name in outputs else f"{name!r} (its value_info)"
                made = f"{layer(node)} makes {v.dtype}"
                if node.op == "Cast":
                    made += " (its `to`)"
                f = self.finding(node, f"{what} is declared {declared}, but {made}",
                                 _hint(node, name, declared, v.dtype, name in outputs),
                                 replay_types={name: declared})
                if order is None:
                    order = {id(n): i for i, n in enumerate(graph.walk(), start=1)}
                f.order = order.get(id(node), 0)
                yield f


def _hint(node, name, declared, made, output) -> str:
    if node.op == "Cast":
        return (f"set the Cast's `to` to {declared} (a float16 converter that keeps a Cast to float32 leaves this: "
                f"onnxconverter-common#320), or declare {name!r} as {made}")
    if output:
        return f"declare {name!r} as {made}, or add a Cast to {declared} before the output"
    return f"declare {name!r} as {made} in the value_info, or drop its value_info entry"
