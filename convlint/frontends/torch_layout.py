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
