"""Targets: what a user names on the command line or passes to the API, and the front end that reads it."""

from __future__ import annotations

import importlib.util
import os
import re

from .errors import InputError, UsageError

ONNX_SUFFIXES = (".onnx", ".onnxtxt", ".ort")
TORCH_SUFFIXES = (".pt2", ".pt", ".pth", ".ckpt", ".pkl")  # torch.export archives and pickled modules
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
FOLDER_SUFFIXES = (".onnx",)  # what `convlint FOLDER` picks up; PyTorch targets only when the configuration names them


def file_of(target: str) -> str:
    """The file a target names: ``models/net.py`` for the PyTorch target ``models/net.py:build``."""
    head, sep, tail = target.rpartition(":")
    if sep and head and all(part.isidentifier() for part in tail.split(".")) and not os.path.exists(target):
        return head
    return target


def display_path(path: str) -> str:
    """``path`` as a user would type it: relative to the working directory when inside it, else absolute."""
    full = os.path.abspath(path)
    rel = os.path.relpath(full)
    return full if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel


def model_files(folder: str) -> list:
    """Every ONNX model file below ``folder``, sorted; hidden folders and ``__pycache__`` are skipped."""
    found = []
    for here, subdirs, files in os.walk(folder):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith(".") and d != "__pycache__")
        found.extend(os.path.join(here, f) for f in sorted(files) if f.lower().endswith(FOLDER_SUFFIXES))
    return found


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


def display_name(target) -> str:
    """The name a Result gives its target: the path or spec as given, ``<Net>`` for a module object."""
    if isinstance(target, (str, os.PathLike)):
        return os.fspath(target)
    if is_torch_target(target):
        return f"<{getattr(target, '__qualname__', None) or type(target).__name__}>"
    name = getattr(target, "name", None)
    return name if isinstance(name, str) and name else "<model>"


def load_graph(target, input_shapes=(), input_dtypes=(), weights=None, trust_pickle=False):
    """The Graph for ``target``: an ONNX file path or ``onnx.ModelProto``, or a PyTorch target (see
    :mod:`convlint.frontends.torch_target`). ``input_dtypes``, ``weights`` and ``trust_pickle`` are for PyTorch."""
    from .frontends import onnx_model

    if isinstance(target, (str, os.PathLike)) and os.fspath(target).lower().endswith(".pt2"):
        from .frontends import torch_export  # read from the archive's JSON: needs neither torch nor unpickling

        if input_dtypes or weights:
            raise UsageError(f"{os.fspath(target)}: --input-dtype and --weights do not apply to a .pt2 file, which "
                             f"holds its input types and weights")
        return torch_export.load(os.fspath(target), input_shapes)
    if is_torch_target(target):
        if importlib.util.find_spec("torch") is None:
            raise InputError(f"{display_name(target)}: PyTorch targets need torch: pip install 'convlint[torch]'")
        from .frontends import torch_model

        return torch_model.load(target, input_shapes, input_dtypes, weights, trust_pickle)
    if input_dtypes or weights:
        raise UsageError(f"{display_name(target)}: --input-dtype and --weights apply to PyTorch targets; an ONNX model "
                         f"declares its input types and holds its weights")
    if hasattr(target, "graph") and hasattr(target, "opset_import"):
        return onnx_model.load_proto(target, "<model>", input_shapes)
    path = os.fspath(target)
    if path.lower().endswith(ONNX_SUFFIXES) or os.path.isfile(path) or not os.path.exists(path):
        return onnx_model.load(path, input_shapes)
    raise InputError(f"{path}: not a model file")
