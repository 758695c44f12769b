"""Small ONNX tensors read as numpy: the contents a shape function may fold (a ``Constant``'s value, the fill of a
``ConstantOfShape``), never weights. The plain numeric types are read here, without importing the onnx package
(see :mod:`convlint.core.onnx_parts`); others (bfloat16, float8, 4-bit, strings) by ``onnx.numpy_helper``.
"""

from __future__ import annotations

import numpy as np

from convlint.core.dtypes import dtype_name
from convlint.core.onnx_parts import package

MAX_FOLD_ELEMENTS = 4096  # larger tensors are weights, not shape data: never read
EXTERNAL = 1  # TensorProto.EXTERNAL, without loading the protobuf classes to read it (a test holds them equal)

# the plain numeric element types: ONNX element type -> the typed field holding its values when there is no raw_data
_FIELD = {1: "float_data", 2: "int32_data", 3: "int32_data", 4: "int32_data", 5: "int32_data", 6: "int32_data",
          7: "int64_data", 9: "int32_data", 10: "int32_data", 11: "double_data", 12: "uint64_data", 13: "uint64_data"}
PLAIN_DTYPES = frozenset(dtype_name(elem) for elem in _FIELD)  # what numpy holds without ml_dtypes


def to_array(tensor):
    """``onnx.numpy_helper.to_array`` for a tensor stored in the model: the plain numeric types read directly,
    the rest by onnx itself."""
    field = _FIELD.get(tensor.data_type)
    if field is None or tensor.data_location == EXTERNAL:
        return package().numpy_helper.to_array(tensor)
    dtype = np.dtype(dtype_name(tensor.data_type))
    shape = tuple(tensor.dims)
    if tensor.HasField("raw_data"):
        return np.frombuffer(tensor.raw_data, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    values = getattr(tensor, field)
    if dtype == np.float16:  # stored as the bits, in int32_data
        return np.array(values, dtype=np.uint16).view(np.float16).reshape(shape)
    return np.array(values, dtype=dtype).reshape(shape)


def constant_array(tensor):
    """The contents of a small attribute tensor as numpy, or None if it is large or unreadable."""
    n = 1
    for d in tensor.dims:
        n *= max(int(d), 0)
    if n > MAX_FOLD_ELEMENTS or tensor.data_location == EXTERNAL:
        return None
    try:
        return to_array(tensor)
    except Exception:
        return None
