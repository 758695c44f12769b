import functools

from convlint.rule import Rule

from ._dtypes import diverged, onnx_type, origin, plain, schema_of, type_signatures
from ._sizes import is_torch, layer


class TypeConstraint(Rule):
    """## What it does
    Checks every input's element type against the operator's type constraints, as the ONNX schema states them
    (`onnx.defs`): one type for each type variable across the inputs it binds (`Add`'s `A` and `B` are both `T`),
    and a type the constraint allows (`Resize`'s `scales` float32, `Where`'s `condition` bool, a shape input
    int64). It names where each type came from: the node that produced it, an initializer, a graph input.

    ## Why is this bad?
    onnxruntime refuses the model when the session is created ("Type parameter (T) of Optype (Add) bound to
    different types (tensor(float) and tensor(float16) in node (...)"), although `onnx.checker.check_model`, as
    converters run it, passes. It is what a float16 conversion leaves when some values stay float32: an initializer
    the converter's block list kept, a graph input kept by `keep_io_types` without its Cast, a hand-edited Cast.

    ## Example
    `Add(x: float16[1, 8], bias: float[8])`: `T` is bound to float16 by `x` and to float32 by the initializer
    `bias`.

    ## Fix
    Make the types agree where they meet: convert the initializer to the type of the rest (or add a `Cast` before
    the node), or keep the whole region in one type (add the node to the converter's `op_block_list`, or take the
    node that makes the other type out of it).
    """

    code = "CL800"
    name = "type-constraint"
    brief = "each input's element type meets the op's type constraints (one type per `T`, the allowed types)"
    fallback = True  # a rule about the same node that explains more (float embedding indices, say) speaks first

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float16[1, 8] x) => (float16[1, 8] y)
        <float16[8] bias> { y = Add(x, bias) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float16[1, 8] x) => (float16[1, 8] y)
        <float[8] bias> { y = Add(x, bias) }""",
    ]

    def check_graph(self, graph, ctx):
        declared = graph.declared_types
        for order, node, signature in type_signatures(ctx):
            if signature in _CLEAN or node.domain not in ("", "ai.onnx") or is_torch(node):
                continue  # most nodes of a network repeat a few signatures
            if declared and any(diverged(graph, v) for v in node.inputs):
                continue  # an input whose type is not the declared one: output-type-mismatch (CL803) names the cause
            findings = list(self._check(node, signature[0]))
            if not findings:
                _CLEAN.add(signature)
            for f in findings:
                f.order = order
                yield f

    def _check(self, node, version):
        spec = _spec(node.op, version)
        if spec is None:
            return
        formal, variadic, allowed, one_type = spec
        for var, uses in _bound(node, formal, variadic).items():
            types = {t for _, _, t in uses}
            if len(types) > 1 and one_type[var]:
                shown = " and ".join(f"{plain(t)} from {origin(v)}" for t, v in _first_of_each(uses))
                yield self.finding(node, f"{layer(node)} binds its type {var} ({_names(uses)}) to {shown}: "
                                         f"one type is needed", _hint(uses))
                continue
            ok = allowed.get(var) or (frozenset({var}) if var.startswith("tensor(") else None)
            for param, v, t in uses:
                if ok is not None and t not in ok:
                    yield self.finding(node, f"{layer(node)} takes {_list(ok)} for its input '{param}', but "
                                             f"{origin(v)} is {plain(t)}",
                                       f"make it {plain(_preferred(ok))} where it is produced, or insert a Cast "
                                       f"before this node")
                    break


_CLEAN: set = set()  # (opset, (op, input and output dtypes)) meeting their schema: nothing else decides


@functools.lru_cache(maxsize=4096)
def _spec(op: str, version: int):
    """What the schema of ``op`` at opset ``version`` says of its inputs' types: (formal inputs as (name, type
    variable), whether the last is variadic, type variable -> allowed type strings, type variable -> whether all
    the inputs it binds need one type); None when onnx has no such schema."""
    from convlint.core.onnx_parts import defs

    schema = schema_of(op, version)
    if schema is None:
        return None
    inputs = list(schema.inputs)
    formal = tuple((p.name, p.type_str) for p in inputs)
    variadic = bool(inputs) and inputs[-1].option == defs().OpSchema.FormalParameterOption.Variadic
    allowed = {c.type_param_str: frozenset(c.allowed_type_strs) for c in schema.type_constraints}
    one_type = {}
    for _, var in formal:
        params = [p for p in inputs if p.type_str == var]
        one_type[var] = not (len(params) == 1 and not params[0].is_homogeneous)
    return formal, variadic, allowed, one_type


def _bound(node, formal, variadic) -> dict:
    """Type variable -> [(formal input name, value, its ONNX type string)], for the inputs with a known type."""
    out = {}
    for i, v in enumerate(node.inputs):
        if v is None or not v.dtype:
            continue
        if i < len(formal):
            name, var = formal[i]
        elif variadic:
            name, var = formal[-1]
        else:
            continue
        t = onnx_type(v.dtype)
        if t is not None:
            out.setdefault(var, []).append((name, v, t))
    return out


def _list(types) -> str:
    names = sorted(plain(t) for t in types)
    return names[0] if len(names) == 1 else (", ".join(names[:-1]) + " or " + names[-1] if len(names) <= 6
                                              else ", ".join(names[:6]) + "...")


def _preferred(types):
    for t in ("tensor(float)", "tensor(int64)", "tensor(bool)"):
        if t in types:
            return t
    return sorted(types)[0]


def _names(uses) -> str:
    return ", ".join(dict.fromkeys(name for name, _, _ in uses))


def _first_of_each(uses) -> list:
    seen = {}
    for _, v, t in uses:
        seen.setdefault(t, v)
    return list(seen.items())


def _hint(uses) -> str:
    """Cast the odd one out to the type most inputs have."""
    counts = {}
    for _, _, t in uses:
        counts[t] = counts.get(t, 0) + 1
    target = max(counts, key=lambda t: (counts[t], t != "tensor(float)"))
    odd = [v for _, v, t in uses if t != target]
    what = " and ".join(origin(v) for v in odd[:3])
    fix = ("convert it to" if all(v.is_param for v in odd) else "insert a Cast to") + f" {plain(target)}"
    return (f"{fix}: {what}; after a float16 conversion, this is where a value the converter kept (its "
            f"op_block_list, keep_io_types) meets the converted ones")
