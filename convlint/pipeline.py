"""The pipeline for one target: front end, propagation, rules. Shared by the CLI and the Python API."""

from __future__ import annotations

from . import registry
from .engine import run_rules
from .errors import InputError
from .propagate import propagate
from .report import Report, Result
from .targets import load_graph


def lint_target(target, name: str, rules, input_shapes=()) -> Result:
    """Lint one target; an unreadable one gives a Result with ``error`` set instead of findings."""
    try:
        graph = load_graph(target, input_shapes)
    except InputError as e:
        return Result(name, error=str(e))
    except RecursionError:
        return Result(name, error=f"{name}: the model nests subgraphs too deeply to read")
    except Exception as e:  # a front-end bug must still end in one line, not a traceback
        return Result(name, error=f"{name}: cannot read the model: {type(e).__name__}: {e}")
    propagate(graph)
    return Result(name, findings=run_rules(graph, rules))


def lint(targets, input_shapes=(), select=None, ignore=None) -> Report:
    """Lint every target with the selected rules."""
    reg = registry.load()
    rules = reg.select(select, ignore)
    report = Report(problems=list(reg.problems))
    for target in targets:
        name = target if isinstance(target, str) else getattr(target, "name", None) or "<model>"
        report.results.append(lint_target(target, str(name), rules, input_shapes))
    return report
