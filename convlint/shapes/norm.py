"""Normalization layers keep their input's shape; BatchNormalization in training mode has extra outputs."""

from __future__ import annotations

from convlint.shapes.base import Out, axis, input_dtype, shape_fn


@shape_fn("BatchNormalization", "InstanceNormalization", "GroupNormalization")
def channel_norm(node, ctx):
    x = node.input_shape(0)
    dtype = input_dtype(node)
    c = x[1] if x is not None and len(x) > 1 else None
    return [Out(x, dtype)] + [Out((c,), dtype) for _ in node.outputs[1:]]


@shape_fn("LayerNormalization", "RMSNormalization", "SimplifiedLayerNormalization")
def layer_norm(node, ctx):
    x = node.input_shape(0)
    dtype = input_dtype(node)
    outs = [Out(x, dtype)]
    if len(node.outputs) > 1:
        stat = None
        if x is not None:
            a = axis(node.attrs.get("axis", -1), len(x))
            if a is not None:
                stat = x[:a] + (1,) * (len(x) - a)
        outs += [Out(stat, "float32") for _ in node.outputs[1:]]
    return outs
