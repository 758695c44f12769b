"""Convolutions and pooling: channels follow the weight, spatial sizes follow the window arithmetic.

Output size per spatial axis, as the ONNX spec and DESIGN.md state it:
``floor((D + pad_begin + pad_end - dilation * (k - 1) - 1) / stride) + 1`` (``ceil`` with ``ceil_mode``);
``auto_pad`` SAME_* gives ``ceil(D / stride)``, VALID ``ceil((D - dilation * (k - 1)) / stride)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from convlint.core import dims
from convlint.shapes.base import Out, shape_fn


@dataclass
class Window:
    """The sliding-window attributes of a Conv, ConvTranspose or pooling node, one entry per spatial axis."""

    kernel: list  # effective kernel size per axis, from the attribute or the weight
    strides: list
    dilations: list
    pads_begin: list
    pads_end: list
    auto_pad: str
    ceil_mode: bool = False

    def span(self, i: int) -> int:
        """How many input positions the dilated kernel covers on axis ``i``."""
        return self.dilations[i] * (self.kernel[i] - 1) + 1


def window(node, spatial_rank: int, kernel: Optional[list]) -> Optional[Window]:
    """The node's window attributes with ONNX defaults; None if they are malformed (wrong lengths, zero strides)."""
    a = node.attrs
    if kernel is None or len(kernel) != spatial_rank:
        return None
    strides = list(a.get("strides") or [1] * spatial_rank)
    dilations = list(a.get("dilations") or [1] * spatial_rank)
    pads = list(a.get("pads") or [0] * (2 * spatial_rank))
    if len(strides) != spatial_rank or len(dilations) != spatial_rank or len(pads) != 2 * spatial_rank:
        return None
    if any(s < 1 for s in strides) or any(d < 1 for d in dilations) or any(k < 1 for k in kernel):
        return None
    auto_pad = a.get("auto_pad", "NOTSET") or "NOTSET"
    if auto_pad == "VALID":
        pads = [0] * (2 * spatial_rank)
    return Window(list(kernel), strides, dilations, pads[:spatial_rank], pads[spatial_rank:], auto_pad,
                  bool(a.get("ceil_mode", 0)))


def fitted(d):
    """An output size for the next layer: sizes below 1 (a window that does not fit, reported by a rule) become unknown."""
    return None if type(d) is int and d < 1 else d


def output_size(d, w: Window, i: int):
    """The output size on spatial axis ``i`` for input size ``d`` (a dim); may be < 1 when the window does not fit."""
    s = w.strides[i]
    if w.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        return dims.ceildiv(d, s)
    if w.auto_pad == "VALID":
        return dims.ceildiv(dims.sub(d, w.span(i) - 1), s)
    padded = dims.add(d, w.pads_begin[i] + w.pads_end[i] - w.span(i))
    if w.ceil_mode:
        out = dims.add(dims.ceildiv(padded, s), 1)
        # The last window must start inside the input or its leading padding (as onnxruntime and PyTorch do).
        if type(out) is int and type(d) is int and (out - 1) * s >= d + w.pads_begin[i]:
            out -= 1
        return out
    return dims.add(dims.floordiv(padded, s), 1)


def padded_size(d, w: Window, i: int):
    """The input size on axis ``i`` with explicit padding added (the input itself under auto_pad)."""
    if w.auto_pad == "NOTSET":
        return dims.add(d, w.pads_begin[i] + w.pads_end[i])
    return d


def kernel_of(node, weight_shape, first_spatial: int = 2) -> Optional[list]:
    """The kernel size: the ``kernel_shape`` attribute if present, else the weight's trailing dims if they are ints."""
    k = node.attrs.get("kernel_shape")
    if k:
        return list(k)
    if weight_shape is not None and len(weight_shape) > first_spatial and dims.is_static_shape(weight_shape):
        return list(weight_shape[first_spatial:])
    return None


def _spatial_rank(x, w):
    if x is not None and len(x) >= 2:
        return len(x) - 2
    if w is not None and len(w) >= 2:
        return len(w) - 2
    return None


@shape_fn("Conv", "ConvInteger", "QLinearConv")
def conv(node, ctx):
    qlinear = node.op == "QLinearConv"
    x = node.input_shape(0)
    w = node.input_shape(3 if qlinear else 1)
    dtype = node.input(0).dtype if node.input(0) is not None else None
    if node.op == "ConvInteger":
        dtype = "int32"
    rank = _spatial_rank(x, w)
    if rank is None:
        return [Out(None, dtype)]
    n = x[0] if x is not None else None
    m = w[0] if w is not None and len(w) >= 1 else None
    win = window(node, rank, kernel_of(node, w))
    if x is None or len(x) != rank + 2 or win is None:
        return [Out((n, m) + (None,) * rank, dtype)]
    spatial = tuple(fitted(output_size(x[2 + i], win, i)) for i in range(rank))
    return [Out((n, m) + spatial, dtype)]


@shape_fn("ConvTranspose")
def conv_transpose(node, ctx):
    x, w = node.input_shape(0), node.input_shape(1)
    dtype = node.input(0).dtype if node.input(0) is not None else None
    rank = _spatial_rank(x, w)
    if rank is None:
        return [Out(None, dtype)]
    group = node.attrs.get("group", 1)
    n = x[0] if x is not None else None
    m = dims.mul(w[1], group) if w is not None and len(w) >= 2 else None
    out_shape = node.attrs.get("output_shape")
    if out_shape and len(out_shape) >= rank:
        return [Out((n, m) + tuple(out_shape[-rank:]), dtype)]
    win = window(node, rank, kernel_of(node, w))
    if x is None or len(x) != rank + 2 or win is None:
        return [Out((n, m) + (None,) * rank, dtype)]
    out_pad = list(node.attrs.get("output_padding") or [0] * rank)
    if len(out_pad) != rank:
        return [Out((n, m) + (None,) * rank, dtype)]
    spatial = []
    for i in range(rank):
        d, s = x[2 + i], win.strides[i]
        if win.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            spatial.append(dims.mul(d, s))
        else:
            grown = dims.add(dims.mul(dims.sub(d, 1), s), out_pad[i] + win.span(i) - win.pads_begin[i] - win.pads_end[i])
            spatial.append(fitted(grown))
    return [Out((n, m) + tuple(spatial), dtype)]


@shape_fn("MaxPool", "AveragePool", "LpPool")
def pool(node, ctx):
    x = node.input_shape(0)
    dtype = node.input(0).dtype if node.input(0) is not None else None
    outs = len(node.outputs)
    if x is None or len(x) < 3:
        return [Out(None, dtype)] + [Out(None, "int64")] * (outs - 1)
    rank = len(x) - 2
    win = window(node, rank, node.attrs.get("kernel_shape"))
    if win is None:
        shape = (x[0], x[1]) + (None,) * rank
    else:
        shape = (x[0], x[1]) + tuple(fitted(output_size(x[2 + i], win, i)) for i in range(rank))
    return [Out(shape, dtype)] + [Out(shape, "int64")] * (outs - 1)


@shape_fn("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")
def global_pool(node, ctx):
    x = node.input_shape(0)
    dtype = node.input(0).dtype if node.input(0) is not None else None
    if x is None or len(x) < 2:
        return [Out(None, dtype)]
    return [Out((x[0], x[1]) + (1,) * (len(x) - 2), dtype)]
