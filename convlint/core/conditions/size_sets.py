"""Sets of sizes of one symbol (:class:`SizeSet`): a finite part and residue classes, and how such a set reads as
a condition ("H % 16 == 0", "28 <= H <= 31")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class SizeSet:
    """A set of positive integers: the members below ``threshold``, and from it on ``s % period in residues``."""

    period: int
    threshold: int
    below: frozenset
    residues: frozenset

    def __contains__(self, s: int) -> bool:
        return s in self.below if s < self.threshold else s % self.period in self.residues

    @property
    def empty(self) -> bool:
        return not self.below and not self.residues

    @property
    def finite(self) -> bool:
        return not self.residues

    def smallest(self) -> Optional[int]:
        if self.below:
            return min(self.below)
        if not self.residues:
            return None
        s = self.threshold
        while s % self.period not in self.residues:
            s += 1
        return s

    def members(self) -> list:
        """The members of a finite set, in order."""
        return sorted(self.below)

    def canonical(self) -> tuple:
        """The same tuple for the same set, however it was computed: (finite members) or (period, residues, first
        size from which membership follows the residues, members below it)."""
        if self.finite:
            return ("finite", tuple(sorted(self.below)))
        d = min(d for d in _divisors(self.period) if all((r + j * d) % self.period in self.residues
                                                         for r in self.residues for j in range(self.period // d)))
        classes = tuple(sorted({r % d for r in self.residues}))
        low = self.threshold
        while low > 1 and ((low - 1) in self.below) == ((low - 1) % d in classes):
            low -= 1
        return ("periodic", d, classes, low, tuple(sorted(s for s in self.below if s < low)))

    def describe(self, name: str) -> str:
        """The set as a condition on ``name``: ``H % 16 == 0``, ``H >= 32``, ``28 <= H <= 31``, ``H in {3, 5}``."""
        key = self.canonical()
        if key[0] == "finite":
            return _describe_finite(list(key[1]), name)
        _, d, classes, low, extra = key
        first = low
        while first % d not in classes:
            first += 1
        parts = []
        if d > 1:
            parts.append(f"{name} % {d} == {classes[0]}" if len(classes) == 1
                         else f"{name} % {d} in {{{', '.join(map(str, classes))}}}")
        if any(s % d in classes for s in range(1, first)):
            parts.append(f"{name} >= {first}")
        text = " and ".join(parts) or f"{name} >= 1"
        if extra:
            text = f"{text} or {_describe_finite(list(extra), name)}"
        return text


def _describe_finite(values: list, name: str) -> str:
    if not values:
        return "false"
    if len(values) == 1:
        return f"{name} == {values[0]}"
    if len(values) >= 2 and values[0] == 1 and values[-1] == len(values):
        return f"{name} <= {values[-1]}"
    if len(values) >= 3 and values[-1] - values[0] == len(values) - 1:
        return f"{values[0]} <= {name} <= {values[-1]}"
    parts, runs = [], 0  # the whole set, never cut, in order: runs of 3 or more as ranges, the rest one by one
    start = prev = values[0]
    for v in values[1:] + [None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        if prev - start >= 2:
            parts.append(f"{start} <= {name} <= {prev}" if start > 1 else f"{name} <= {prev}")
            runs += 1
        else:
            parts += [f"{name} == {s}" for s in range(start, prev + 1)]
        if v is not None:
            start = prev = v
    if not runs or len(parts) > 6:  # scattered: every member listed
        return f"{name} in {{{', '.join(map(str, values))}}}"
    return " or ".join(parts)


def _divisors(n: int) -> list:
    return [d for d in range(1, n + 1) if n % d == 0]


def near(size_set: "SizeSet", start: int, reach: int = 4096) -> Optional[int]:
    """The member of ``size_set`` nearest above ``start`` (within ``reach``), else its smallest."""
    for s in range(max(start, 1), max(start, 1) + reach):
        if s in size_set:
            return s
    return size_set.smallest()
