"""The module path a layer would have had, read from the constructors that were building it when PyTorch refused
it: each user ``__init__`` on the way assigns ``self.block = nn.Sequential(nn.Conv2d(...), nn.GroupNorm(32, 48))``,
and the position of the refused call in that statement gives ``block.1``."""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Optional

_CONTAINERS = ("Sequential", "ModuleList")


def path_from_traceback(tb, is_user_file) -> Optional[str]:
    """``encoder.block.1`` for a refusal inside ``self.encoder = Encoder()`` then ``self.block = nn.Sequential(...,
    nn.GroupNorm(...))``; None when a constructor on the way does not assign the module to an attribute of its own
    (a factory that builds the layer in a local, say), so that nothing is guessed."""
    parts = []
    while tb is not None:
        f = tb.tb_frame
        if f.f_code.co_name == "__init__" and is_user_file(f.f_code.co_filename) and _is_module(f.f_locals.get("self")):
            part = _assigned_part(f.f_code, tb.tb_lasti)
            if part is None:
                return None
            parts.append(part)
        tb = tb.tb_next
    return ".".join(parts) or None


def _is_module(obj) -> bool:
    from torch import nn

    return isinstance(obj, nn.Module)


def _assigned_part(code, lasti: int) -> Optional[str]:
    """The attribute (and container index) that the statement running at ``lasti`` in ``code`` assigns the call
    there to."""
    try:
        line, _, col, end_col = list(code.co_positions())[lasti // 2]
        lines, first = inspect.getsourcelines(code)
    except (OSError, TypeError, IndexError, ValueError):
        return None
    source = "".join(lines)
    dedented = textwrap.dedent(source)
    shift = len(lines[0]) - len(lines[0].lstrip()) - (len(dedented.splitlines()[0]) -
                                                        len(dedented.splitlines()[0].lstrip()))
    try:
        tree = ast.parse(dedented)
    except SyntaxError:
        return None
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    target_line = line - first + 1
    call = next((n for n in ast.walk(tree) if isinstance(n, ast.Call) and n.lineno == target_line
                 and n.col_offset + shift == col and n.end_col_offset + shift == end_col), None)
    if call is None:
        return None
    index, node = None, call
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.Call) and node in parent.args and _name(parent.func) in _CONTAINERS:
            index = parent.args.index(node)
        elif isinstance(parent, (ast.List, ast.Tuple)) and isinstance(parents.get(parent), ast.Call) \
                and _name(parents[parent].func) in _CONTAINERS:
            index = parent.elts.index(node)
        if isinstance(parent, (ast.Assign, ast.AnnAssign)):
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            t = targets[0]
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                return t.attr if index is None else f"{t.attr}.{index}"
            return None
        node = parent
    return None


def _name(func) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
