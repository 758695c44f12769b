"""The ``convlint`` command.

``convlint PATH...`` lints models (``convlint check PATH...`` is the same); ``convlint rules`` lists the rules;
``convlint rule CODE`` prints one rule's documentation. Exit status: 0 clean, 1 findings at or above
``--fail-on``, 2 a usage or input error (one line on stderr, never a traceback).
"""

from __future__ import annotations

import os
import sys

import click

from . import __version__
from .errors import InputError
from .rule import ERROR, INFO, WARNING

FORMATS = ("text", "json")


def _color():
    return False if os.environ.get("NO_COLOR") else None


def _fail(message: str) -> None:
    click.echo(f"convlint: error: {message}", err=True, color=_color())
    sys.exit(2)


class DefaultToCheck(click.Group):
    """A group whose unknown first argument is a path for the ``check`` command, as in ``convlint model.onnx``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["check", *args]
        elif not args:
            args = ["check"]
        return super().parse_args(ctx, args)


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


def _split(values) -> list:
    out = []
    for v in values or ():
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


@main.command("check")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--input-shape", "input_shapes", multiple=True, metavar="DIMS",
              help="Dims of the first input (repeat for the next ones in order), or NAME=DIMS; ints or symbol names, "
                   "e.g. N,3,H,W.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--select", multiple=True, metavar="CODES", help="Only these rule codes or prefixes (comma-separated).")
@click.option("--ignore", multiple=True, metavar="CODES", help="Skip these rule codes or prefixes (comma-separated).")
@click.option("--fail-on", type=click.Choice([ERROR, WARNING, INFO]), default=ERROR, show_default=True,
              help="Exit 1 when a finding of this severity or worse is reported.")
def check(paths, input_shapes, fmt, select, ignore, fail_on):
    """Lint models (ONNX files) and report every fault found."""
    from . import input_shapes as shapes_mod
    from . import registry
    from .pipeline import lint
    from .reports import json_format, text_format

    if not paths:
        _fail("no model given; usage: convlint PATH... (see convlint --help)")
    try:
        specs = [shapes_mod.parse(s) for s in input_shapes]
    except InputError as e:
        _fail(str(e))
    select, ignore = _split(select), _split(ignore)
    reg = registry.load()
    for code in select + ignore:
        if not reg.known(code):
            _fail(f"unknown rule code or prefix {code!r}; `convlint rules` lists them")
    report = lint(list(paths), specs, select or None, ignore or None)
    for problem in report.problems:
        click.echo(f"convlint: warning: {problem}", err=True, color=_color())
    for r in report.input_errors:
        click.echo(f"convlint: error: {r.error}", err=True, color=_color())
    if fmt == "json":
        click.echo(json_format.render(report), nl=False)
    elif report.findings or not report.input_errors:
        click.echo(text_format.render(report), nl=False, color=_color())
    sys.exit(report.exit_code(fail_on))


@main.command("rules")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
def rules_cmd(fmt):
    """List every rule: code, name, severity and what it checks."""
    import json

    from . import registry

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
    from . import registry

    reg = registry.load()
    match = reg.rules.get(code.upper()) or next((r for r in reg.rules.values() if r.name == code), None)
    if match is None:
        _fail(f"no rule {code!r}; `convlint rules` lists them")
    click.echo(f"# {match.code} {match.name} ({match.severity})\n")
    click.echo(match.doc())
