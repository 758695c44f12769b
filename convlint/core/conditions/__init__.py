"""Exact conditions on symbolic sizes: for which values of ``H``, ``W``, ``seq`` does a layer work?

A rule states what must hold as a conjunction of *atoms*; an atom is a disjunction of comparisons ``expr == 0`` or
``expr >= 0`` over dims (:mod:`convlint.core.dims`). :func:`solve` answers, exactly and without sampling sizes, whether
the conjunction holds for every size, for none, or for some, and in the last case states the condition in the
user's names ("H % 16 == 0", "H >= 32") with the smallest size that satisfies it.

Atoms in several symbols are solved symbol by symbol when they separate. Two shapes of atom couple symbols in
practice. A flattened feature count against a Linear's ``in_features`` (``64*f(H)*g(W) == 9216``): a product of
single-symbol factors equal to a constant is solved by enumerating each factor's bounded values. And equalities
between sizes (``x + x.transpose(2, 3)`` needs ``H == W``, a concatenation of two inputs ``H == H2``, an upsampled
map ``H == 2*W``): an atom is split into one case per comparison, an equality linear in some symbol with coefficient
±1 is solved for it and substituted in the other atoms, and each case is solved again, exactly; the answer is the
union of the cases ("H == W or H == 1 or W == 1"). Anything else (``2*H == 3*W``, ``Min(H, W)``) is "unknown",
and rules stay silent on unknown.

Sizes range over positive integers, restricted to a *domain*: the sizes for which the dims a rule compares are
themselves sizes (every symbolic factor of them is at least 1). Outside it an earlier layer already fails.

How sizes of one symbol are computed exactly is told in :mod:`~convlint.core.conditions.single_symbol`. The
modules, each importing only those above it:

- :mod:`~convlint.core.conditions.limits`: how far the solver goes before a condition is "unknown".
- :mod:`~convlint.core.conditions.atoms`: comparisons, and the atoms rules build (``eq``, ``ge``, ``sizes``...).
- :mod:`~convlint.core.conditions.relations`: a relation written by code (a model's ``assert H == 224``) as atoms.
- :mod:`~convlint.core.conditions.size_sets`: :class:`SizeSet`, a set of sizes of one symbol, and how it reads.
- :mod:`~convlint.core.conditions.single_symbol`: atoms in one symbol, solved exactly through quasi-polynomials.
- :mod:`~convlint.core.conditions.verdict`: :class:`Verdict`, the answer, and its example text.
- :mod:`~convlint.core.conditions.product`: a product of single-symbol factors equal to a constant.
- :mod:`~convlint.core.conditions.coupled`: atoms that couple symbols through equalities, one case at a time, and
  :func:`holds`, the atoms evaluated at given sizes.
- :mod:`~convlint.core.conditions.solver`: :func:`solve`, which groups atoms by symbol and gives each group to the
  solver above that fits it.

Everything a caller needs is importable from this package (``from convlint.core import conditions as cond``, then
``cond.solve``, ``cond.eq``, ``cond.Verdict``); names starting with ``_`` are shared by these modules only.
"""

from convlint.core.conditions.atoms import EQ, FALSE, GE, Cmp, broadcastable, divides, eq, ge, le, sizes
from convlint.core.conditions.coupled import _holds_at as holds
from convlint.core.conditions.limits import MAX_BRANCHES, MAX_PERIOD, MAX_POSITIONS, MAX_SOLUTIONS, MAX_WITNESS
from convlint.core.conditions.relations import relation_atoms
from convlint.core.conditions.single_symbol import Quasi
from convlint.core.conditions.size_sets import SizeSet, near
from convlint.core.conditions.solver import solve
from convlint.core.conditions.verdict import Verdict, example_text

__all__ = [
    "EQ", "GE", "FALSE", "Cmp", "eq", "ge", "le", "broadcastable", "divides", "sizes",
    "MAX_PERIOD", "MAX_POSITIONS", "MAX_SOLUTIONS", "MAX_BRANCHES", "MAX_WITNESS",
    "relation_atoms",
    "SizeSet", "near",
    "Quasi",
    "Verdict", "example_text",
    "solve", "holds",
]
