import functools

from convlint.rule import Rule

from ._constraints import default_opset
from ._dtypes import onnx_type, plain, schema_of, type_signatures
from ._sizes import is_torch, layer

PROVIDER = "CPUExecutionProvider"
_WIDENED = {"tensor(float16)": "tensor(float)"}  # what onnxruntime casts a float16 node to when CPU lacks its kernel


class MissingKernel(Rule):
    """## What it does
    Looks up each ONNX node in the kernel registry of the onnxruntime that is installed (its CPU execution
    provider), with the node's operator, opset version and element types, as onnxruntime does when it creates a
    session. The first node of each operator and types is reported, with how many more share them. A node whose types no kernel implements is reported with the types the provider does implement. A
    float16 node that has only a float32 kernel is not reported: onnxruntime casts it to float32 on the CPU. An
    operator version the provider does not implement for any type is an opset question (CL001), not this rule's.

    ## Why is this bad?
    The model passes `onnx.checker` and every type constraint of the ONNX schema, and onnxruntime still refuses to
    create the session: "NOT_IMPLEMENTED : Could not find an implementation for MatMul(13) node with name ...". It
    is what a bfloat16 conversion meets on the CPU, where most operators have no bfloat16 kernel, and what an
    integer or double tensor meets at an operator implemented for float32 only.

    ## Example
    `MatMul(a: bfloat16[2, 4], b: bfloat16[4, 3])`: the CPU provider implements MatMul on float32, float64,
    int32, int64, uint32 and uint64 only.

    ## Fix
    Keep the node in a type the provider implements (a `Cast` to float32 before it and back after it, or leave
    it out of the conversion), or run the model with an execution provider that implements it (CUDA implements
    most operators on float16 and bfloat16).
    """

    code = "CL805"
    name = "missing-kernel"
    brief = "onnxruntime's CPU provider has a kernel for each node's operator, opset and element types"

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[2, 4] a, float[4, 3] b) => (float[2, 3] y) { y = MatMul(a, b) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (bfloat16[2, 4] a, bfloat16[4, 3] b) => (bfloat16[2, 3] y) { y = MatMul(a, b) }""",
    ]

    def check_graph(self, graph, ctx):
        version = default_opset(graph)
        missing = {}  # signature -> (verdict, the nodes with it)
        for i, node, signature in type_signatures(ctx):
            if signature in _IMPLEMENTED or node.domain not in ("", "ai.onnx") or is_torch(node):
                continue
            if signature not in missing:
                verdict = _lookup(node, version)
                if verdict is None:
                    _IMPLEMENTED.add(signature)
                    continue
                missing[signature] = (verdict, [])
            missing[signature][1].append((i, node))
        for (since, types, offered), nodes in missing.values():
            yield self._finding(nodes, since, types, offered)

    def _finding(self, nodes, since, types, offered):
        import onnxruntime

        order, node = nodes[0]
        shown = ", ".join(f"{var} = {plain(t)}" for var, t in sorted(types.items()))
        more = ""
        if len(nodes) > 1:
            names = ", ".join(repr(n.name) for _, n in nodes[1:4]) + (", ..." if len(nodes) > 4 else "")
            more = f"; so do {len(nodes) - 1} more {node.op} nodes with these types ({names})"
        f = self.finding(node, f"{layer(node)} has no kernel in onnxruntime {onnxruntime.__version__}'s {PROVIDER} "
                               f"for {node.op}({since}) with {shown}: the session cannot be created (it has kernels "
                               f"for {'; '.join(offered)}){more}",
                         "keep this node in a type the provider implements (a Cast to float32 before it and back "
                         "after it, or leave it out of the conversion), or run the model with an execution provider "
                         "that implements it", no_kernel=True)
        f.order = order
        return f


_IMPLEMENTED: set = set()  # (opset, (op, input and output dtypes)) with a kernel: nothing else decides


def _lookup(node, version: int):
    """None when the provider has a kernel for ``node`` (or the node's types are not known well enough to say);
    else ``(since_version, {type variable: type}, [the types of the kernels it has, in words])``."""
    schema = _schema(node.op, version)
    if schema is None:
        return None
    since, formal, allowed_by_schema = schema
    types = _bound(node, formal)
    if types is None or not _fits(types, allowed_by_schema):
        return None  # the types break the schema itself: type-constraint (CL800) reports that
    kernels = _kernels().get(node.op, ())
    kernels = [k for k in kernels if k[0] <= since <= k[1]]
    if not kernels:
        return None  # the op at this version is not implemented at all: an opset the runtime dropped (CL001)
    if any(_fits(types, allowed) for _, _, allowed in kernels):
        return None
    widened = {var: _WIDENED.get(t, t) for var, t in types.items()}
    if widened != types and any(_fits(widened, allowed) for _, _, allowed in kernels):
        return None  # onnxruntime's InsertCastTransformer runs the node in float32
    return since, types, _offered(kernels, types)


def _fits(types: dict, allowed: dict) -> bool:
    return all(t in allowed[var] for var, t in types.items() if var in allowed)


def _bound(node, formal):
    """Type variable -> the one type the node gives it, from its inputs and outputs (the schema's formal
    parameters, in order); None when a variable is bound to two types (a type fault CL800 reports) or a needed
    type is unknown."""
    inputs, outputs = formal
    types = {}
    for values, params in ((node.inputs, inputs), (node.outputs, outputs)):
        for i, v in enumerate(values):
            if v is None or (i >= len(params) and not params):
                continue
            name, var, variadic = params[min(i, len(params) - 1)]
            if i >= len(params) and not variadic:
                continue
            if not v.dtype:
                return None
            t = onnx_type(v.dtype)
            if t is None or types.setdefault(var, t) != t:
                return None
    return types


def _offered(kernels, types: dict) -> list:
    """The types the provider's kernels take for the node's type variables, e.g. ``T = float32, int64``."""
    out = []
    for var in sorted(types):
        allowed = sorted({plain(t) for _, _, a in kernels for t in a.get(var, ())})
        if allowed:
            out.append(f"{var} = " + ", ".join(allowed))
    return out


@functools.lru_cache(maxsize=512)
def _schema(op: str, version: int):
    """``(since_version, (inputs, outputs), {type variable: allowed types})`` of ``op`` at opset ``version``, each
    formal parameter as ``(name, type variable, variadic)``; None when onnx has no such schema."""
    from convlint.core.onnx_parts import defs

    schema = schema_of(op, version)
    if schema is None:
        return None
    variadic = defs().OpSchema.FormalParameterOption.Variadic

    def params(ps):
        return tuple((p.name, p.type_str, p.option == variadic) for p in ps)

    allowed = {c.type_param_str: frozenset(c.allowed_type_strs) for c in schema.type_constraints}
    return schema.since_version, (params(schema.inputs), params(schema.outputs)), allowed


@functools.lru_cache(maxsize=1)
def _kernels() -> dict:
    """The installed onnxruntime's kernels for the default ONNX domain on its CPU provider: op -> [(first version,
    last version, {type variable: frozenset of types})]."""
    from onnxruntime.capi import _pybind_state as ort

    out = {}
    for k in ort.get_all_opkernel_def():
        if k.provider != PROVIDER or k.domain not in ("", "ai.onnx"):
            continue
        first, last = k.version_range
        out.setdefault(k.op_name, []).append(
            (first, last, {var: frozenset(ts) for var, ts in k.type_constraints.items()}))
    return out
