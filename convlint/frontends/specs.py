"""Which front end a target is for, told from its name or type alone: no front end, torch or onnx is imported."""

from __future__ import annotations

import os
import re

ONNX_SUFFIXES = (".onnx", ".onnxtxt", ".ort")
TORCH_SUFFIXES = (".pt2", ".pt", ".pth", ".ckpt", ".pkl")  # torch.export archives and pickled modules
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def torch_spec(text: str):
    """``(file or module, name)`` for a PyTorch target ``path/to/file.py:name`` or ``package.module:name``, else None."""
    where, sep, attr = text.rpartition(":")
    if not sep or not where or not _DOTTED.match(attr) or os.path.exists(text):
        return None
    if where.endswith(".py") or _DOTTED.match(where):
        return where, attr
    return None


def is_torch_target(target) -> bool:
    """Whether the PyTorch front end reads ``target``: a ``file.py:name`` or ``package.module:name`` spec, a .pt2 or
    pickled-module file, an ``nn.Module``, or a function or class that builds one (checked without importing torch:
    an ONNX model is never callable)."""
    if isinstance(target, (str, os.PathLike)):
        text = os.fspath(target)
        return text.lower().endswith(TORCH_SUFFIXES) or torch_spec(text) is not None
    return callable(target)  # an nn.Module, or a function or class that builds one


def target_name(target) -> str:
    """The name a target goes by in messages: the path or spec as given, ``<Net>`` for a module object."""
    if isinstance(target, (str, os.PathLike)):
        return os.fspath(target)
    if is_torch_target(target):
        return f"<{getattr(target, '__qualname__', None) or type(target).__name__}>"
    name = getattr(target, "name", None)
    return name if isinstance(name, str) and name else "<model>"
