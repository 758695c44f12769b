"""Layers import only downwards, and no module imports itself back (docs/architecture.md draws the layers).

The imports are read from the source (every ``import``, at the top or inside a function), so a new back-edge fails
here whether or not it happens to run.
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Each part of the code, by module prefix (the longest prefix wins), and the parts it may import. A part may import
# its own modules, as long as they form no cycle.
PARTS = {
    "convlint.core": "core",
    "convlint.version": "core",
    "convlint.rule": "rule API",
    "convlint.examples": "rule API",
    "convlint.shapes": "shapes",
    "convlint.cost": "cost",
    "convlint.frontends": "front ends",
    "convlint.checking": "checking",
    "convlint_rules": "rules",
    "convlint.verify": "verification",
    "convlint.pipeline": "pipeline",
    "convlint.batch": "pipeline",
    "convlint.results": "pipeline",
    "convlint.summarize": "pipeline",
    "convlint": "shell",  # the API (convlint.lint), the CLI, the docs generator, convlint.app, convlint.reports
}
MAY_IMPORT = {
    "core": set(),
    "rule API": {"core"},
    "shapes": {"core"},
    "cost": {"core"},
    "front ends": {"core", "shapes"},
    "checking": {"core", "rule API"},
    "rules": {"core", "rule API", "shapes"},
    "verification": {"core", "rule API", "shapes"},
    "pipeline": {"core", "rule API", "shapes", "cost", "front ends", "checking", "verification"},
    "shell": {"core", "rule API", "shapes", "cost", "front ends", "checking", "verification", "pipeline"},
}


def _modules() -> dict:
    """Every module of convlint and of the rule pack (``rules/``, installed as ``convlint_rules``): name -> file."""
    found = {}
    for path in [*ROOT.glob("convlint/**/*.py"), *ROOT.glob("rules/*.py")]:
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[0] == "rules":
            parts[0] = "convlint_rules"
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imported(name: str, path: pathlib.Path) -> set:
    """The modules of ours that ``name`` imports (``from pkg import mod`` names ``pkg.mod``, not ``pkg``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                package = package[:len(package) - node.level + 1]
                base = ".".join(package + ([node.module] if node.module else []))
            out.update(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names)
    return {m for m in out if m in MODULES and m != name}


IMPORTS = {name: _imported(name, path) for name, path in MODULES.items()}


def part_of(module: str) -> str:
    prefix = max((p for p in PARTS if module == p or module.startswith(p + ".")), key=len)
    return PARTS[prefix]


def test_every_module_belongs_to_a_part():
    assert MODULES and all(part_of(m) in MAY_IMPORT for m in MODULES)


def test_parts_import_only_the_parts_below_them():
    upward = sorted(f"{m} ({part_of(m)}) imports {i} ({part_of(i)})" for m, imported in IMPORTS.items()
                    for i in imported if part_of(i) != part_of(m) and part_of(i) not in MAY_IMPORT[part_of(m)])
    assert not upward, "imports against the layers of docs/architecture.md:\n" + "\n".join(upward)


def test_no_import_cycle():
    cycles = _cycles(IMPORTS)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c + c[:1]) for c in cycles)


def _cycles(graph: dict) -> list:
    """The strongly connected components of more than one module (Tarjan), each as a sorted list."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_sees_a_back_edge():
    """The two checks above fail on the faults they are for."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert part_of("convlint.core.dims") == "core" and part_of("convlint.cli") == "shell"
    assert "front ends" not in MAY_IMPORT[part_of("convlint.shapes.tensor")]
