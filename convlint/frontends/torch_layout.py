"""PyTorch's size arguments in ONNX terms, without importing torch: shared by the live trace (modules and
functionals) and the ``.pt2`` reader, so that both describe a layer the same way."""

from __future__ import annotations


def ntuple(v, n) -> list:
    """A PyTorch size argument (an int or a sequence) as a list of ``n`` values."""
    return list(v) if isinstance(v, (tuple, list)) else [v] * n


def conv_pads(padding, kernel, dilation) -> list:
    """ONNX ``pads`` for a PyTorch convolution's ``padding``: ints, ``"valid"``, or ``"same"``, which PyTorch pads
    by ``dilation * (k - 1)`` in all, the odd one at the end (as ``torch.onnx.export`` writes it; ``auto_pad``
    SAME_UPPER means something else for a dilated kernel, and onnxruntime does not run it)."""
    n = len(kernel)
    if padding == "same":
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return [t // 2 for t in total] + [t - t // 2 for t in total]
    if isinstance(padding, str):
        return [0] * (2 * n)
    return ntuple(padding, n) * 2


def conv_attrs(groups, stride, padding, dilation, kernel, output_padding=None) -> dict:
    """ONNX ``Conv``/``ConvTranspose`` attributes for PyTorch's convolution arguments (``output_padding`` for a
    transposed one); ``kernel``: the weight's spatial sizes."""
    n = len(kernel)
    dilations = ntuple(dilation, n)
    a = {"group": int(groups or 1), "strides": ntuple(stride, n), "dilations": dilations,
         "pads": conv_pads(padding, kernel, dilations)}
    if output_padding is not None:
        a["output_padding"] = ntuple(output_padding, n)
    return a


def pool_attrs(n: int, kernel, stride, padding, ceil_mode, dilation=None) -> dict:
    """ONNX ``MaxPool``/``AveragePool`` attributes for PyTorch's pooling arguments (a ``stride`` of None or empty is
    the kernel); ``dilation`` for max pooling only."""
    k = ntuple(kernel, n)
    a = {"kernel_shape": k, "strides": ntuple(stride or kernel, n), "pads": ntuple(padding, n) * 2,
         "ceil_mode": int(bool(ceil_mode))}
    if dilation is not None:
        a["dilations"] = ntuple(dilation, n)
    return a
