"""Where a traced call comes from, and what an exception from it means: the user's file and line (never torch's,
convlint's or the standard library's), the user's line behind a comparison of sizes torch made, and whether an
exception is PyTorch refusing the model or a limit of a shape-only trace."""

from __future__ import annotations

import ast
import linecache
import os
import sys

import torch

from convlint.core.words import display_path

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
CONVLINT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_STDLIB_DIR = os.path.dirname(os.__file__) + os.sep

# Exceptions that mean "a shape-only trace cannot follow this", not "PyTorch refuses this model".
_LIMITS = ("DataDependentOutputException", "DynamicOutputShapeException", "UnsupportedOperatorException",
           "UnsupportedFakeTensorException", "GuardOnDataDependentSymNode", "UnsupportedMutationAliasingException")
_LIMIT_MARKERS = ("data-dependent", "data dependent", "symbolic sizes", "data pointer", "meta tensor", "FakeTensor",
                  "fake tensor", "Cannot copy out of meta", "unbacked", "expected to contain only concrete integers")


def guard_site():
    """(file, first line of the function, line) of the user's code that made torch compare sizes."""
    f = innermost_user_frame(sys._getframe(2))
    return None if f is None else (display_path(f.f_code.co_filename), f.f_code.co_firstlineno, f.f_lineno)


def decides(guard, where: dict, code: str) -> bool:
    """Whether ``guard`` is the comparison behind a raise at ``where``: made on the raising line itself (``assert
    H == 224``, ``torch._assert(...)``), or a few lines above it in the same function for a ``raise`` statement
    (``if W % 16:`` / ``raise ...``)."""
    site = getattr(guard.sloc, "maybe_user_loc", None)
    if type(site) is not tuple or site[0] != where.get("file") or where.get("line") is None:
        return False
    line = where["line"]
    if site[2] == line:
        return True
    return (code or "").startswith("raise") and line - 5 <= site[2] < line and site[1] <= site[2]


def is_limitation(e: BaseException) -> bool:
    if type(e).__name__ in _LIMITS:
        return True
    if isinstance(e, NotImplementedError):  # torch.nn's own Python code raises it to refuse a call, too
        return not raised_by_torch_nn(e)
    text = str(e)
    return any(m in text for m in _LIMIT_MARKERS)


_TORCH_NN = os.path.join(_TORCH_DIR, "nn") + os.sep


def raised_by_torch_nn(e: BaseException) -> bool:
    """Whether ``e`` was raised by a ``raise`` statement of torch.nn's Python code (``F.interpolate`` refusing a 2-D
    input, an LSTM's ``check_hidden_size``), not by a kernel that Python code called."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None or not tb.tb_frame.f_code.co_filename.startswith(_TORCH_NN):
        return False
    return linecache.getline(tb.tb_frame.f_code.co_filename, tb.tb_lineno).strip().startswith("raise")


def is_user_file(filename: str) -> bool:
    if filename.startswith("<") or filename.startswith(_TORCH_DIR) or filename.startswith(CONVLINT_DIR):
        return False
    if filename.startswith(_STDLIB_DIR) and "site-packages" not in filename[len(_STDLIB_DIR):]:
        return False
    return True


def user_frame(frame=None, stop=None):
    """(file, line) of the innermost frame in the user's code (not torch, convlint or the standard library), looking
    no further out than the frame ``stop``."""
    f = innermost_user_frame(frame or sys._getframe(1), stop)
    return (display_path(f.f_code.co_filename), f.f_lineno) if f is not None else (None, None)


def innermost_user_frame(f, stop=None):
    while f is not None and f is not stop:
        if is_user_file(f.f_code.co_filename):
            return f
        f = f.f_back
    return None


def code_at(filename: str, line: int) -> str:
    """The source line, stripped, for messages (empty when not available)."""
    return linecache.getline(filename, line).strip() if filename and line else ""


def guard_clause(filename: str, line: int) -> bool:
    """Whether the ``if`` statement at ``line`` is a guard clause, whose body is one ``raise`` (``if W % 16:`` /
    ``raise ValueError(...)``): a trace that went on past it took the way that does not raise, so the comparison it
    made is a check of the model's, as an ``assert`` is."""
    lines = linecache.getlines(filename)
    if not 0 < line <= len(lines) or not lines[line - 1].lstrip().startswith("if"):
        return False
    rest = [text.strip() for text in lines[line:line + 8] if text.strip() and not text.strip().startswith("#")]
    if "raise" not in lines[line - 1] and not (rest and rest[0].startswith("raise")):
        return False
    try:
        tree = ast.parse("".join(lines))
    except (SyntaxError, ValueError):
        return False
    return any(isinstance(node, ast.If) and node.lineno == line and len(node.body) == 1
               and isinstance(node.body[0], ast.Raise) for node in ast.walk(tree))
