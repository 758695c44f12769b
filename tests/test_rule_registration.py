"""Every rule under rules/ runs only if pyproject.toml registers it and the installed convlint carries that entry
point: a forgotten entry point, or an install older than pyproject.toml, fails here with what to do."""

from __future__ import annotations

import importlib
import inspect
import os
from importlib.metadata import distribution

import pytest

from convlint.checking import registry
from convlint.rule import Rule

from conftest import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PACKAGE = "convlint_rules"  # what pyproject.toml installs rules/ as
REINSTALL = "reinstall convlint (`pip install -e .`; `scripts/dev test` does it)"


def _declared() -> dict:
    """Entry-point name -> ``module:Class``, as pyproject.toml declares them."""
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]["entry-points"][registry.GROUP]


def _modules() -> list:
    return sorted(name[:-3] for name in os.listdir(os.path.join(ROOT, "rules"))
                  if name.endswith(".py") and name != "__init__.py")


def _rule_classes(module: str) -> list:
    """The rules defined (not imported) in ``convlint_rules.<module>``: Rule subclasses with a code (a base class
    for several rules, such as ``_declared.DeclaredRule``, has none)."""
    mod = importlib.import_module(f"{PACKAGE}.{module}")
    return [cls for _, cls in inspect.getmembers(mod, inspect.isclass)
            if issubclass(cls, Rule) and cls.code and cls.__module__ == mod.__name__]


@pytest.mark.parametrize("module", [m for m in _modules() if not m.startswith("_")])
def test_every_rule_is_registered_under_its_code(module):
    declared = _declared()
    classes = _rule_classes(module)
    assert classes, f"rules/{module}.py defines no rule (a module of helpers is named with a leading _)"
    for cls in classes:
        value = f"{PACKAGE}.{module}:{cls.__name__}"
        assert declared.get(cls.code) == value, (
            f"rules/{module}.py: {cls.__name__} ({cls.code}) is not registered, so it never runs: add "
            f'`{cls.code} = "{value}"` under [project.entry-points."{registry.GROUP}"] in pyproject.toml, then '
            f"{REINSTALL}")


@pytest.mark.parametrize("module", [m for m in _modules() if m.startswith("_")])
def test_helper_modules_hold_no_rules(module):
    names = [cls.__name__ for cls in _rule_classes(module)]
    assert names == [], f"rules/{module}.py defines {names}: a rule goes in a module of its own, named without a leading _"


def test_every_entry_point_names_a_rule_of_that_code():
    for code, value in _declared().items():
        module, _, name = value.partition(":")
        cls = getattr(importlib.import_module(module), name, None)
        assert isinstance(cls, type) and issubclass(cls, Rule), f"entry point {code} = {value!r} names no Rule class"
        assert cls.code == code, f"entry point {code} = {value!r} names the rule whose code is {cls.code}"


def test_the_installed_entry_points_are_pyprojects():
    installed = {ep.name: ep.value for ep in distribution(registry.BUILTIN).entry_points.select(group=registry.GROUP)}
    declared = _declared()
    assert installed == declared, (
        f"the installed convlint registers other rules than pyproject.toml (missing: "
        f"{sorted(declared.keys() - installed.keys())}, stale: {sorted(installed.keys() - declared.keys())}, "
        f"changed: {sorted(k for k in declared.keys() & installed.keys() if declared[k] != installed[k])}): {REINSTALL}")
