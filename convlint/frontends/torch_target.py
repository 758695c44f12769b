"""PyTorch targets: what a user names, turned into an ``nn.Module`` (or a refusal in one line).

- ``path/to/file.py:name`` and ``package.module:name``: ``name`` is an ``nn.Module`` instance, an ``nn.Module``
  subclass with a no-argument constructor, or a callable returning a module (dotted names reach attributes).
- a pickled module (``torch.save(model)``): unpickling runs code from the file, so it is loaded only when the user
  says they trust it (``--trust-pickle``). A state dict is never a model: it goes with ``--weights``.
- ``--weights FILE``: a state dict read with ``weights_only=True`` (memory-mapped, or onto the meta device for a
  meta model, so no weight is read), assigned tensor by tensor so that mismatched shapes come through and get
  reported rather than raised.

While the target is built, each module's construction site is noted (for findings on layers inside an
``nn.Sequential``); a layer PyTorch refuses to construct (``Conv2d(1, 4, 3, groups=2)``) becomes a
:class:`ConstructionFailure` that the front end turns into a finding, not a traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import re
import sys
import weakref
from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import nn

from convlint.core.errors import InputError, UsageError
from convlint.core.words import display_path, first_line
from convlint.frontends.specs import torch_spec
from convlint.frontends import torch_modules
from convlint.frontends.torch_paths import path_from_traceback
from convlint.frontends.torch_sources import is_user_file, user_frame

PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl")


@dataclass
class LoadedModel:
    """A module ready to lint, with what is known of where it came from."""

    module: nn.Module
    name: str  # the target as the user wrote it
    file: Optional[str] = None  # the Python file that defines it, as displayed
    sites: "weakref.WeakKeyDictionary" = field(default_factory=weakref.WeakKeyDictionary)
    owned: bool = True  # built by convlint (so --weights may be applied to it)
    notes: list = field(default_factory=list)
    line: Optional[int] = None  # where the model itself was made, when no construction site is known
    checkpoint: Optional[object] = None  # the --weights checkpoint against the model (CheckpointFacts)
    reshaped: dict = field(default_factory=dict)  # id(tensor of the model) -> the checkpoint's shape, put in place

@dataclass
class ConstructionFailure:
    """PyTorch refused to construct a layer of the model: which one, declared how, where, and why."""

    name: str
    module_class: str
    kind: Optional[object]  # the ModuleKind, when convlint knows the layer's family
    declared: dict
    file: Optional[str]
    line: Optional[int]
    error: str
    module_path: Optional[str] = None  # the path the layer would have had, when the constructors on the way say it
    module_type: Optional[type] = None  # the class, so that verification can construct it again in PyTorch


def load(target, trust_pickle: bool = False):
    """A :class:`LoadedModel` (or :class:`ConstructionFailure`) for ``target``; an unusable one raises InputError."""
    if isinstance(target, nn.Module):
        file, line = _source_file(type(target)), None
        if file is None or not is_user_file(os.path.abspath(file)):  # a bare library layer: where lint was called
            file, line = user_frame(sys._getframe(1))
        return LoadedModel(target, f"<{type(target).__name__}>", file, owned=False, line=line)
    if callable(target) and not isinstance(target, (str, os.PathLike)):
        name = getattr(target, "__qualname__", None) or type(target).__name__
        sites = weakref.WeakKeyDictionary()
        with _construction_sites(sites):
            built = _build(f"<{name}>", target, name)
        if isinstance(built, ConstructionFailure):
            return built
        return LoadedModel(built, f"<{name}>", _source_file(target) or _source_file(type(built)), sites)
    text = os.fspath(target)
    if text.lower().endswith(".pt2"):
        raise InputError(f"{text}: .pt2 files are read by the export front end")
    spec = torch_spec(text)
    if spec is not None:
        return _load_spec(text, *spec)
    if text.lower().endswith(PICKLE_SUFFIXES):
        return _load_pickle(text, trust_pickle)
    raise InputError(f"{text}: not a PyTorch target (expected file.py:name, package.module:name, .pt2 or .pt)")


def _source_file(cls) -> Optional[str]:
    try:
        import inspect

        return display_path(inspect.getsourcefile(cls))
    except (TypeError, OSError):
        return None


# -- file.py:name and package.module:name ---------------------------------------------------------------------------

def _load_spec(text: str, where: str, attr: str):
    sites = weakref.WeakKeyDictionary()
    with _construction_sites(sites):
        if where.endswith(".py"):
            module, file = _import_file(text, where), display_path(where)
        else:
            module, file = _import_module(text, where), None
        obj = _attribute(text, module, attr)
        built = _build(text, obj, attr)
    if isinstance(built, ConstructionFailure):
        return built
    file = file or _source_file(type(built)) or getattr(module, "__file__", None)
    return LoadedModel(built, text, file, sites)


def _import_file(text: str, path: str):
    if not os.path.exists(path):
        raise InputError(f"{text}: no such file {path!r}")
    if os.path.isdir(path):
        raise InputError(f"{text}: {path!r} is a directory, not a Python file")
    folder = os.path.dirname(os.path.abspath(path))
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    name = f"_convlint_target_{stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        sys.modules.pop(name, None)
        raise InputError(f"{text}: syntax error in {display_path(e.filename or path)} line {e.lineno}: {e.msg}") \
            from None
    except Exception as e:
        sys.modules.pop(name, None)
        if isinstance(e, ImportError) and "relative import" in str(e):
            raise InputError(f"{text}: {path} uses relative imports, so it is part of a package: name it as "
                             f"package.module:{text.rpartition(':')[2]}") from None
        raise InputError(f"{text}: importing {path} raised {_raised(e)}") from None
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
    return module


def _import_module(text: str, dotted: str):
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as e:
        if e.name and dotted.startswith(e.name):
            raise InputError(f"{text}: no module named {e.name!r} (looked in the working directory and sys.path)") \
                from None
        raise InputError(f"{text}: importing {dotted} raised {_raised(e)}") from None
    except SyntaxError as e:
        raise InputError(f"{text}: syntax error in {display_path(e.filename or dotted)} line {e.lineno}: {e.msg}") \
            from None
    except Exception as e:
        raise InputError(f"{text}: importing {dotted} raised {_raised(e)}") from None
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(cwd)


def _attribute(text: str, module, attr: str):
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            where = getattr(obj, "__name__", type(obj).__name__)
            if obj is module:
                where = text.rpartition(":")[0]
            raise InputError(f"{text}: {where} has no attribute {part!r}")
        obj = getattr(obj, part)
    return obj


def _build(text: str, obj, attr: str):
    if isinstance(obj, nn.Module):
        return obj
    if not callable(obj):
        raise InputError(f"{text}: {attr} is a {type(obj).__name__}, not an nn.Module or a function returning one")
    what = "constructing" if isinstance(obj, type) else "calling"
    if isinstance(obj, type) and not issubclass(obj, nn.Module):
        raise InputError(f"{text}: {attr} is a class but not an nn.Module subclass")
    try:
        built = obj()
    except TypeError as e:
        if _called_with_wrong_arguments(e):
            raise InputError(f"{text}: {attr}() needs arguments ({first_line(e)}); name a function that builds the "
                             f"model without any") from None
        return _construction_failure(text, e, what, attr)
    except Exception as e:
        return _construction_failure(text, e, what, attr)
    if not isinstance(built, nn.Module):
        raise InputError(f"{text}: {attr}() returned a {type(built).__name__}, not an nn.Module")
    return built


def _called_with_wrong_arguments(e: TypeError) -> bool:
    tb = e.__traceback__
    return tb is not None and tb.tb_next is None and "argument" in str(e)


def _raised(e: BaseException) -> str:
    file, line = None, None
    tb = e.__traceback__
    while tb is not None:
        if is_user_file(tb.tb_frame.f_code.co_filename):
            file, line = display_path(tb.tb_frame.f_code.co_filename), tb.tb_lineno
        tb = tb.tb_next
    at = f" at {file}:{line}" if file else ""
    return f"{type(e).__name__}: {first_line(e)}{at}"


def _construction_failure(text: str, e: BaseException, what: str, attr: str):
    """A layer PyTorch refused to build becomes a ConstructionFailure; any other error in the factory ends the run."""
    layer = None
    tb = e.__traceback__
    user = (None, None)
    while tb is not None:
        f = tb.tb_frame
        if is_user_file(f.f_code.co_filename):
            user = (display_path(f.f_code.co_filename), tb.tb_lineno)
        if f.f_code.co_name == "__init__" and isinstance(f.f_locals.get("self"), nn.Module):
            layer = f  # the innermost constructor: the one that refused, with its arguments normalized
        tb = tb.tb_next
    if layer is None or is_user_file(layer.f_code.co_filename) or \
            not isinstance(e, (ValueError, RuntimeError, AssertionError)):
        raise InputError(f"{text}: {what} {attr} raised {_raised(e)}") from None
    module = layer.f_locals["self"]
    found = torch_modules.declared_kind(module)
    kind = found[0] if found else None
    declared = {}
    if kind is not None:
        for key in kind.declared:
            if key in layer.f_locals:
                v = layer.f_locals[key]
                declared[key] = tuple(v) if isinstance(v, list) else v
    return ConstructionFailure(text, type(module).__name__, kind, declared, user[0], user[1],
                               f"{type(e).__name__}: {first_line(e)}",
                               path_from_traceback(e.__traceback__, is_user_file), type(module))


@contextlib.contextmanager
def _construction_sites(sites):
    """Note where each module is constructed while the target is built (the first user frame of its __init__)."""
    original = nn.Module.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if self not in sites:
            file, line = user_frame(sys._getframe(1))
            if file is not None:
                sites[self] = (file, line)

    nn.Module.__init__ = init
    try:
        yield
    finally:
        nn.Module.__init__ = original


# -- pickles and weights ----------------------------------------------------------------------------------------

def _load_pickle(path: str, trust: bool):
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a model file")
    state = _try_weights_only(path)
    if state is not None:
        raise InputError(f"{path}: is a state dict (weights only), not a model; lint the code that builds the model "
                         f"and apply it: convlint net.py:build --weights {path}")
    if not trust:
        raise InputError(f"{path}: is a pickled PyTorch module; unpickling runs code from the file, so convlint "
                         f"loads it only with --trust-pickle (use it only for files you trust), or lint the code "
                         f"that builds the model: convlint net.py:build")
    sites = weakref.WeakKeyDictionary()
    try:
        with _construction_sites(sites):
            obj = torch.load(path, weights_only=False, map_location="cpu")
    except Exception as e:
        raise InputError(f"{path}: cannot unpickle it: {type(e).__name__}: {first_line(e)}") from None
    if not isinstance(obj, nn.Module):
        raise InputError(f"{path}: holds a {type(obj).__name__}, not an nn.Module")
    return LoadedModel(obj, path, _source_file(type(obj)) or path, sites)


def _try_weights_only(path: str, map_location="meta"):
    """The file's contents if it loads safely (``weights_only=True``, tensors on the meta device: no data read);
    None if it needs unpickling of code."""
    for mmap in (True, False):
        try:
            return torch.load(path, weights_only=True, map_location=map_location, mmap=mmap)
        except Exception as e:
            if "Unsupported global" in str(e):
                return None  # a pickle of classes and code, not of tensors alone
            if mmap:
                continue  # an older (non-zip) file: mmap cannot read it, a plain load may
            m = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", str(e))
            raise InputError(f"{path}: not a PyTorch file torch.load can read ({m.group(1) if m else first_line(e)})") \
                from None
    return None
