"""Element-type families, by numpy's names (``float32``, ``int64``) as :mod:`convlint.core.dtypes` gives them."""


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
