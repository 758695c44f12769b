from collections import Counter, defaultdict

from convlint.core.ir import STANDARD_DOMAINS
from convlint.rule import INFO, Rule


class CustomDomain(Rule):
    """## What it does
    Notes, once per domain, the nodes whose operators convlint does not know (custom domains such as
    `com.microsoft`, or a model's local functions). Their outputs have unknown shapes, so checks of the layers
    after them are silent unless later shapes are pinned again.

    ## Why is this bad?
    It is not a fault: it tells you where convlint's view of the model ends.

    ## Example
    `y = com.example.Frobnicate(x)`.

    ## Fix
    Nothing to fix. A plugin rule pack can teach convlint the domain's operators.
    """

    code = "CL002"
    name = "custom-domain"
    brief = "notes operators of custom domains, whose shapes are unknown"
    severity = INFO

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3] x) => (float[1, 3] y) { y = Relu(x) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17, "com.example": 1]>
        g (float[1, 3] x) => (float[1, 3] y) { t = com.example.Frobnicate(x) y = com.example.Frobnicate(t) }""",
    ]

    def check_graph(self, graph, ctx):
        ops = defaultdict(Counter)
        for node in graph.walk():
            if node.domain not in STANDARD_DOMAINS and node.domain != "ai.onnx.ml":
                ops[node.domain][node.op] += 1
        for domain, counter in sorted(ops.items()):
            listed = ", ".join(f"{op} ×{n}" if n > 1 else op for op, n in sorted(counter.items()))
            total = sum(counter.values())
            yield self.finding(None, f"{total} node{'s' if total > 1 else ''} in domain {domain!r} ({listed}) are not "
                                     f"analysed: shapes after them are unknown and no rule checks past them",
                               "pin the shapes that follow with --input-shape on a cut model, or add a plugin rule "
                               "pack for the domain")
