"""The ``convlint`` command.

``convlint PATH...`` lints models (``convlint check PATH...`` is the same); ``convlint rules`` lists the rules;
``convlint rule CODE`` prints one rule's documentation. Exit status: 0 clean, 1 findings at or above
``--fail-on``, 2 a usage or input error (one line on stderr, never a traceback).
"""

from __future__ import annotations

import os
import sys

import click

from convlint.version import __version__
from convlint.core.errors import InputError, one_line
from convlint.rule import ERROR, INFO, WARNING

FORMATS = ("text", "json", "sarif", "github")


def _color():
    return False if os.environ.get("NO_COLOR") else None


def _fail(message: str) -> None:
    click.echo(f"convlint: error: {one_line(message)}", err=True, color=_color())
    sys.exit(2)


class DefaultToCheck(click.Group):
    """A group whose unknown first argument is a path for the ``check`` command, as in ``convlint model.onnx``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["check", *args]
        elif not args:
            args = ["check"]
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        """Run the command; a bug of ours still ends in one line and exit status 2, never a traceback."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except RecursionError:
            _fail("a model nests too deeply to lint")
        except MemoryError:
            _fail("ran out of memory")
        except Exception as e:
            _fail(f"internal error, please report it: {type(e).__name__}: {e}")


@click.group(cls=DefaultToCheck, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="convlint")
def main():
    """convlint: find every shape fault in a neural network before it runs.

    \b
    convlint model.onnx                      lint a model
    convlint model.onnx --input-shape N,1,H,W
    convlint rules                           list the rules
    convlint rule CL101                      explain one rule
    """


def run() -> None:
    """The ``convlint`` command: :func:`main`, then the process ends at once with its exit status, its output
    flushed, without freeing the graphs it built (``pipeline.keep_graphs``) or tearing down every module, as mypy
    ends. An exception that is not an exit goes on as usual."""
    from convlint import pipeline

    pipeline.keep_graphs()
    try:
        main(prog_name="convlint")
    except SystemExit as e:
        code = e.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a reader that went away (``| head``): nothing more to say
                pass
        os._exit(code or 0)


def _split(values) -> list:
    out = []
    for v in values or ():
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


def _options(*decorators):
    def apply(fn):
        for d in reversed(decorators):
            fn = d(fn)
        return fn
    return apply


# What every command that reads models takes: the targets and how to read them, and which rules to run.
_model_options = _options(
    click.argument("paths", nargs=-1, type=click.Path()),
    click.option("--input-shape", "input_shapes", multiple=True, metavar="DIMS",
                 help="Dims of the first input (repeat for the next ones in order), or NAME=DIMS; ints or symbol "
                      "names, e.g. N,3,H,W."),
    click.option("--input-dtype", "input_dtypes", multiple=True, metavar="DTYPE",
                 help="PyTorch targets: element type of the first input (repeat for the next ones), or NAME=DTYPE; "
                      "e.g. int64 for token ids. Default: the model's floating-point type."),
    click.option("--weights", type=click.Path(dir_okay=False), metavar="FILE",
                 help="PyTorch targets: check this checkpoint (safetensors, an index of shards, or a torch file) "
                      "against the model, from its headers alone."),
    click.option("--trust-pickle", is_flag=True,
                 help="PyTorch targets: allow loading a pickled module (torch.save(model)); this runs code from the "
                      "file."))
_rule_options = _options(
    click.option("--select", multiple=True, metavar="CODES",
                 help="Only these rule codes or prefixes (comma-separated)."),
    click.option("--ignore", multiple=True, metavar="CODES",
                 help="Skip these rule codes or prefixes (comma-separated)."),
    click.option("--fail-on", type=click.Choice([ERROR, WARNING, INFO]), default=ERROR, show_default=True,
                 help="Exit 1 when a finding of this severity or worse is reported."),
    click.option("--config", "config_file", type=click.Path(dir_okay=False), metavar="FILE",
                 help="Read this configuration file instead of finding pyproject.toml or convlint.toml."))


@main.command("check")
@_model_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@_rule_options
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=1, show_default=True, metavar="N",
              help="Lint N models at a time in separate processes (0: one per CPU).")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Replay each error's layer alone in onnxruntime and show its verdict (an error onnxruntime does not "
                   "reproduce becomes a warning).")
def check(paths, input_shapes, input_dtypes, weights, trust_pickle, fmt, select, ignore, fail_on, config_file, jobs,
          verify):
    """Lint models (ONNX files, or folders of them) and report every fault found.

    With no PATH, lint the targets named in the configuration ([tool.convlint] in pyproject.toml).
    """
    from convlint.batch import workers_for
    from convlint.pipeline import lint
    from convlint.app.progress import Progress
    from convlint.reports import github_format, json_format, sarif_format, text_format

    from_cli = _given(click.get_current_context())
    cfg, targets = _plan(paths, input_shapes, input_dtypes, weights, config_file)
    select, ignore, fail_on = _rule_choice(from_cli, cfg, select, ignore, fail_on)
    if "verify" not in from_cli and cfg.verify is not None:
        verify = cfg.verify
    with Progress(len(targets)) as progress:
        report = lint(targets, (), select or None, ignore or None, workers=workers_for(jobs), progress=progress,
                      verify=verify, trust_pickle=trust_pickle)
    for result in report.results:
        cfg.apply(result)
    for problem in report.problems:
        click.echo(f"convlint: warning: {problem}", err=True, color=_color())
    for r in report.input_errors:
        click.echo(f"convlint: error: {one_line(r.error)}", err=True, color=_color())
    if fmt in ("json", "sarif", "github"):
        writer = {"json": json_format, "sarif": sarif_format, "github": github_format}[fmt]
        click.echo(writer.render(report), nl=False, color=_color())
    elif report.findings or not report.input_errors:
        click.echo(text_format.render(report), nl=False, color=_color())
    sys.exit(report.exit_code(fail_on))


@main.command("summary")
@_model_options
@click.option("--format", "fmt", type=click.Choice(("text", "json", "markdown")), default="text", show_default=True)
@click.option("--depth", type=click.IntRange(min=1), default=None, metavar="N",
              help="Fold the layers below N levels of the module path into one row per container (default: leaves).")
@click.option("--at", "at", multiple=True, metavar="SIZES",
              help="Evaluate every formula at these sizes, e.g. H=224,W=224 (symbols left free stay formulas).")
@_rule_options
def summary_cmd(paths, input_shapes, input_dtypes, weights, trust_pickle, fmt, depth, at, select, ignore, fail_on,
                config_file):
    """Summarize models: per layer, output shapes, parameters and MACs as formulas; totals; the input sizes for
    which the model runs.

    Exit status as for linting: 0, or 1 when a finding at or above --fail-on is found, 2 when a target cannot be
    read.
    """
    from convlint.app.progress import Progress
    from convlint.app.sizes import parse_sizes
    from convlint.pipeline import summaries
    from convlint.reports import summary_format
    from convlint.rule import SEVERITY_RANK

    from_cli = _given(click.get_current_context())
    cfg, targets = _plan(paths, input_shapes, input_dtypes, weights, config_file)
    try:
        sizes = parse_sizes(at)
    except InputError as e:
        _fail(str(e))
    select, ignore, fail_on = _rule_choice(from_cli, cfg, select, ignore, fail_on)
    with Progress(len(targets)) as progress:
        done = summaries(targets, (), select or None, ignore or None, depth=depth, at=sizes or None,
                         progress=progress, trust_pickle=trust_pickle)
    unknown = sorted(set(sizes) - {n for s in done for n in s.symbols})
    if unknown and all(not s.error for s in done):
        _fail(f"--at names {', '.join(unknown)}, which no input dim is called "
              f"(the models' symbols: {', '.join(sorted({n for s in done for n in s.symbols})) or 'none'})")
    for s in done:
        if s.error:
            click.echo(f"convlint: error: {one_line(s.error)}", err=True, color=_color())
    shown = [s for s in done if not s.error]
    if shown or fmt == "json":
        click.echo(summary_format.render(shown if fmt != "json" else done, fmt), nl=False, color=_color())
    if any(s.error for s in done):
        sys.exit(2)
    floor = SEVERITY_RANK[fail_on]
    sys.exit(1 if any(SEVERITY_RANK.get(f.severity, 0) >= floor for s in done for f in s.findings) else 0)


def _rule_choice(from_cli, cfg, select, ignore, fail_on) -> tuple:
    """(select, ignore, fail_on): the command line's where given, else the configuration's; an unknown code ends
    the command."""
    from convlint.checking import registry

    select, ignore = _split(select), _split(ignore)
    reg = registry.load()
    for code in select + ignore:
        if not reg.known(code):
            _fail(f"unknown rule code or prefix {code!r}; `convlint rules` lists them")
    select = select if "select" in from_cli else cfg.select
    ignore = ignore if "ignore" in from_cli else cfg.ignore
    fail_on = fail_on if "fail_on" in from_cli else cfg.fail_on or fail_on
    return select, ignore, fail_on


def _plan(paths, input_shapes, input_dtypes, weights, config_file):
    """(the configuration, the targets to work on as (target, input shapes, options) triples) for the paths and
    options given; a usage error ends here, with exit status 2."""
    from convlint.app import config
    from convlint.app import input_dtypes as input_dtypes_mod
    from convlint.app import input_shapes as shapes_mod

    try:
        specs = [shapes_mod.parse(s) for s in input_shapes]
        dtypes = [input_dtypes_mod.parse(s) for s in input_dtypes]
        cfg = config.load(config_file)
        planned = cfg.expand(paths)
        targets = [(t, specs or [shapes_mod.parse(s) for s in (named.input_shapes if named else ())],
                    _target_options(named, input_dtypes_mod, dtypes, weights)) for t, named in planned]
    except InputError as e:
        _fail(str(e))
    if not targets:
        _fail("no model given and no targets named in the configuration; usage: convlint PATH... "
              "(see convlint --help)")
    return cfg, targets


def _target_options(named, dtypes_mod, dtypes, weights) -> dict:
    """The --input-dtype and --weights of one target: the flags when given, else what its configuration says."""
    if named is not None:
        dtypes = dtypes or [dtypes_mod.parse(s) for s in named.input_dtypes]
        weights = weights or named.weights
    return {"input_dtypes": dtypes, "weights": weights}


def _given(ctx) -> set:
    """The names of the options given on the command line (not defaulted): these win over the configuration."""
    return {name for name in ctx.params
            if ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None)}


@main.command("rules")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def rules_cmd(fmt):
    """List every rule: code, name, severity and what it checks."""
    import json

    from convlint.checking import registry

    reg = registry.load()
    for problem in reg.problems:
        click.echo(f"convlint: warning: {problem}", err=True, color=_color())
    if fmt == "json":
        rows = [{"code": c, "name": r.name, "severity": r.severity, "summary": r.summary(), "source": reg.sources[c]}
                for c, r in reg.rules.items()]
        click.echo(json.dumps(rows, indent=2))
        return
    width = max((len(r.name) for r in reg.rules.values()), default=10)
    for code, rule in reg.rules.items():
        click.echo(f"{code}  {rule.name:<{width}}  {rule.severity:<7}  {rule.summary()}")


@main.command("rule")
@click.argument("code")
def rule_cmd(code):
    """Print the documentation of rule CODE (or of the rule with that name)."""
    from convlint.checking import registry

    reg = registry.load()
    match = reg.rules.get(code.upper()) or next((r for r in reg.rules.values() if r.name == code), None)
    if match is None:
        _fail(f"no rule {code!r}; `convlint rules` lists them")
    click.echo(f"# {match.code} {match.name} ({match.severity})\n")
    click.echo(match.doc())
