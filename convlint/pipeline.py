"""The pipeline for one target: front end, propagation, rules. Shared by the CLI and the Python API."""

from __future__ import annotations

import functools
import gc
from typing import NamedTuple, Optional

from convlint import batch
from convlint.checking import registry
from convlint.checking.engine import run_rules
from convlint.core.errors import InputError, one_line
from convlint.shapes.propagate import propagate
from convlint.results import Report, Result
from convlint.summarize import Summary, summarize
from convlint.checking.branches import scope_specialized, widen_conditions
from convlint.checking.domain import UNKNOWN, Domain, model_domain
from convlint.frontends import load_graph
from convlint.frontends.specs import target_name


_kept: Optional[list] = None  # graphs left alive for a process that ends without freeing them (keep_graphs)
KEEP_NODES = 300_000  # at most this many nodes in all are kept; graphs beyond it are freed as usual


def keep_graphs() -> None:
    """Leave each graph alive after its lint instead of freeing it, for a process that then ends with ``os._exit``
    (the ``convlint`` command): freeing a graph is a million small objects' worth of work (0.6 s of a 100k-node
    model's 4.5 s) that the process's end does for nothing. Up to :data:`KEEP_NODES` nodes in all; the API never
    calls it, so a training script's lint frees its graph at once."""
    global _kept
    _kept = []


def _keep(graph) -> None:
    if _kept is not None and sum(len(g.nodes) for g in _kept) + len(graph.nodes) <= KEEP_NODES:
        _kept.append(graph)


def _gc_paused(fn):
    """Run ``fn`` with Python's cyclic garbage collector paused: a graph is a million small objects that all live
    until the lint ends, and scanning them again and again made large models a third slower."""
    @functools.wraps(fn)
    def paused(*args, **kwargs):
        if not gc.isenabled():
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()
    return paused


def _analysed(target, name: str, rules, input_shapes, load_options):
    """(graph, findings) for one target, or (None, the one-line reason it cannot be read)."""
    try:
        graph = load_graph(target, input_shapes, **load_options)
        propagate(graph)
        return graph, scope_specialized(graph, widen_conditions(graph, run_rules(graph, rules), rules))
    except InputError as e:
        return None, one_line(e)
    except RecursionError:
        return None, f"{name}: the model nests subgraphs too deeply to read"
    except MemoryError:
        return None, f"{name}: reading the model ran out of memory"
    except Exception as e:  # a bug of ours must still end in one line, not a traceback
        return None, one_line(f"{name}: internal error, please report it: {type(e).__name__}: {e}")


@_gc_paused
def lint_target(target, name: str, rules, input_shapes=(), verify: bool = True, **load_options) -> Result:
    """Lint one target; an unreadable one gives a Result with ``error`` set instead of findings.

    With ``verify``, each error finding is replayed alone in onnxruntime (:mod:`convlint.verify`), which never fails.
    """
    graph, findings = _analysed(target, name, rules, input_shapes, load_options)
    if graph is None:
        return Result(name, error=findings)
    if verify:
        from convlint.verify import verify_findings

        verify_findings(graph, findings)
    domain = _domain(graph, findings, name)
    for f in findings:  # the graph stays here: a Result may go to another process (-j N), and outlives the lint
        f.node_ref = None
    _keep(graph)
    return Result(name, findings=findings, domain=domain)


@_gc_paused
def summarize_target(target, name: str, rules, input_shapes=(), depth=None, at=None, **load_options) -> Summary:
    """The summary of one target (:mod:`convlint.summarize`): its layers, totals and input domain, with the rows its
    findings are on marked; an unreadable target gives a Summary with ``error`` set. Nothing is verified."""
    graph, findings = _analysed(target, name, rules, input_shapes, load_options)
    if graph is None:
        return Summary(name, error=findings)
    try:
        summary = summarize(graph, findings, _domain(graph, findings, name), depth, at, name)
    except Exception as e:  # a bug of ours must still end in one line, not a traceback
        return Summary(name, error=one_line(f"{name}: internal error, please report it: {type(e).__name__}: {e}"))
    for f in findings:
        f.node_ref = None
    _keep(graph)
    return summary


def _domain(graph, findings, name):
    """The model's input domain; a failure to state it (a bug of ours) leaves it unknown, never ends the lint."""
    try:
        return model_domain(graph, findings)
    except Exception as e:
        return Domain(UNKNOWN, partial=f"internal error stating it: {type(e).__name__}: {e}")


class _Job(NamedTuple):
    target: object
    name: str
    input_shapes: tuple
    select: Optional[list]
    ignore: Optional[list]
    options: dict


def lint(targets, input_shapes=(), select=None, ignore=None, workers=1, progress=None, **options) -> Report:
    """Lint every target with the selected rules.

    A target given as a ``(target, input_shapes)`` pair has input shapes of its own, and a ``(target, input_shapes,
    options)`` triple options of its own too. ``workers`` > 1 lints in that many processes; ``progress`` (a
    :class:`~convlint.app.progress.Progress`) is advanced as each target is done. ``options`` go to :func:`lint_target`.
    """
    reg = registry.load()
    report = Report(problems=list(reg.problems))
    jobs = []
    for target in targets:
        shapes, own = input_shapes, {}
        if isinstance(target, tuple):
            target, shapes, own = (*target, {}) if len(target) == 2 else target
        name = target_name(target)
        jobs.append(_Job(target, str(name), tuple(shapes), select, ignore, {**options, **own}))
    report.results = batch.run(_lint_job, jobs, workers, progress, fallback=_worker_failed, label=lambda j: j.name)
    return report


def summaries(targets, input_shapes=(), select=None, ignore=None, depth=None, at=None, progress=None,
              **options) -> list:
    """The summary of every target (:func:`summarize_target`), in the order given; targets as for :func:`lint`."""
    rules = registry.load().select(select, ignore)
    out = []
    for target in targets:
        shapes, own = input_shapes, {}
        if isinstance(target, tuple):
            target, shapes, own = (*target, {}) if len(target) == 2 else target
        name = str(target_name(target))
        out.append(summarize_target(target, name, rules, tuple(shapes), depth, at, **{**options, **own}))
        if progress is not None:
            progress.advance(name)
    return out


def _lint_job(job: _Job) -> Result:
    rules = registry.load().select(job.select, job.ignore)
    return lint_target(job.target, job.name, rules, job.input_shapes, **job.options)


def _worker_failed(job: _Job, error: Exception) -> Result:
    return Result(job.name, error=f"{job.name}: the process linting it failed: {type(error).__name__}: {error}")
