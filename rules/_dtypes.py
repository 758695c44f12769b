"""Element-type families, by numpy's names (``float32``, ``int64``) as :mod:`convlint.core.dtypes` gives them, and
their names in ONNX's schemas (``tensor(float)``)."""

import functools


def is_integer(dtype) -> bool:
    """Integers and booleans: ids, labels, masks."""
    return bool(dtype) and (dtype.startswith(("int", "uint")) or dtype == "bool")


def is_float(dtype) -> bool:
    return bool(dtype) and dtype.startswith(("float", "bfloat"))


def diverged(graph, value) -> bool:
    """Whether ``value``'s type differs from the one the file declares for it (in ``graph``'s value_info)."""
    if value is None or not value.dtype:
        return False
    declared = graph.declared_types.get(value.name)
    return declared is not None and declared != value.dtype


def origin(v) -> str:
    """Where a value comes from, in the model's names: ``initializer 'mask'``, ``Cast 'c1'``, ``graph input 'x'``."""
    if v.is_param:
        return f"initializer {v.name!r}"
    p = v.producer
    if p is None:
        return f"graph input {v.name!r}"
    return f"{p.op} {p.name!r}" if p.name else f"{p.op} -> {v.name!r}"


@functools.lru_cache(maxsize=None)
def onnx_type(dtype: str):
    """``tensor(float16)`` for numpy's ``float16``, as ONNX's schemas and onnxruntime's kernels name types; None for
    an unknown name."""
    from convlint.core.dtypes import onnx_elem_type
    from convlint.core.onnx_parts import proto

    elem = onnx_elem_type(dtype)
    if not elem:
        return None
    return f"tensor({proto().TensorProto.DataType.Name(elem).lower()})"


@functools.lru_cache(maxsize=4096)
def schema_of(op: str, version: int):
    """The ONNX schema of ``op`` (default domain) at opset ``version``; None when onnx has none."""
    from convlint.core.onnx_parts import defs

    if not version:
        return None
    try:
        return defs().get_schema(op, version, "")
    except Exception:
        return None


def plain(t: str) -> str:
    """``float16`` for ``tensor(float16)``, ``float32`` for ``tensor(float)``."""
    inner = t[len("tensor("):-1] if t.startswith("tensor(") else t
    return {"float": "float32", "double": "float64"}.get(inner, inner)


def type_signatures(ctx) -> list:
    """``(order, node, (opset, op, input dtypes, output dtypes))`` for every node of the graph being checked, in
    graph order, made once per run for the rules that judge a node by its types alone (the verdict on a signature
    is then shared by every node that has it)."""
    sigs = getattr(ctx, "_type_signatures", None)
    if sigs is None:
        opset = ctx.graph.opset or {}
        version = opset.get("", opset.get("ai.onnx", 0)) or 0
        sigs = [(i, n, (version, n.op, tuple([v.dtype if v is not None else None for v in n.inputs]),
                        tuple([v.dtype for v in n.outputs]))) for i, n in enumerate(ctx.graph.walk(), start=1)]
        ctx._type_signatures = sigs
    return sigs

