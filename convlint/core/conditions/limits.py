"""How far the solver goes. Past any of these limits, or on an expression it cannot read, it raises
:class:`_Unsupported`, and the condition is "unknown" (rules stay silent on unknown)."""

MAX_PERIOD = 4096  # residues per symbol; beyond it a condition is "unknown"
MAX_POSITIONS = 200_000  # sizes evaluated per symbol; beyond it a condition is "unknown"
MAX_SOLUTIONS = 100_000  # value combinations explored for a product of factors
MAX_BRANCHES = 64  # cases explored for atoms that couple symbols
MAX_FACTOR_OPS = 200  # operations in a sum sympy is asked to factor; beyond it (seconds each) the form is unknown
MAX_WITNESS = 1024  # sizes tried to show that coupled atoms fail somewhere


class _Unsupported(Exception):
    pass
