from convlint.rule import INFO, Rule

OLDEST_SUPPORTED = 7


class OpsetTooOld(Rule):
    """## What it does
    Notes a model whose default-domain opset is older than 7. convlint checks such models with today's operator
    semantics where they agree, and leaves the shapes of ops it cannot read that way unknown.

    ## Why is this bad?
    It is not a fault. Opsets before 7 predate numpy-style broadcasting and several attribute changes, so some
    checks may stay silent; current onnxruntime releases also warn about or refuse very old opsets.

    ## Example
    A model exported with `opset_import: ["": 6]`.

    ## Fix
    Convert it with `onnx.version_converter.convert_version(model, 17)`.
    """

    code = "CL001"
    name = "opset-too-old"
    brief = "notes models older than opset 7"
    severity = INFO

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3] x) => (float[1, 3] y) { y = Relu(x) }""",
    ]
    INVALID = [
        """<ir_version: 3, opset_import: ["": 6]>
        g (float[1, 3] x) => (float[1, 3] y) { y = Relu(x) }""",
    ]

    def check_graph(self, graph, ctx):
        version = graph.opset.get("")
        if version is not None and version < OLDEST_SUPPORTED:
            yield self.finding(None, f"the model uses opset {version}; convlint reads ops with the semantics of opset "
                                     f"{OLDEST_SUPPORTED} and later, so some checks may not apply",
                               "convert it: onnx.version_converter.convert_version(model, 17)")
