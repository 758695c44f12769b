"""``--format sarif``: a SARIF 2.1.0 log, as GitHub code scanning and other viewers read it.

One run; ``tool.driver.rules`` describes every installed rule (its summary, its "What it does" section, and its
whole docstring as help). Each finding is a result whose location is the model file for ONNX models and the
Python source line for PyTorch ones, with the node or module path as its logical location. Findings silenced by
the configuration appear with a ``suppressions`` entry carrying the reason. Targets that could not be read, and
broken plugins, are tool execution notifications.
"""

from __future__ import annotations

import hashlib
import json
import os
from urllib.parse import quote

from convlint.version import __version__
from convlint.checking import registry
from convlint.rule import ERROR, INFO, WARNING
from convlint.app.targets import file_of
from convlint.reports import plain_text, repo_path

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVELS = {ERROR: "error", WARNING: "warning", INFO: "note"}
INTERNAL_ERROR = {  # the engine's finding for a rule that crashed; not a registered rule
    "id": "CL000",
    "name": "internal-error",
    "shortDescription": {"text": "A rule crashed on this model: a bug in the rule, not in the model."},
    "defaultConfiguration": {"level": "warning"},
}


def render(report) -> str:
    return json.dumps(to_sarif(report), indent=2, ensure_ascii=False) + "\n"


def to_sarif(report) -> dict:
    reg = registry.load()
    rules = [_descriptor(cls, reg.sources.get(code)) for code, cls in reg.rules.items()]
    found = [(r.target, f, None) for r in sorted(report.results, key=lambda r: r.target)
             for f in sorted(r.findings, key=lambda f: f.sort_key())]
    found += [(r.target, f, reason) for r in report.results for f, reason in r.suppressed]
    if any(f.rule == INTERNAL_ERROR["id"] for _, f, _ in found):
        rules.append(INTERNAL_ERROR)
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = [_result(f, target, index.get(f.rule), reason) for target, f, reason in found]
    notes = [_notification(ERROR, r.error, r.target) for r in report.input_errors]
    notes += [_notification(WARNING, problem) for problem in report.problems]
    run = {
        "tool": {"driver": {"name": "convlint", "version": __version__, "semanticVersion": __version__,
                            "rules": rules}},
        "invocations": [{"executionSuccessful": not report.input_errors, "toolExecutionNotifications": notes}],
        "results": results,
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def _descriptor(cls, source) -> dict:
    out = {
        "id": cls.code,
        "name": cls.name,
        "shortDescription": {"text": cls.summary()},
        "fullDescription": {"text": cls.section("What it does") or cls.summary()},
        "help": {"text": cls.doc(), "markdown": cls.doc()},
        "defaultConfiguration": {"level": LEVELS[cls.severity]},
    }
    if source:
        out["properties"] = {"source": source}
    return out


def _result(f, target: str, index, suppressed: str = None) -> dict:
    loc = f.location
    file = loc.get("file") or file_of(target)
    # Code scanning needs a line to show an alert; a model file has none, so its findings sit on line 1.
    physical = {"artifactLocation": {"uri": _uri(file)}, "region": {"startLine": int(loc.get("line") or 1)}}
    location = {"physicalLocation": physical}
    logical = {}
    if loc.get("module"):
        logical = {"name": loc["module"].rsplit(".", 1)[-1], "fullyQualifiedName": loc["module"], "kind": "module"}
    elif f.node:
        logical = {"name": f.node, "fullyQualifiedName": f.node, "kind": "element"}
    if logical:
        location["logicalLocations"] = [logical]
    text = plain_text(f, "Verification: ", "Hint: ")
    out = {
        "ruleId": f.rule,
        "level": LEVELS.get(f.severity, "warning"),
        "message": {"text": text},
        "locations": [location],
        "partialFingerprints": {"convlint/v1": _fingerprint(f, file)},
        "properties": {"node": f.node, "op": f.op,
                       "verification": f.verification.to_json() if f.verification is not None else None},
    }
    if index is not None:
        out["ruleIndex"] = index
    if suppressed is not None:
        out["suppressions"] = [{"kind": "external", "justification": suppressed}]
    return out


def _notification(severity: str, text: str, target: str = None) -> dict:
    out = {"level": LEVELS[severity], "message": {"text": text}}
    if target:
        out["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": _uri(file_of(target))}}}]
    return out


def _uri(path: str) -> str:
    shown = repo_path(path)
    if os.path.isabs(shown):
        return "file://" + quote(shown if shown.startswith("/") else "/" + shown)
    return quote(shown)


def _fingerprint(f, file: str) -> str:
    """Stable across runs and edits elsewhere in the model: the rule, the file, the node or module."""
    key = "\0".join((f.rule, repo_path(file), f.location.get("module") or f.node or ""))
    return hashlib.sha256(key.encode()).hexdigest()[:32]
