from convlint.rule import Rule

from ._sizes import plural


class GraphCycle(Rule):
    """## What it does
    Checks that the graph has no cycle: no node may depend, directly or through others, on its own output.

    ## Why is this bad?
    An ONNX graph must be acyclic (loops are written with `Loop`); onnxruntime refuses the model. convlint leaves
    the shapes of the nodes on the cycle, and of everything after them, unknown.

    ## Example
    `a = Relu(b)` and `b = Relu(a)`.

    ## Fix
    Break the cycle; express iteration with a `Loop` node.
    """

    code = "CL004"
    name = "graph-cycle"
    brief = "the graph is acyclic"

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3] x) => (float[1, 3] y) { a = Relu(x) y = Relu(a) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3] x) => (float[1, 3] y) { a = Add(x, b) b = Relu(a) y = Relu(b) }""",
    ]

    def check_graph(self, graph, ctx):
        for g in graph.graphs():
            if g.cyclic:
                names = ", ".join(repr(n.name) for n in g.cyclic[:5]) + (" ..." if len(g.cyclic) > 5 else "")
                verb = "is" if len(g.cyclic) == 1 else "are"
                yield self.finding(g.cyclic[0], f"{plural(len(g.cyclic), 'node')} {verb} on or behind a cycle: {names}",
                                   "break the cycle; write iteration as a Loop node",
                                   nodes=tuple(n.name for n in g.cyclic))
