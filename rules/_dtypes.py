"""Element-type families, by numpy's names (``float32``, ``int64``) as :mod:`convlint.core.dtypes` gives them."""


def is_integer(dtype) -> bool:
    """Integers and booleans: ids, labels, masks."""
    return bool(dtype) and (dtype.startswith(("int", "uint")) or dtype == "bool")


def is_float(dtype) -> bool:
    return bool(dtype) and dtype.startswith(("float", "bfloat"))
