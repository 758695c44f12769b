"""The rule reference, ``docs/rules.md``, generated from the built-in rules' docstrings.

    python -m convlint.docs            # rewrite docs/rules.md (run from the repository root)
    python -m convlint.docs --check    # exit 1 if docs/rules.md is out of date

Only the rules of convlint itself are listed, so an installed plugin does not change the file.
"""

from __future__ import annotations

import re
import sys

from convlint.checking import registry
from convlint.rule import ALL_OPS

PATH = "docs/rules.md"


def render() -> str:
    reg = registry.load()
    rules = [cls for code, cls in reg.rules.items() if reg.sources.get(code) == registry.BUILTIN]
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
        summary = cls.summary().replace("|", "\\|")
        lines.append(f"| [{cls.code}](#{_anchor(cls)}) | {cls.name} | {cls.severity} | {summary} |")
    for cls in rules:
        lines += ["", f"## {cls.code} {cls.name}", ""]
        ops = "every node" if ALL_OPS in cls.ops else ", ".join(f"`{op}`" for op in cls.ops) or "the whole model"
        lines += [f"Severity: {cls.severity}. Looks at: {ops}.", ""]
        lines.append(re.sub(r"^## ", "### ", cls.doc(), flags=re.M))
    return "\n".join(lines) + "\n"


def _anchor(cls) -> str:
    return f"{cls.code} {cls.name}".lower().replace(" ", "-")


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    path = paths[0] if paths else PATH
    text = render()
    try:
        with open(path, encoding="utf-8") as f:
            current = f.read()
    except FileNotFoundError:
        current = None
    if check:
        if current != text:
            print(f"{path} is out of date; run `python -m convlint.docs` to regenerate it", file=sys.stderr)
            return 1
        return 0
    if current != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
