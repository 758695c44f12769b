"""Tensor dimensions: plain ints where known, sympy expressions over the user's named symbols otherwise.

A dim is an ``int``, a sympy expression over positive integer symbols (``N``, ``H``, ``W``, ``seq``), or ``None``
for unknown. Most dims in real models are ints, so every helper takes the int path first and touches sympy only
when a symbol is involved. Results that sympy reduces to a number come back as plain ints.

Decisions are three-valued: :func:`equal` answers True (equal for every value of the symbols), False (different
for every value) or None (it depends, or unknown). Rules report a violation only on a definite answer.
"""

from __future__ import annotations

import functools
import re
from typing import Union

import sympy

Dim = Union[int, sympy.Expr, None]
Shape = Union[tuple, None]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\[\]]*$")


@functools.lru_cache(maxsize=None)
def symbol(name: str) -> sympy.Symbol:
    """The positive integer symbol called ``name`` (the same object for the same name)."""
    return sympy.Symbol(name, integer=True, positive=True)


def is_symbol_name(text: str) -> bool:
    return bool(_NAME.match(text))


def norm(d):
    """``d`` with sympy numbers turned into ints; None stays None."""
    if d is None or type(d) is int:
        return d
    if isinstance(d, (sympy.Integer, int)):
        return int(d)
    if isinstance(d, sympy.Basic):
        return d if d.is_integer is not False else None
    try:
        return int(d)
    except (TypeError, ValueError):
        return None


def is_static(d) -> bool:
    return type(d) is int


def is_static_shape(shape) -> bool:
    return shape is not None and all(type(d) is int for d in shape)


def add(a, b):
    if type(a) is int and type(b) is int:
        return a + b
    if a is None or b is None:
        return None
    return norm(a + b)


def sub(a, b):
    if type(a) is int and type(b) is int:
        return a - b
    if a is None or b is None:
        return None
    return norm(a - b)


def mul(a, b):
    if type(a) is int and type(b) is int:
        return a * b
    if a is None or b is None:
        return None
    return norm(a * b)


def floordiv(a, b):
    if type(a) is int and type(b) is int:
        return a // b if b else None
    if a is None or b is None or b == 0:
        return None
    return _sym_floordiv(a, b)


def ceildiv(a, b):
    if type(a) is int and type(b) is int:
        return -(-a // b) if b else None
    if a is None or b is None or b == 0:
        return None
    return _sym_ceildiv(a, b)


@functools.lru_cache(maxsize=65536)
def _sym_floordiv(a, b):
    return norm(sympy.floor(sympy.sympify(a) / b))


@functools.lru_cache(maxsize=65536)
def _sym_ceildiv(a, b):
    return norm(sympy.ceiling(sympy.sympify(a) / b))


def product(dims):
    """The product of ``dims``; None if any is unknown."""
    out = 1
    for d in dims:
        out = mul(out, d)
        if out is None:
            return None
    return out


def equal(a, b):
    """True if ``a == b`` for every value of the symbols, False if ``a != b`` for every value, else None."""
    if type(a) is int and type(b) is int:
        return a == b
    if a is None or b is None:
        return None
    return _sym_equal(a, b)


@functools.lru_cache(maxsize=65536)
def _sym_equal(a, b):
    zero = sympy.simplify(a - b).is_zero
    return None if zero is None else bool(zero)


def at_least(a, b):
    """True if ``a >= b`` for every value of the symbols, False if ``a < b`` for every value, else None."""
    if type(a) is int and type(b) is int:
        return a >= b
    if a is None or b is None:
        return None
    return _sym_at_least(a, b)


@functools.lru_cache(maxsize=65536)
def _sym_at_least(a, b):
    diff = sympy.simplify(a - b)
    if diff.is_nonnegative:
        return True
    if diff.is_negative:
        return False
    return None


def divisible(a, b):
    """True if ``b`` divides ``a`` for every value of the symbols, False if for none, else None."""
    if type(a) is int and type(b) is int:
        return b != 0 and a % b == 0
    if a is None or b is None:
        return None
    if type(b) is int and b != 0:
        q = sympy.Rational(1, b) * a
        if q.is_integer:
            return True
        return None
    return None


def symbols_of(*dims) -> list:
    """The symbols that occur in ``dims``, sorted by name."""
    found = set()
    for d in dims:
        if isinstance(d, sympy.Basic):
            found |= d.free_symbols
    return sorted(found, key=lambda s: s.name)


def substitute(d, values: dict):
    """``d`` with symbols replaced by the ints in ``values`` (keyed by symbol name)."""
    if d is None or type(d) is int:
        return d
    return norm(d.subs({symbol(k): v for k, v in values.items()}))


def fmt(d) -> str:
    """A dim as the user reads it: ``3``, ``H``, ``floor((H - 1)/2) + 1``, ``?`` when unknown."""
    if d is None:
        return "?"
    if type(d) is int:
        return str(d)
    return str(d)


def fmt_shape(shape) -> str:
    """A shape as a Python tuple literal with dims by their names: ``(N, 3, H, W)``; ``(?)`` if the rank is unknown."""
    if shape is None:
        return "(?)"
    if len(shape) == 1:
        return f"({fmt(shape[0])},)"
    return "(" + ", ".join(fmt(d) for d in shape) + ")"
