"""The few ONNX messages a replay writes, made from the protobuf classes (:mod:`convlint.core.onnx_parts`) rather
than ``onnx.helper``, whose import (``ml_dtypes``) would cost a replay more than the run itself. What only onnx
knows how to write (an attribute from a Python value, a tensor of a narrow float type) still goes to onnx."""

from __future__ import annotations

import numpy as np

from convlint.core.dtypes import onnx_elem_type
from convlint.core.onnx_parts import package, proto
from convlint.core.onnx_tensors import PLAIN_DTYPES

# ai.onnx opset -> the lowest IR version that carries it (onnx's VERSION_TABLE, tests/test_onnx_parts.py holds them
# equal): the first opset of each IR version
_IR_OF_OPSET = ((28, 14), (25, 13), (24, 12), (23, 11), (21, 10), (19, 9), (15, 8), (12, 7), (11, 6), (10, 5),
                (9, 4), (1, 3))


def value_info(name: str, elem_type: int, shape=None):
    """``helper.make_tensor_value_info``: a tensor of ``elem_type``, with ``shape`` (ints, names, None for an
    unnamed dim) or none."""
    v = proto().ValueInfoProto(name=name)
    tensor = v.type.tensor_type
    tensor.elem_type = elem_type
    if shape is not None:
        tensor.shape.SetInParent()
        for d in shape:
            dim = tensor.shape.dim.add()
            if isinstance(d, (int, np.integer)):
                dim.dim_value = int(d)
            elif d is not None:
                dim.dim_param = str(d)
    return v


def tensor(array, name: str):
    """``numpy_helper.from_array``: the plain numeric types as little-endian raw data, the others by onnx."""
    array = np.asarray(array)
    if array.dtype.name not in PLAIN_DTYPES:
        return package().numpy_helper.from_array(array, name)
    t = proto().TensorProto(name=name, data_type=onnx_elem_type(array.dtype.name))
    t.dims.extend(array.shape)
    t.raw_data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return t


def model(nodes, inputs, outputs, initializers, opset: dict, ir_version: int, producer: str = "convlint-verify"):
    """A model of one graph, ``replay``, importing ``opset`` (domain -> version), at ``ir_version`` or the lowest
    IR version its opsets need, whichever is higher."""
    m = proto().ModelProto(producer_name=producer)
    g = m.graph
    g.name = "replay"
    g.node.extend(nodes)
    g.input.extend(inputs)
    g.output.extend(outputs)
    g.initializer.extend(initializers)
    for domain, version in opset.items():
        if version is not None:
            m.opset_import.add(domain=domain, version=version)
    m.ir_version = max(ir_version or 0, min_ir_version(opset))
    return m


def min_ir_version(opset: dict) -> int:
    """The lowest IR version that carries ``opset`` (domain -> version); 4 where onnx does not say."""
    need = 4
    for domain, version in opset.items():
        if version is None:
            continue
        if domain in ("", "ai.onnx") and version <= _IR_OF_OPSET[0][0]:
            need = max(need, next(ir for first, ir in _IR_OF_OPSET if version >= first))
            continue
        try:
            helper = package().helper
            need = max(need, helper.find_min_ir_version_for([helper.make_opsetid(domain, version)]))
        except Exception:
            pass
    return need
