"""The rule reference, ``docs/rules.md``, and the README's rule table, generated from the built-in rules.

    python -m convlint.docs              # rewrite both (run from the repository root)
    python -m convlint.docs --check      # exit 1 if either is out of date
    python -m convlint.docs [--check] ROOT   # the same for the repository at ROOT

docs/rules.md is made from the rules' docstrings. The README's table, between the lines ``TABLE_BEGIN`` and
``TABLE_END``, has a row per rule: its code, name and ``brief``; the rest of the README is left as it is. Only the
rules of convlint itself are listed, so an installed plugin changes neither file.
"""

from __future__ import annotations

import os
import re
import sys

from convlint.checking import registry
from convlint.rule import ALL_OPS

PATH = "docs/rules.md"
README = "README.md"
TABLE_BEGIN = "<!-- Generated from the rules by `python -m convlint.docs`; do not edit this table by hand. -->"
TABLE_END = "<!-- End of the generated rule table. -->"


def built_in_rules() -> list:
    reg = registry.load()
    return [cls for code, cls in reg.rules.items() if reg.sources.get(code) == registry.BUILTIN]


def render() -> str:
    """docs/rules.md: the table of rules, then each rule's page."""
    rules = built_in_rules()
    lines = [
        "# Rules",
        "",
        "<!-- Generated from the rules' docstrings by `python -m convlint.docs`; do not edit by hand. -->",
        "",
        "Each rule has a permanent code. Select or ignore rules by code or prefix (`--select CL1`, or `select` in "
        "the configuration); `convlint rule CODE` prints a rule's page.",
        "",
        "| code | name | severity | what it checks |",
        "| --- | --- | --- | --- |",
    ]
    for cls in rules:
        lines.append(f"| [{cls.code}](#{_anchor(cls)}) | {cls.name} | {cls.severity} | {_cell(cls.summary())} |")
    for cls in rules:
        lines += ["", f"## {cls.code} {cls.name}", ""]
        ops = "every node" if ALL_OPS in cls.ops else ", ".join(f"`{op}`" for op in cls.ops) or "the whole model"
        lines += [f"Severity: {cls.severity}. Looks at: {ops}.", ""]
        lines.append(re.sub(r"^## ", "### ", cls.doc(), flags=re.M))
    return "\n".join(lines) + "\n"


def render_table() -> str:
    """The README's rule table; a rule without a ``brief`` is a ValueError."""
    lines = ["| code | name | what it checks |", "| --- | --- | --- |"]
    for cls in built_in_rules():
        if not cls.brief:
            raise ValueError(f"rule {cls.code} has no brief (what it checks, in a few words, for the README's table)")
        lines.append(f"| {cls.code} | {cls.name} | {_cell(cls.brief)} |")
    return "\n".join(lines) + "\n"


def with_table(readme: str) -> str:
    """``readme`` with a fresh rule table between ``TABLE_BEGIN`` and ``TABLE_END``."""
    begin, end = readme.find(TABLE_BEGIN + "\n"), readme.find(TABLE_END)
    if begin < 0 or end < begin:
        raise ValueError(f"it has no rule table between the lines {TABLE_BEGIN} and {TABLE_END}")
    return readme[:begin] + TABLE_BEGIN + "\n" + render_table() + readme[end:]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _anchor(cls) -> str:
    return f"{cls.code} {cls.name}".lower().replace(" ", "-")


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    roots = [a for a in args if a != "--check"]
    root = roots[0] if roots else "."
    status = 0
    for rel, make in ((PATH, lambda current: render()), (README, with_table)):
        path = os.path.normpath(os.path.join(root, rel))
        try:
            with open(path, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        try:
            text = make(current or "")
        except ValueError as e:
            print(f"{path}: {e}", file=sys.stderr)
            status = 1
            continue
        if current == text:
            continue
        if check:
            print(f"{path} is out of date; run `python -m convlint.docs` to regenerate it", file=sys.stderr)
            status = 1
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"wrote {path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
