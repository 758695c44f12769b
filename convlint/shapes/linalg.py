"""Matrix products. The inner dimensions are a rule's business; the output follows the weight."""

from __future__ import annotations

from convlint.shapes.base import Out, broadcast, input_dtype, shape_fn


@shape_fn("MatMul", "MatMulInteger", "QLinearMatMul")
def matmul(node, ctx):
    qlinear = node.op == "QLinearMatMul"
    a = node.input_shape(0)
    b = node.input_shape(3 if qlinear else 1)
    dtype = "int32" if node.op == "MatMulInteger" else input_dtype(node)
    if a is None or b is None or not a or not b:
        return [Out(None, dtype)]
    a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    batch = broadcast(a2[:-2], b2[:-2])
    shape = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        shape = shape[:-2] + shape[-1:]
    if len(b) == 1:
        shape = shape[:-1]
    return [Out(shape, dtype)]


@shape_fn("Gemm")
def gemm(node, ctx):
    a, b = node.input_shape(0), node.input_shape(1)
    dtype = input_dtype(node)
    m = n = None
    if a is not None and len(a) == 2:
        m = a[1] if node.attrs.get("transA", 0) else a[0]
    if b is not None and len(b) == 2:
        n = b[0] if node.attrs.get("transB", 0) else b[1]
    return [Out((m, n), dtype)]
