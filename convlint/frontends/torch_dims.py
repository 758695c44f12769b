"""Dims between torch's symbolic shapes and convlint's, so every message keeps the user's names.

Each symbol the user names in ``--input-shape`` (``N``, ``H``, ``W``) becomes one backed symbol of a torch
``ShapeEnv``; torch calls it ``s0``, ``s17``..., and :class:`SymbolTable` maps it back. A torch size converts to a
convlint dim (:mod:`convlint.core.dims`) by substituting the user's symbols and rewriting torch's ``FloorDiv``,
``CeilDiv``, ``Mod``... as sympy; a size built on a symbol the user did not name (one convlint made up for an unknown
size, or one torch made for a data-dependent size) converts to ``None``: unknown, never ``s77``.

The other way, :meth:`SymbolTable.symint` builds a torch ``SymInt`` from a convlint dim with SymInt arithmetic, so a
shape computed by convlint's own shape functions can flow on through the forward pass.

Hints: torch decides control flow (``if x.size(2) > 8``) with an example value per symbol. The i-th named symbol gets
``HINT_BASE + HINT_STEP * i`` (128, 192, 256, ...): distinct, so no two dims are silently unified, and multiples of
64, so a skip connection after six halvings still lines up. An unknown size gets an odd, unlikely hint (1009, 1011,
...), so an op that needs a particular size refuses it rather than quietly assume it. Where the model's own code
requires a size (``assert H == 224``), the trace is done again with example values that meet the requirement
(:func:`convlint.frontends.torch_model.describe`).
"""

from __future__ import annotations

import dataclasses
import functools
import re

import sympy
import torch
from torch._guards import GuardSource, Source
from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv

from convlint.core import dims

HINT_BASE, HINT_STEP = 128, 64
UNKNOWN_HINT = 1009

_TORCH_SYMBOL = re.compile(r"\b[su]\d+\b")


@dataclasses.dataclass(frozen=True)
class DimSource(Source):
    """Where a symbol comes from, for torch's bookkeeping: the user's name for it."""

    label: str = ""

    @property
    def _name_template(self) -> str:
        return self.label

    @functools.cached_property
    def guard_source(self):
        return GuardSource.LOCAL


def _quiet_shape_env():
    """torch's ShapeEnv without the source location it looks up for every symbol it creates: finding the user's
    frame imports torch.export, inductor and networkx the first time (0.1 s, as long as a meta forward pass of a
    7B decoder), and convlint says where things happen with its own origins. A guard (torch deciding a comparison
    of sizes) gets the site ``guard_site()`` gives, so that a raise can be traced to the comparison that led to it. That lookup is a private method of
    torch's; where a torch version has it otherwise, its ShapeEnv is used as it is."""
    try:
        from torch._guards import SLoc
    except ImportError:
        return ShapeEnv
    if not callable(getattr(ShapeEnv, "_get_stack_summary", None)):
        return ShapeEnv

    class QuietShapeEnv(ShapeEnv):
        guard_site = None  # () -> where the user's code compares sizes, for each guard torch records

        def _get_stack_summary(self, is_debug: bool = False, framework_loc=None):
            return SLoc(framework_loc, None), ""

        def _get_sloc(self, framework_loc=None):
            return SLoc(framework_loc, self.guard_site() if self.guard_site is not None else None)

    return QuietShapeEnv


_ShapeEnv = _quiet_shape_env()


def default_hint(i: int) -> int:
    """The example value of the ``i``-th symbol the user names."""
    return HINT_BASE + HINT_STEP * i


class SymbolTable:
    """The ShapeEnv of one trace, and the map between its symbols and the user's."""

    def __init__(self, hints: dict = None):
        self.env = _ShapeEnv(duck_shape=False)
        self.hints = dict(hints or {})  # user name -> example value, replacing the default one
        self.user = {}  # torch Symbol -> convlint symbol
        self.symints = {}  # user name -> SymInt
        self.unknown = set()  # torch Symbols convlint made for sizes it does not know
        self._cache = {}

    # -- user symbols and unknown sizes ------------------------------------------------------------------------

    def user_symint(self, name: str):
        s = self.symints.get(name)
        if s is None:
            hint = self.hints.get(name, default_hint(len(self.symints)))
            src = DimSource(name)
            sym = self.env.create_symbol(hint, src, dynamic_dim=DimDynamic.DYNAMIC)
            s = self.env.create_symintnode(sym, hint=hint, source=src)
            self.symints[name] = s
            self.user[sym] = dims.symbol(name)
        return s

    def hint(self, name: str):
        """The example value torch uses for the user's symbol ``name``."""
        s = self.symints.get(name)
        return None if s is None else s.node.hint

    def unknown_symint(self):
        """A fresh size convlint does not know (after a layer whose output size cannot be computed)."""
        hint = UNKNOWN_HINT + 2 * len(self.unknown)
        src = DimSource(f"unknown{len(self.unknown)}")
        sym = self.env.create_symbol(hint, src, dynamic_dim=DimDynamic.DYNAMIC)
        self.unknown.add(sym)
        return self.env.create_symintnode(sym, hint=hint, source=src)

    # -- torch -> convlint ----------------------------------------------------------------------------------------

    def dim(self, size):
        """A torch size (int or SymInt) as a convlint dim."""
        if type(size) is int:
            return size
        node = getattr(size, "node", None)
        if node is None:
            try:
                return int(size)
            except (TypeError, ValueError):
                return None
        if node.is_nested_int() if hasattr(node, "is_nested_int") else False:
            return None
        expr = node.expr
        hit = self._cache.get(expr, self)
        if hit is self:
            try:
                hit = dims.norm(self._convert(expr))
            except Exception:
                hit = None
            self._cache[expr] = hit
        return hit

    def shape(self, sizes) -> tuple:
        return tuple(self.dim(s) for s in sizes)

    def _convert(self, e):
        if e.is_Integer:
            return int(e)
        if e.is_Symbol:
            return self.user.get(e)
        args = [self._convert(a) for a in e.args]
        if any(a is None for a in args):
            return None
        name = type(e).__name__
        if isinstance(e, sympy.Add):
            return sympy.Add(*args)
        if isinstance(e, sympy.Mul):
            return sympy.Mul(*args)
        if name in ("Pow", "PowByNatural") and type(args[1]) is int and args[1] >= 0:
            return args[0] ** args[1]
        if name == "FloorDiv":
            return sympy.floor(sympy.sympify(args[0]) / args[1])
        if name in ("CeilDiv", "IntCeilDiv"):
            return sympy.ceiling(sympy.sympify(args[0]) / args[1])
        if name == "CleanDiv":
            return sympy.sympify(args[0]) / args[1]
        if name == "ModularIndexing":
            return sympy.Mod(sympy.floor(sympy.sympify(args[0]) / args[1]), args[2])
        if name in ("Mod", "PythonMod"):
            return sympy.Mod(args[0], args[1])
        if name == "Max":
            return sympy.Max(*args)
        if name == "Min":
            return sympy.Min(*args)
        if name == "Identity":
            return args[0]
        return None

    def condition(self, expr):
        """A torch guard (a relation over torch symbols) in the user's names; None if it mentions other symbols."""
        if isinstance(expr, (sympy.And, sympy.Or)):
            parts = [self.condition(a) for a in expr.args]
            return None if any(p is None for p in parts) else type(expr)(*parts)
        if not isinstance(expr, sympy.core.relational.Relational):
            return None
        lhs, rhs = self._convert(expr.lhs), self._convert(expr.rhs)
        if lhs is None or rhs is None:
            return None
        return type(expr)(lhs, rhs)

    def rename(self, text: str) -> str:
        """torch's message with its symbols in the user's names (``?`` for sizes nobody named)."""
        if not _TORCH_SYMBOL.search(text):
            return text
        names = {str(s): str(d) for s, d in self.user.items()}
        return _TORCH_SYMBOL.sub(lambda m: names.get(m.group(0), "?"), text)

    # -- convlint -> torch ----------------------------------------------------------------------------------------

    def symint(self, d):
        """A torch size for convlint dim ``d``: an int, a SymInt over the user's symbols, or a fresh unknown one
        (a torch size passes through)."""
        if type(d) is int:
            return d if d >= 0 else self.unknown_symint()
        if isinstance(d, torch.SymInt):
            return d
        if d is None:
            return self.unknown_symint()
        try:
            return self._eval(d)
        except Exception:
            return self.unknown_symint()

    def _eval(self, e):
        if isinstance(e, int):
            return e
        if e.is_Integer:
            return int(e)
        if e.is_Symbol:
            if e.name not in self.symints:
                raise KeyError(e.name)
            return self.symints[e.name]
        if isinstance(e, sympy.Add):
            total = 0
            for a in e.args:
                total = total + self._eval(a)
            return total
        if isinstance(e, sympy.Mul):
            out = 1
            for a in e.args:
                if a.is_Rational and not a.is_Integer:
                    raise ValueError("a fraction outside floor()")
                out = out * self._eval(a)
            return out
        if isinstance(e, sympy.Pow) and e.exp.is_Integer and e.exp >= 0:
            return self._eval(e.base) ** int(e.exp)
        if isinstance(e, (sympy.floor, sympy.ceiling)):
            num, den = sympy.fraction(sympy.together(e.args[0]))
            if not den.is_Integer:
                raise ValueError("a symbolic divisor")
            n = self._eval(sympy.expand(num))
            if isinstance(e, sympy.floor):
                return n // int(den)
            return -((-n) // int(den))
        if isinstance(e, sympy.Mod):
            return self._eval(e.args[0]) % self._eval(e.args[1])
        if isinstance(e, sympy.Max):
            out = self._eval(e.args[0])
            for a in e.args[1:]:
                out = torch.sym_max(out, self._eval(a))
            return out
        if isinstance(e, sympy.Min):
            out = self._eval(e.args[0])
            for a in e.args[1:]:
                out = torch.sym_min(out, self._eval(a))
            return out
        raise ValueError(f"cannot rebuild {e}")
