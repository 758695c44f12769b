"""Targets: what a user names on the command line or passes to the API, and the front end that reads it."""

from __future__ import annotations

import os

from .errors import InputError

ONNX_SUFFIXES = (".onnx", ".onnxtxt", ".ort")


def load_graph(target, input_shapes=()):
    """The Graph for ``target``: an ONNX file path or an ``onnx.ModelProto``."""
    from .frontends import onnx_model

    if hasattr(target, "graph") and hasattr(target, "opset_import"):
        return onnx_model.load_proto(target, "<model>", input_shapes)
    path = os.fspath(target)
    if path.lower().endswith(ONNX_SUFFIXES) or os.path.isfile(path) or not os.path.exists(path):
        if not os.path.exists(path) and ":" in path and not path.lower().endswith(ONNX_SUFFIXES):
            raise InputError(f"{path}: PyTorch targets (file.py:name) need convlint's torch front end, "
                             f"which this version does not have yet")
        return onnx_model.load(path, input_shapes)
    raise InputError(f"{path}: not a model file")
