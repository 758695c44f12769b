"""Front ends: a target becomes a :class:`~convlint.core.ir.Graph`. Each front end is one module; this package
says which one reads a target (:mod:`~convlint.frontends.specs`) and calls it (:func:`load_graph`), importing none of them, nor torch or onnx, until a
target needs it.

=================  ===========================================================  ============================
front end          reads                                                        needs
=================  ===========================================================  ============================
``onnx_model``     an ``.onnx`` (or ``.onnxtxt``, ``.ort``) file, an            onnx
                   ``onnx.ModelProto``
``torch_export``   a ``torch.export`` archive (``.pt2``), from its JSON         neither torch nor unpickling
``torch_model``    an ``nn.Module``, a function or class that builds one,       torch
                   ``file.py:name``, ``package.module:name``, a pickled module
=================  ===========================================================  ============================

The contract every front end keeps:

- **Describe, never judge.** The graph holds what the model is: nodes in ONNX's op vocabulary, values with the
  shapes and element types the front end knows (symbols in the user's names), parameters with their declared and
  actual shapes, each node's :class:`~convlint.core.ir.Origin` (the ONNX node name, or the module path, class and
  source line). Faults are for the rules; a front end records what it saw and goes on, in the typed records of
  :mod:`convlint.core.ir` (:class:`~convlint.core.ir.NodeFacts`, :class:`~convlint.core.ir.Trace`), never under a
  string key.
- **Read headers, not weights.** Initializer and parameter shapes come from headers or the meta device; external
  data is never opened, a pickle never executed unless the user said to trust it.
- **Bad input ends in one line.** An unreadable, corrupt or hostile target raises
  :class:`~convlint.core.errors.InputError` (arguments that do not fit it: :class:`~convlint.core.errors.UsageError`)
  with a message for the user; nothing else escapes.
- ``input_shapes`` (parsed ``--input-shape`` specs) pin or rename input dims and never change a rank.
"""

from __future__ import annotations

import importlib.util
import os

from convlint.core.errors import InputError, UsageError
from convlint.frontends.specs import ONNX_SUFFIXES, is_torch_target, target_name


def load_graph(target, input_shapes=(), input_dtypes=(), weights=None, trust_pickle=False):
    """The Graph for ``target``, read by the front end the table above names. ``input_dtypes``, ``weights`` and
    ``trust_pickle`` are for PyTorch models built by convlint (see :mod:`convlint.frontends.torch_target`)."""
    if isinstance(target, (str, os.PathLike)) and os.fspath(target).lower().endswith(".pt2"):
        from convlint.frontends import torch_export

        if input_dtypes or weights:
            raise UsageError(f"{os.fspath(target)}: --input-dtype and --weights do not apply to a .pt2 file, which "
                             f"holds its input types and weights")
        return torch_export.load(os.fspath(target), input_shapes)
    if is_torch_target(target):
        if importlib.util.find_spec("torch") is None:
            raise InputError(f"{target_name(target)}: PyTorch targets need torch: pip install 'convlint[torch]'")
        from convlint.frontends import torch_model

        return torch_model.load(target, input_shapes, input_dtypes, weights, trust_pickle)
    if input_dtypes or weights:
        raise UsageError(f"{target_name(target)}: --input-dtype and --weights apply to PyTorch targets; an ONNX model "
                         f"declares its input types and holds its weights")
    from convlint.frontends import onnx_model

    if hasattr(target, "graph") and hasattr(target, "opset_import"):
        return onnx_model.load_proto(target, "<model>", input_shapes)
    path = os.fspath(target)
    if path.lower().endswith(ONNX_SUFFIXES) or os.path.isfile(path) or not os.path.exists(path):
        return onnx_model.load(path, input_shapes)
    raise InputError(f"{path}: not a model file")
