"""Small ONNX tensors read as numpy: the contents a shape function may fold (a ``Constant``'s value, the fill of a
``ConstantOfShape``), never weights. Imports onnx, so only the ONNX paths import it.
"""

from __future__ import annotations

import onnx
from onnx import numpy_helper

MAX_FOLD_ELEMENTS = 4096  # larger tensors are weights, not shape data: never read


def constant_array(tensor):
    """The contents of a small attribute tensor as numpy, or None if it is large or unreadable."""
    n = 1
    for d in tensor.dims:
        n *= max(int(d), 0)
    if n > MAX_FOLD_ELEMENTS or tensor.data_location == onnx.TensorProto.EXTERNAL:
        return None
    try:
        return numpy_helper.to_array(tensor)
    except Exception:
        return None
