"""The answer of the solver for a conjunction of atoms (:class:`Verdict`), and how its parts read."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Verdict:
    """The answer for a conjunction of atoms: ``status`` is "always", "never", "some" or "unknown"."""

    status: str
    condition: str = ""  # for "some": the condition in the user's names
    example: dict = field(default_factory=dict)  # for "some": symbol name -> a smallest satisfying value
    sets: dict = field(default_factory=dict)  # symbol name -> SizeSet of valid sizes, for single-symbol groups
    solutions: frozenset = frozenset()  # for a product of factors: {((name, (sizes...)), ...)}, each a set of choices
    atoms: tuple = field(default=(), compare=False)  # what was solved, so that it can be combined again
    domain: tuple = field(default=(), compare=False)
    coupled: frozenset = frozenset()  # for symbols coupled by equalities: the cases, as (equality, verdict key)

    @property
    def always(self) -> bool:
        return self.status == "always"

    @property
    def never(self) -> bool:
        return self.status == "never"

    @property
    def some(self) -> bool:
        return self.status == "some"

    def example_text(self) -> str:
        return example_text(self.example)

    def key(self) -> tuple:
        """The same tuple for verdicts that accept the same sizes."""
        return (self.status, tuple(sorted((n, s.canonical()) for n, s in self.sets.items())), self.solutions,
                self.coupled)


def example_text(example: dict) -> str:
    """``H = W = 28`` when the values agree, else ``H = 28, W = 32``."""
    if not example:
        return ""
    names = sorted(example)
    values = {example[n] for n in names}
    if len(values) == 1 and len(names) > 1:
        return " = ".join(names) + f" = {example[names[0]]}"
    return ", ".join(f"{n} = {example[n]}" for n in names)


_VOID = Verdict("void")  # the domain holds no size: an earlier layer fails, nothing is said about this one


def _wrap(text: str) -> str:
    return f"({text})" if " or " in text else text
