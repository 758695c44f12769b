"""Comparisons of dims, three-valued: :func:`equal` answers True (equal for every value of the symbols), False
(different for every value) or None (it depends, or unknown); :func:`at_least` and :func:`divisible` likewise. Rules
report a violation only on a definite answer.

Plain ints take the int path; sympy's assumptions decide most symbolic cases, and :mod:`convlint.core.conditions`
decides exactly where they know little (``Min``/``Max``).
"""

from __future__ import annotations

import functools

import sympy

from convlint.core import conditions


def equal(a, b):
    """True if ``a == b`` for every value of the symbols, False if ``a != b`` for every value, else None."""
    if type(a) is int and type(b) is int:
        return a == b
    if a is None or b is None:
        return None
    return _sym_equal(a, b)


def at_least(a, b):
    """True if ``a >= b`` for every value of the symbols, False if ``a < b`` for every value, else None."""
    if type(a) is int and type(b) is int:
        return a >= b
    if a is None or b is None:
        return None
    return _sym_at_least(a, b)


@functools.lru_cache(maxsize=65536)
def _sym_equal(a, b):
    return _decided(a - b, "==")


@functools.lru_cache(maxsize=65536)
def _sym_at_least(a, b):
    return _decided(a - b, ">=")


def _decided(diff, op: str):
    """Whether ``diff == 0`` (``op`` "==") or ``diff >= 0`` (">=") holds for every value of the symbols (True), for
    none (False) or for some or unknown (None): sympy's assumptions first, the exact solver where they know little
    (``Min``/``Max``), and ``simplify`` (slow on nested floors) only when neither can tell."""
    answer = _assumed(diff, op)
    if answer is None and diff.has(sympy.Min, sympy.Max):
        exact = _exact(diff, op)
        if exact is not NotImplemented:
            return exact
    if answer is None:
        answer = _assumed(sympy.simplify(diff), op)
    return answer


def _assumed(diff, op: str):
    """What sympy's assumptions alone say of ``diff == 0`` or ``diff >= 0``: True, False or None."""
    if op == "==":
        zero = diff.is_zero
        return None if zero is None else bool(zero)
    if diff.is_nonnegative:
        return True
    if diff.is_negative:
        return False
    return None


def _exact(diff, op: str):
    """Whether ``diff == 0`` (``op`` "==") or ``diff >= 0`` (">=") for every value of the symbols (True), for none
    (False) or for some (None), decided exactly by :mod:`convlint.core.conditions` (sympy's assumptions know little of
    ``Min``/``Max``: ``Min(T, 64) == 65`` is false for every ``T``); NotImplemented when it cannot tell."""
    status = conditions.solve([(conditions.Cmp(diff, op),)]).status
    return {"always": True, "never": False, "some": None}.get(status, NotImplemented)


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
