"""Tensor dimensions: plain ints where known, sympy expressions over the user's named symbols otherwise.

A dim is an ``int``, a sympy expression over positive integer symbols (``N``, ``H``, ``W``, ``seq``), or ``None``
for unknown. Most dims in real models are ints, so every helper takes the int path first and touches sympy only
when a symbol is involved. Results that sympy reduces to a number come back as plain ints.

Comparisons of dims, which need the solver of :mod:`convlint.core.conditions`, are in :mod:`convlint.core.compare`.
"""

from __future__ import annotations

import functools
import math
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
    return _sym_add(a, b)


@functools.lru_cache(maxsize=65536, typed=True)
def _sym_add(a, b):
    return norm(a + b)


def sub(a, b):
    if type(a) is int and type(b) is int:
        return a - b
    if a is None or b is None:
        return None
    return _sym_sub(a, b)


@functools.lru_cache(maxsize=65536, typed=True)
def _sym_sub(a, b):
    return norm(a - b)


def mul(a, b):
    if type(a) is int and type(b) is int:
        return a * b
    if a is None or b is None:
        return None
    return _sym_mul(a, b)


@functools.lru_cache(maxsize=65536, typed=True)
def _sym_mul(a, b):
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


def minimum(a, b):
    """The smaller of ``a`` and ``b``; a symbolic ``Min`` when it depends on the symbols."""
    if type(a) is int and type(b) is int:
        return min(a, b)
    if a is None or b is None:
        return None
    return _sym_min(a, b)


def maximum(a, b):
    """The larger of ``a`` and ``b``; a symbolic ``Max`` when it depends on the symbols."""
    if type(a) is int and type(b) is int:
        return max(a, b)
    if a is None or b is None:
        return None
    return _sym_max(a, b)


@functools.lru_cache(maxsize=65536)
def _sym_min(a, b):
    return norm(sympy.Min(a, b))


@functools.lru_cache(maxsize=65536)
def _sym_max(a, b):
    return norm(sympy.Max(a, b))


def product(dims):
    """The product of ``dims``; None if any is unknown."""
    out = 1
    for d in dims:
        out = mul(out, d)
        if out is None:
            return None
    return out


def quotient(a, b) -> tuple:
    """``a / b`` as one fraction (numerator, denominator), its common factors cancelled: ``(H + H % 3) / 3`` has the
    denominator 3, though sympy writes the quotient as the sum ``H/3 + (H % 3)/3``, whose own denominator is 1."""
    return sympy.fraction(sympy.together(sympy.cancel(sympy.sympify(a) / b)))


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


_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def pretty(d) -> str:
    """A dim as every message prints it: ``64·⌊(H-4)/2⌋·⌊(W-4)/2⌋``, ``16·⌊H/16⌋``; ``?`` when unknown. The one dim
    printer: floors and ceilings as ``⌊⌋``/``⌈⌉``, products with ``·``, and ASCII minus signs, so that a ``-1`` in a
    shape can be copied back into code."""
    if d is None:
        return "?"
    if type(d) is int:
        return str(d)
    return _pretty(sympy.factor_terms(_merge_floors(sympy.sympify(d))))


def pretty_shape(shape) -> str:
    """A shape with :func:`pretty` dims: ``(N, 64, ⌊H/2⌋, ⌊W/2⌋)``."""
    if shape is None:
        return "(?)"
    if len(shape) == 1:
        return f"({pretty(shape[0])},)"
    return "(" + ", ".join(pretty(d) for d in shape) + ")"


def _merge_floors(e):
    """``⌊(⌊y⌋ + m)/b⌋`` as ``⌊(y + m)/b⌋`` (exact for integers m, b > 0; likewise for ceilings), for display."""
    if not e.args:
        return e
    e = e.func(*[_merge_floors(a) for a in e.args])
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        const, rest = e.args[0].as_coeff_Add()
        coeff, inner = rest.as_coeff_Mul()
        if type(inner) is type(e) and coeff.is_Rational and coeff > 0 and coeff.p == 1 and (const * coeff.q).is_Integer:
            return _merge_floors(type(e)((inner.args[0] + const * coeff.q) / coeff.q))
    return e


def _pretty(e, wrap: bool = False) -> str:
    if e.is_Integer:
        return str(int(e))
    if e.is_Rational:
        return f"{e.p}/{e.q}"
    if e.is_Symbol:
        return e.name
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        left, right = ("⌊", "⌋") if isinstance(e, sympy.floor) else ("⌈", "⌉")
        return left + _pretty_fraction(e.args[0]) + right
    if e.is_Add:
        const, rest = e.as_coeff_Add()
        if const and isinstance(rest, (sympy.floor, sympy.ceiling)) and const.is_Integer:
            return _pretty(type(rest)(rest.args[0] + const, evaluate=False))
        text = ""
        terms = e.as_ordered_terms()
        terms = [t for t in terms if not t.could_extract_minus_sign()] + \
            [t for t in terms if t.could_extract_minus_sign()]  # 3·⌈H/3⌉-H-1, not -H+3·⌈H/3⌉-1
        for i, term in enumerate(terms):
            if term.could_extract_minus_sign():
                text += "-" + _pretty(-term, wrap=True)
            else:
                text += ("+" if i else "") + _pretty(term, wrap=True)
        return f"({text})" if wrap else text
    if e.is_Mul:
        coeff, rest = e.as_coeff_Mul()
        if coeff.is_Rational and not coeff.is_Integer:
            return _pretty_fraction(e)
        factors = [_pretty(f, wrap=True) for f in rest.as_ordered_factors()]
        if coeff == -1:
            return "-" + "·".join(factors)
        if coeff != 1:
            factors.insert(0, _pretty(coeff))
        return "·".join(factors)
    if e.is_Pow and e.exp.is_Integer and e.exp > 0:
        base = _pretty(e.base, wrap=True)
        if e.base.is_Mul or (e.base.is_Rational and not e.base.is_Integer):
            base = f"({base})"
        return base + str(int(e.exp)).translate(_SUPERSCRIPT)
    if isinstance(e, sympy.Mod):
        return f"({_pretty(e.args[0])} mod {_pretty(e.args[1])})"
    if isinstance(e, (sympy.Min, sympy.Max)):
        return f"{type(e).__name__.lower()}({', '.join(_pretty(a) for a in e.args)})"
    return str(e)


def _pretty_fraction(e) -> str:
    e = sympy.expand(e)
    den = 1
    for c in e.as_coefficients_dict().values():
        if c.is_Rational:
            den = den * int(c.q) // math.gcd(den, int(c.q))
    if den == 1:
        return _pretty(e)
    num = sympy.factor_terms(sympy.expand(e * den))
    top = _pretty(num)
    return f"({top})/{den}" if num.is_Add else f"{top}/{den}"
