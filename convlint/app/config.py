"""Project configuration: ``[tool.convlint]`` in ``pyproject.toml``, or the same keys at the top of ``convlint.toml``.

```toml
[tool.convlint]
select = ["CL1"]                      # rule codes or prefixes (default: all)
ignore = ["CL001"]
fail-on = "warning"                   # error | warning | info
verify = true                         # replay error findings in onnxruntime
per-path-ignores = { "models/legacy/*" = ["CL106"] }
severity = { CL002 = "warning" }      # override a rule's severity

[tool.convlint.targets.classifier]     # `convlint` with no argument lints every named target
path = "models/classifier.onnx"
input-shape = "N,3,H,W"               # or a list, one spec per input, as --input-shape takes them

[tool.convlint.targets.encoder]
path = "models/net.py:build"          # a PyTorch target
input-shape = "N,T"
input-dtype = "int64"                 # as --input-dtype
weights = "checkpoints/encoder.pt"    # as --weights: a checkpoint, checked from its headers alone

[[tool.convlint.suppress]]            # silence one rule on the nodes a pattern names, with a reason
rule = "CL101"
node = "stem.*"
reason = "the stem's weight is replaced at load time"
```

The file is looked up from the working directory upwards, stopping at the repository root (the folder holding
``.git``); in each folder ``convlint.toml`` wins over ``pyproject.toml``, and a ``pyproject.toml`` counts only if it
has a ``[tool.convlint]`` table. Paths and patterns are relative to the configuration file's folder; patterns are
shell-style (``*`` also matches ``/``), and a folder pattern covers everything below it.

Command-line flags win over the file. An unknown key or a bad value is a :class:`ConfigError`: one line naming the
file and the key, exit status 2.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from dataclasses import dataclass, field
from typing import Optional

from convlint.core.errors import UsageError
from convlint.app import input_dtypes, input_shapes
from convlint.checking import registry
from convlint.checking.registry import code_matches
from convlint.rule import SEVERITIES
from convlint.app.targets import file_of, model_files
from convlint.core.words import display_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FILENAMES = ("convlint.toml", "pyproject.toml")


class ConfigError(UsageError):
    """A configuration file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Target:
    """A model the project names in its configuration, with the input shapes to lint it with."""

    name: str
    path: str  # as given on the command line: relative to the working directory when under it
    input_shapes: tuple = ()  # --input-shape specs (strings)
    input_dtypes: tuple = ()  # --input-dtype specs, for PyTorch targets
    weights: Optional[str] = None  # --weights: a state dict for a PyTorch target

    @property
    def file(self) -> str:
        """The file part of the target: ``models/net.py`` for ``models/net.py:build``."""
        return file_of(self.path)


@dataclass(frozen=True)
class Suppression:
    node: str  # pattern on the node name or, for PyTorch, the module path
    reason: str
    rule: Optional[str] = None  # code or prefix; None for every rule
    path: Optional[str] = None  # pattern on the target's path

    def matches(self, finding, paths) -> bool:
        """Whether this entry silences ``finding``, found in the files ``paths`` (relative to the configuration)."""
        if self.rule and not code_matches(finding.rule, self.rule):
            return False
        if self.path and not any(path_matches(p, self.path) for p in paths):
            return False
        names = [n for n in (finding.node, finding.location.get("module")) if n]
        return any(fnmatch.fnmatchcase(n, self.node) for n in names)


@dataclass
class Config:
    """What a configuration file says; every field is None or empty when the file does not set it."""

    file: Optional[str] = None
    root: str = field(default_factory=os.getcwd)
    select: Optional[list] = None
    ignore: Optional[list] = None
    fail_on: Optional[str] = None
    verify: Optional[bool] = None
    per_path_ignores: dict = field(default_factory=dict)  # pattern -> codes
    severity: dict = field(default_factory=dict)  # code or prefix -> severity
    targets: dict = field(default_factory=dict)  # name -> Target
    suppress: list = field(default_factory=list)  # Suppression

    def relative(self, path: str) -> str:
        """``path`` (a target or a file) relative to the configuration's folder, with ``/`` separators."""
        rel = os.path.relpath(os.path.abspath(file_of(path)), self.root)
        return rel.replace(os.sep, "/")

    def target_for(self, path: str) -> Optional[Target]:
        """The named target that ``path`` designates (by its path, or by its name), if any."""
        if path in self.targets and not os.path.exists(path):
            return self.targets[path]
        want = os.path.abspath(file_of(path)), _entry_of(path)
        for target in self.targets.values():
            if (os.path.abspath(target.file), _entry_of(target.path)) == want:
                return target
        return None

    def expand(self, paths) -> list:
        """What ``paths`` stand for, as ``(target, named Target or None)`` pairs; no paths means every named target.

        A folder stands for every ONNX model file below it and every named target in it; a name from ``targets``
        stands for that target. A folder with nothing to lint is a :class:`UsageError`.
        """
        if not paths:
            return [(t.path, t) for t in self.targets.values()]
        out, seen = [], set()
        for path in paths:
            if os.path.isdir(path):
                found = [(p, self.target_for(p)) for p in model_files(path)]
                found += [(t.path, t) for t in self.targets_under(path)]
                if not found:
                    raise UsageError(f"{path}: no ONNX model files below this folder, and no targets in it named in "
                                     f"the configuration")
            else:
                found = [(path, self.target_for(path))]
            for target, named in found:
                path_of = named.path if named else target
                key = (os.path.abspath(file_of(path_of)), _entry_of(path_of), named and named.name)
                if key not in seen:
                    seen.add(key)
                    out.append((path_of, named))
        return out

    def targets_under(self, folder: str) -> list:
        """The named targets whose file lies in ``folder`` or below it."""
        top = os.path.join(os.path.abspath(folder), "")
        return [t for t in self.targets.values() if os.path.abspath(t.file).startswith(top)]

    def apply(self, result) -> None:
        """Drop the findings of ``result`` that per-path ignores exclude, move suppressed ones to
        ``result.suppressed`` as ``(finding, reason)``, and apply severity overrides."""
        rel = self.relative(result.target)
        kept = []
        for f in result.findings:
            paths = {rel, self.relative(f.location["file"])} if f.location.get("file") else {rel}
            if any(code_matches(f.rule, code) for pattern, codes in self.per_path_ignores.items()
                   if any(path_matches(p, pattern) for p in paths) for code in codes):
                continue
            rule = next((s for s in self.suppress if s.matches(f, paths)), None)
            if rule is not None:
                result.suppressed.append((f, rule.reason))
                continue
            override = _longest_match(f.rule, self.severity)
            if override:
                f.severity = override
            kept.append(f)
        result.findings = kept


def path_matches(rel_path: str, pattern: str) -> bool:
    pattern = pattern.strip().replace(os.sep, "/").removeprefix("./")
    return (fnmatch.fnmatchcase(rel_path, pattern)
            or fnmatch.fnmatchcase(rel_path, pattern.rstrip("/") + "/*"))


def _longest_match(code: str, table: dict):
    keys = [k for k in table if code_matches(code, k)]
    return table[max(keys, key=len)] if keys else None


def _entry_of(path: str) -> str:
    return path[len(file_of(path)) + 1:]


# --- finding and reading the file -----------------------------------------------------------------------------


def find(start: str = None) -> Optional[str]:
    """The configuration file that applies in ``start`` (the working directory), or None."""
    folder = os.path.abspath(start or os.getcwd())
    while True:
        for name in FILENAMES:
            path = os.path.join(folder, name)
            if os.path.isfile(path) and (name != "pyproject.toml" or _has_tool_table(path)):
                return path
        parent = os.path.dirname(folder)
        if parent == folder or os.path.exists(os.path.join(folder, ".git")):
            return None
        folder = parent


def load(path: str = None, reg=None) -> Config:
    """The configuration in ``path`` (or the one :func:`find` finds; an empty Config if none), validated.

    ``reg`` (default: the installed rules) decides which rule codes are known.
    """
    path = path or find()
    if path is None:
        return Config()
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: no such configuration file")
    table = _read(path)
    if os.path.basename(path) == "pyproject.toml":
        table = table.get("tool", {}).get("convlint", {})
        where = f"{display_path(path)}: [tool.convlint]"
    else:
        where = display_path(path) + ":"
    if reg is None:
        reg = registry.load()
    return _parse(table, where, os.path.dirname(os.path.abspath(path)), path, reg)


def _has_tool_table(path: str) -> bool:
    try:
        return "convlint" in _read(path).get("tool", {})
    except ConfigError:
        return True  # let load() report the broken file rather than skip it silently


def _read(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{display_path(path)}: invalid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{display_path(path)}: cannot read: {e.strerror or e}") from None


# --- validation: every key checked, every error one line naming it ---------------------------------------------

TOP_KEYS = ("select", "ignore", "fail-on", "verify", "per-path-ignores", "severity", "targets", "suppress")
TARGET_KEYS = ("path", "input-shape", "input-dtype", "weights")
SUPPRESS_KEYS = ("node", "reason", "rule", "path")


def _parse(table: dict, where: str, root: str, file: str, reg) -> Config:
    def fail(key, message):
        raise ConfigError(f"{where} {key}: {message}")

    _no_unknown(table, TOP_KEYS, where, "")
    cfg = Config(file=file, root=root)
    for key in ("select", "ignore"):
        if key in table:
            setattr(cfg, key, _codes(table[key], key, fail, reg))
    if "fail-on" in table:
        cfg.fail_on = _severity(table["fail-on"], "fail-on", fail)
    if "verify" in table:
        if not isinstance(table["verify"], bool):
            fail("verify", f"expected true or false, got {table['verify']!r}")
        cfg.verify = table["verify"]
    for pattern, codes in _table(table, "per-path-ignores", fail).items():
        cfg.per_path_ignores[pattern] = _codes(codes, f"per-path-ignores.{_q(pattern)}", fail, reg)
    for code, sev in _table(table, "severity", fail).items():
        _codes([code], f"severity.{code}", fail, reg)
        cfg.severity[code.upper()] = _severity(sev, f"severity.{code}", fail)
    for name, spec in _table(table, "targets", fail).items():
        cfg.targets[name] = _target(name, spec, root, fail, where)
    suppress = table.get("suppress", [])
    if not isinstance(suppress, list):
        fail("suppress", "expected an array of tables ([[tool.convlint.suppress]]) with node, reason and optionally "
                         "rule and path")
    for i, entry in enumerate(suppress):
        cfg.suppress.append(_suppression(entry, f"suppress[{i}]", fail, where, reg))
    return cfg


def _no_unknown(table: dict, known: tuple, where: str, prefix: str) -> None:
    for key in table:
        if key not in known:
            close = [k for k in known if k.replace("-", "_") == key.replace("-", "_")]
            extra = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            raise ConfigError(f"{where} {prefix}{key}: unknown key{extra}")


def _table(table: dict, key: str, fail) -> dict:
    value = table.get(key, {})
    if not isinstance(value, dict):
        fail(key, f"expected a table, got {value!r}")
    return value


def _q(key: str) -> str:
    return f'"{key}"' if not key.replace("-", "").replace("_", "").isalnum() else key


def _codes(value, key: str, fail, reg) -> list:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        fail(key, f"expected a list of rule codes or prefixes, got {value!r}")
    codes = [v.strip().upper() for v in value]
    for code in codes:
        if not reg.known(code):
            fail(key, f"unknown rule code or prefix {code!r}; `convlint rules` lists them")
    return codes


def _severity(value, key: str, fail) -> str:
    if value not in SEVERITIES:
        fail(key, f"expected one of {', '.join(SEVERITIES)}, got {value!r}")
    return value


def _target(name: str, spec, root: str, fail, where) -> Target:
    key = f"targets.{_q(name)}"
    if isinstance(spec, str):
        spec = {"path": spec}
    if not isinstance(spec, dict):
        fail(key, f"expected a table with path and input-shape, got {spec!r}")
    _no_unknown(spec, TARGET_KEYS, where, key + ".")
    path = spec.get("path")
    if not isinstance(path, str) or not path.strip():
        fail(key, "needs a path: a model file, or file.py:function for a PyTorch model")
    weights = spec.get("weights")
    if weights is not None and not (isinstance(weights, str) and weights.strip()):
        fail(f"{key}.weights", f"expected the path of a checkpoint file, got {weights!r}")
    return Target(name, _under(root, path), _specs(spec, "input-shape", input_shapes, "N,3,H,W", key, fail),
                  _specs(spec, "input-dtype", input_dtypes, "int64", key, fail), weights and _under(root, weights))


def _under(root: str, path: str) -> str:
    return display_path(path if os.path.isabs(path) else os.path.join(root, path))


def _specs(spec: dict, name: str, parser, example: str, key: str, fail) -> tuple:
    """The ``--input-shape``/``--input-dtype`` specs of a target: one string or a list of them, each checked."""
    values = spec.get(name, ())
    if isinstance(values, str):
        values = (values,)
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        fail(f"{key}.{name}", f"expected a spec such as \"{example}\" or a list of them, got {values!r}")
    for text in values:
        try:
            parser.parse(text)
        except UsageError as e:
            fail(f"{key}.{name}", str(e).removeprefix(f"--{name}").lstrip(": "))
    return tuple(values)


def _suppression(entry, key: str, fail, where, reg) -> Suppression:
    if not isinstance(entry, dict):
        fail(key, f"expected a table with node and reason, got {entry!r}")
    _no_unknown(entry, SUPPRESS_KEYS, where, key + ".")
    for k in SUPPRESS_KEYS:
        if k in entry and not (isinstance(entry[k], str) and entry[k].strip()):
            fail(f"{key}.{k}", f"expected a non-empty string, got {entry[k]!r}")
    if "node" not in entry:
        fail(key, "needs node, a pattern on node names or module paths such as \"encoder.*.conv1\"")
    if "reason" not in entry:
        fail(key, "needs a reason: say why this finding is not a fault")
    rule = entry.get("rule")
    if rule:
        rule = _codes([rule], f"{key}.rule", fail, reg)[0]
    return Suppression(entry["node"], entry["reason"].strip(), rule, entry.get("path"))
