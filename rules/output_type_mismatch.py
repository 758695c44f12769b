from convlint.rule import Rule

from ._sizes import layer


class OutputTypeMismatch(Rule):
    """## What it does
    Compares each graph output's declared element type with the type its node produces: a model whose output is
    declared float32 while the last node makes float16 (the output `Cast` that `keep_io_types` adds, removed by
    hand), or the other way round.

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
    brief = "a graph output's declared element type is the one its node produces"

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float16[1, 8] x) => (float16[1, 8] y) { y = Relu(x) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float16[1, 8] x) => (float[1, 8] y) { y = Relu(x) }""",
    ]

    def check_graph(self, graph, ctx):
        for g in graph.graphs():
            for v in g.outputs:
                declared = g.declared_types.get(v.name)
                node = v.producer
                if not declared or not v.dtype or declared == v.dtype or node is None:
                    continue
                yield self.finding(node, f"graph output {v.name!r} is declared {declared}, but {layer(node)} makes "
                                         f"{v.dtype}",
                                   f"declare {v.name!r} as {v.dtype}, or add a Cast to {declared} before the output",
                                   not_replayable="the fault is the output's declared type, which a replay of the "
                                                  "node alone does not declare")
