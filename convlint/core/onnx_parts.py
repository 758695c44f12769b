"""The parts of the onnx package a lint needs, without the package's ``__init__``.

``import onnx`` costs about 0.5 s, nearly all of it ``onnx.helper`` loading ``ml_dtypes``, which a lint of an
ordinary model never uses. What it does use is the protobuf classes (``onnx.onnx_ml_pb2``) and the C++ operator
schemas (``onnx.onnx_cpp2py_export.defs``): these are loaded here from the installed package, under the names the
package gives them, so that a later ``import onnx`` (the text parser, a tensor of an exotic type, verification)
finds and reuses them, and ``onnx.ModelProto is proto().ModelProto``. When the package is laid out otherwise, or
is already imported, they come from the package itself.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import os
import sys

_PROTO = "onnx.onnx_ml_pb2"
_CPP = "onnx.onnx_cpp2py_export"


@functools.lru_cache(maxsize=None)
def proto():
    """The module of ONNX's protobuf classes: ``ModelProto``, ``TensorProto``, ``AttributeProto``..."""
    return _standalone(_PROTO, lambda root: os.path.join(root, "onnx_ml_pb2.py"), "onnx_ml_pb2")


@functools.lru_cache(maxsize=None)
def defs():
    """ONNX's operator schemas (``get_schema``, ``get_all_schemas_with_history``, ``OpSchema``), from onnx's C++
    extension, as ``onnx.defs`` exposes them."""
    cpp = _standalone(_CPP, _extension, "onnx_cpp2py_export")
    return cpp.defs


def package():
    """The whole onnx package (``helper``, ``numpy_helper``, ``parser``, ``shape_inference``), imported now."""
    import onnx

    return onnx


def _standalone(name: str, path_in, attribute: str):
    if "onnx" not in sys.modules and name not in sys.modules:
        try:
            spec = importlib.util.find_spec("onnx")
            path = path_in(os.path.dirname(spec.origin))
            if name == _CPP:
                loader = importlib.machinery.ExtensionFileLoader(name, path)
                module_spec = importlib.util.spec_from_loader(name, loader)
            else:
                module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            module_spec.loader.exec_module(module)
            return module
        except Exception:
            sys.modules.pop(name, None)
    if name in sys.modules:
        return sys.modules[name]
    return getattr(package(), attribute)


def _extension(root: str) -> str:
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    for suffix in suffixes:
        path = os.path.join(root, "onnx_cpp2py_export" + suffix)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError("onnx_cpp2py_export")
