"""ONNX's own per-node shape inference, for ops that have no shape function of ours.

Our dims go in as ``dim_value`` or as ``dim_param`` carrying the expression's text, and come back mapped to the
same expressions; dims onnx invents (``unk__3``) come back unknown.
"""

from __future__ import annotations

from convlint.core.dtypes import dtype_name, onnx_elem_type
from convlint.core.onnx_parts import defs, package, proto
from convlint.shapes.base import Out


def _type_proto(value, names: dict):
    tp = proto().TypeProto()
    tt = tp.tensor_type
    tt.elem_type = onnx_elem_type(value.dtype)
    if value.shape is not None:
        shape = tt.shape
        shape.SetInParent()
        for d in value.shape:
            dim = shape.dim.add()
            if type(d) is int:
                dim.dim_value = d
            elif d is not None:
                text = str(d)
                names[text] = d
                dim.dim_param = text
    return tp


def _proto_of(node, onnx):
    if node.proto is not None:
        return node.proto
    return onnx.helper.make_node(node.op, [v.name if v is not None else "" for v in node.inputs],
                                 [v.name for v in node.outputs], domain=node.domain or None, **node.attrs)


def infer(node, opset: dict, ir_version) -> list:
    """Output shapes by onnx's inference for ``node``; unknown outputs where it cannot tell. Never raises."""
    unknown = [Out() for _ in node.outputs]
    try:
        schema = defs().get_schema(node.op, opset.get(node.domain, opset.get("", 21)), node.domain)
    except Exception:
        return unknown
    onnx = package()  # its shape inference, helper and numpy_helper
    names: dict = {}
    types, data = {}, {}
    for v in node.inputs:
        if v is None:
            continue
        types[v.name] = _type_proto(v, names)
        arr = v.data
        if arr is not None and arr.dtype != object:
            try:
                data[v.name] = onnx.numpy_helper.from_array(arr, v.name)
            except Exception:
                pass
    opsets = [onnx.helper.make_opsetid(d, ver) for d, ver in opset.items()]
    try:
        result = onnx.shape_inference.infer_node_outputs(schema, _proto_of(node, onnx), types, data,
                                                         opset_imports=opsets, ir_version=ir_version or onnx.IR_VERSION)
    except Exception:
        return unknown
    outs = []
    for v in node.outputs:
        tp = result.get(v.name)
        if tp is None or not tp.HasField("tensor_type"):
            outs.append(Out())
            continue
        tt = tp.tensor_type
        shape = None
        if tt.HasField("shape"):
            shape = tuple(d.dim_value if d.HasField("dim_value") else names.get(d.dim_param) for d in tt.shape.dim)
        outs.append(Out(shape, dtype_name(tt.elem_type)))
    return outs
