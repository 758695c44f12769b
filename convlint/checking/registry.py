"""Rule discovery: built-in and third-party rules alike come from the ``convlint.rules`` entry-point group.

An entry point names a :class:`~convlint.rule.Rule` subclass, or an iterable of them (a rule pack). A plugin that
fails to import, or whose rules have bad or clashing codes, is reported in ``Registry.problems`` by entry point and
distribution, and the other rules still run.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from convlint.rule import CODE_PATTERN, NAME_PATTERN, SEVERITIES, Rule

GROUP = "convlint.rules"
BUILTIN = "convlint"  # the distribution of the built-in rules


@dataclass
class Registry:
    rules: dict = field(default_factory=dict)  # code -> Rule subclass, sorted by code
    problems: list = field(default_factory=list)  # one line per broken plugin or rule
    sources: dict = field(default_factory=dict)  # code -> distribution name

    def select(self, select=None, ignore=None) -> list:
        """Instances of the rules whose code matches a ``select`` prefix (all when None) and no ``ignore`` prefix."""
        chosen = []
        for code, cls in self.rules.items():
            if select and not any(code_matches(code, s) for s in select):
                continue
            if ignore and any(code_matches(code, s) for s in ignore):
                continue
            chosen.append(cls())
        return chosen

    def known(self, prefix: str) -> bool:
        return any(code_matches(code, prefix) for code in self.rules)


def code_matches(code: str, prefix: str) -> bool:
    """Whether rule ``code`` is selected by ``prefix`` (a code, a prefix such as ``CL1``, or ``ALL``)."""
    prefix = prefix.strip().upper()
    return prefix == "ALL" or code.startswith(prefix)


def _validate(cls) -> str:
    if not (isinstance(cls, type) and issubclass(cls, Rule)):
        return f"{cls!r} is not a convlint Rule class"
    if not CODE_PATTERN.match(cls.code or ""):
        return f"rule {cls.__name__} has an invalid code {cls.code!r} (expected letters then digits, like CL101)"
    if not NAME_PATTERN.match(cls.name or ""):
        return f"rule {cls.code} has an invalid name {cls.name!r} (expected kebab-case, like conv-input-channels)"
    if cls.severity not in SEVERITIES:
        return f"rule {cls.code} has an invalid severity {cls.severity!r}"
    if isinstance(cls.ops, str) or not all(isinstance(op, str) for op in cls.ops):
        return f"rule {cls.code} has invalid ops {cls.ops!r} (expected a tuple of operator names, like (\"Conv\",))"
    try:
        cls()
    except Exception as e:
        return f"rule {cls.code} cannot be created without arguments: {type(e).__name__}: {e}"
    return ""


@functools.lru_cache(maxsize=1)
def load() -> Registry:
    reg = Registry()
    found = []
    for ep in sorted(entry_points(group=GROUP), key=lambda e: (e.name, e.value)):
        dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
        try:
            obj = ep.load()
        except Exception as e:
            reg.problems.append(f"plugin {ep.name!r} ({dist}) failed to load: {type(e).__name__}: {e}")
            continue
        classes = [obj] if isinstance(obj, type) else _iterate(obj)
        if classes is None:
            reg.problems.append(f"plugin {ep.name!r} ({dist}) is neither a Rule class nor a list of them")
            continue
        for cls in classes:
            problem = _validate(cls)
            if problem:
                reg.problems.append(f"plugin {ep.name!r} ({dist}): {problem}")
                continue
            found.append((cls, dist))
    for cls, dist in sorted(found, key=lambda item: item[1] != BUILTIN):  # built-in codes win a clash
        if cls.code in reg.rules and reg.rules[cls.code] is not cls:
            reg.problems.append(f"rule code {cls.code} from {dist} clashes with the one from {reg.sources[cls.code]}; "
                                f"keeping the one from {reg.sources[cls.code]}")
            continue
        reg.rules[cls.code] = cls
        reg.sources[cls.code] = dist
    reg.rules = dict(sorted(reg.rules.items()))
    return reg


def _iterate(obj):
    try:
        return list(obj)
    except TypeError:
        return None
