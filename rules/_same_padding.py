"""SAME padding written out: the ``pads`` that ``auto_pad`` SAME_UPPER or SAME_LOWER stand for, as the ONNX
specification defines them. onnxruntime gets dilated SAME padding wrong (CL108, CL109) and refuses MaxPool's negative
undilated one (CL109), but runs explicit ``pads``."""

from __future__ import annotations

from typing import Optional

from convlint.core import dims

SAME = ("SAME_UPPER", "SAME_LOWER")


def same_pads(x, win) -> Optional[list]:
    """``[begin..., end...]`` for input shape ``x`` and window ``win`` (a :class:`convlint.shapes.conv.Window`): per
    axis the total is ``max(0, (ceil(D / stride) - 1) * stride + span - D)``, split in half with the odd one at the end
    (SAME_UPPER) or at the beginning (SAME_LOWER). None when a total depends on a size that is not an int."""
    rank = len(win.kernel)
    begin, end = [], []
    for i in range(rank):
        s, span = win.strides[i], win.span(i)
        if s == 1:
            total = span - 1
        else:
            d = x[2 + i] if x is not None and len(x) == rank + 2 else None
            if type(d) is not int:
                return None
            total = max(0, (dims.ceildiv(d, s) - 1) * s + span - d)
        small, large = total // 2, total - total // 2
        begin.append(small if win.auto_pad == "SAME_UPPER" else large)
        end.append(large if win.auto_pad == "SAME_UPPER" else small)
    return begin + end


def pads_hint(auto_pad: str, pads: Optional[list]) -> str:
    """The fix: write the padding out, with the pads when they are known."""
    if pads:
        return f'set auto_pad to "NOTSET" and pads to {pads}, the padding {auto_pad} stands for here'
    return (f'set auto_pad to "NOTSET" and write the padding {auto_pad} stands for in pads (it depends on the input '
            f'size when the stride is above 1)')
