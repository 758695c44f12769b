"""Small models written in ONNX's text format, as rule examples and test fixtures use them.

``onnx.parser`` reads ``<float[4, 3, 3, 3] w>`` without values as a declaration only; here such a declaration,
when nothing else defines ``w``, becomes an initializer of that shape filled with seeded random values, so an
example reads like the model it stands for: weights in initializers, inputs in the signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np


def model_from_text(text: str, seed: int = 0):
    """The model ``text`` states (an ``onnx.ModelProto``), its declared-only initializers filled."""
    import onnx  # here, not above: rules import this module for TorchExample, and a lint needs no onnx.parser

    model = onnx.parser.parse_model(text)
    g = model.graph
    defined = {v.name for v in g.input} | {t.name for t in g.initializer} | {o for n in g.node for o in n.output}
    rng = np.random.default_rng(seed)
    keep = []
    for vi in g.value_info:
        if vi.name in defined:
            keep.append(vi)
            continue
        tt = vi.type.tensor_type
        shape = [d.dim_value for d in tt.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)
        if np.issubdtype(dtype, np.floating):
            data = rng.standard_normal(shape).astype(dtype)
        else:
            data = np.zeros(shape, dtype=dtype)
        g.initializer.append(onnx.numpy_helper.from_array(data, vi.name))
    del g.value_info[:]
    g.value_info.extend(keep)
    return model


@dataclass(frozen=True)
class TorchExample:
    """A PyTorch rule example: ``build()`` returns an ``nn.Module`` (it imports torch itself, so that rules load
    without torch), linted with ``input_shape`` (``"N,1,H,W"``, a tuple of those for several inputs; None to check
    declared attributes only) and ``input_dtype``, and with the state dict ``weights()`` returns saved as a
    checkpoint (``--weights``). A ``build`` that PyTorch refuses to construct is an example too."""

    build: Callable
    input_shape: Optional[object] = None
    input_dtype: Optional[str] = None
    weights: Optional[Callable] = None  # returns a state dict, saved for ``--weights`` (see :func:`weights_file`)

    def __str__(self) -> str:
        return f"{getattr(self.build, '__name__', 'build')}({self.input_shape or ''})"


def weights_file(example, folder: str) -> Optional[str]:
    """The example's checkpoint saved as ``folder/<build>.safetensors`` (None when it has none)."""
    if example.weights is None:
        return None
    import os

    from safetensors.torch import save_file

    path = os.path.join(folder, f"{getattr(example.build, '__name__', 'model')}.safetensors")
    save_file({k: v.contiguous() for k, v in example.weights().items()}, path)
    return path
