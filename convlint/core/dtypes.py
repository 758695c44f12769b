"""Element types by numpy's names (``float32``, ``int64``), the names users read in messages."""

from __future__ import annotations

import functools

from convlint.core.onnx_parts import package

# ONNX's element types 1-24 by the names onnx.helper.tensor_dtype_to_np_dtype gives them (numpy's, and ml_dtypes'
# for the narrow floats and integers), kept here so that naming a type needs no import of onnx.helper
_NAMES = (None, "float32", "uint8", "int8", "uint16", "int16", "int32", "int64", "object", "bool", "float16",
          "float64", "uint32", "uint64", "complex64", "complex128", "bfloat16", "float8_e4m3fn", "float8_e4m3fnuz",
          "float8_e5m2", "float8_e5m2fnuz", "uint4", "int4", "float4_e2m1fn", "float8_e8m0fnu")
_TYPES = {name: elem for elem, name in enumerate(_NAMES) if name}


@functools.lru_cache(maxsize=None)
def dtype_name(elem_type: int):
    """numpy's name for an ONNX element type, or None when unset or unknown."""
    if not elem_type:
        return None
    if 0 < elem_type < len(_NAMES):
        return _NAMES[elem_type]
    onnx = package()
    try:
        return onnx.helper.tensor_dtype_to_np_dtype(elem_type).name
    except Exception:
        try:
            return onnx.TensorProto.DataType.Name(elem_type).lower()
        except ValueError:
            return None


def onnx_elem_type(name):
    """The ONNX element type for a numpy dtype name; 0 (undefined) when unknown."""
    if not name:
        return 0
    if name in _TYPES:
        return _TYPES[name]
    try:
        import numpy as np

        return package().helper.np_dtype_to_tensor_dtype(np.dtype(name))
    except Exception:
        return 0
