from convlint.rule import Rule


class UndefinedValue(Rule):
    """## What it does
    Checks that every value a node reads (and every graph output) is defined: a graph input, an initializer, or
    the output of some node (for a subgraph, also a value of an enclosing graph).

    ## Why is this bad?
    onnxruntime refuses to load the model. It happens when a graph is edited by hand, a node is deleted without
    rewiring its consumers, or a file is truncated.

    ## Example
    `y = Conv(x, w)` where nothing defines `w`.

    ## Fix
    Add the missing initializer or input, or connect the node to the value it should read.
    """

    code = "CL003"
    name = "undefined-value"
    brief = "every value a node reads is defined"

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3] x) => (float[1, 3] y) { y = Relu(x) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3] x) => (float[1, 3] y) { y = Add(x, missing) }""",
    ]

    def check_graph(self, graph, ctx):
        for g in graph.graphs():
            for node, name in g.undefined:
                if node is None:
                    yield self.finding(None, f"graph output {name!r} is not produced by any node or input",
                                       "produce it, or remove it from the graph outputs")
                else:
                    yield self.finding(node, f"node {node.name!r} ({node.op}) reads {name!r}, which no input, "
                                             f"initializer or node defines", "define the value or rewire the node",
                                       undefined=(name,))
