"""Element types by numpy's names (``float32``, ``int64``), the names users read in messages."""

from __future__ import annotations

import functools

import onnx


@functools.lru_cache(maxsize=None)
def dtype_name(elem_type: int):
    """numpy's name for an ONNX element type, or None when unset or unknown."""
    if not elem_type:
        return None
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
    try:
        import numpy as np

        return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(name))
    except Exception:
        return 0
