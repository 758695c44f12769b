"""What a rule is, and what it reports.

A rule is a class with a permanent ``code`` (``CL101``), a kebab-case ``name``, the ``ops`` it looks at, and a
docstring in the form ``## What it does`` / ``## Why is this bad?`` / ``## Example`` / ``## Fix`` that is its
documentation (``convlint rule CODE`` prints it); a built-in rule also has a ``brief``, what it checks in a few
words, for the README's rule table. ``VALID`` and ``INVALID`` hold small models, in ONNX's text format, that
generate the rule's tests: each valid one yields no finding of the rule, each invalid one exactly one.

Rules are pure: ``check(node, ctx)`` reads the node and yields findings; the engine walks the graph. A rule about
the whole model overrides ``check_graph(graph, ctx)`` instead.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import ClassVar, Iterator, Optional

ERROR, WARNING, INFO = "error", "warning", "info"
SEVERITIES = (ERROR, WARNING, INFO)
ALL_OPS = "*"
SEVERITY_RANK = {INFO: 0, WARNING: 1, ERROR: 2}

CODE_PATTERN = re.compile(r"^[A-Z]{1,6}[0-9]{1,4}$")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass
class Evidence:
    """What a rule hands on beside its words: to verification, what a replay of the layer needs when the fault is not
    in the node alone (:mod:`convlint.verify`); to the join of conditions across a PyTorch trace's branches, the
    condition as atoms. A rule gives it as keywords: ``self.finding(node, message, hint, replay_shapes={...})``."""

    nodes: tuple = ()
    """Names of the nodes replayed together with the finding's node (CL004: the nodes on a cycle)."""
    undefined: tuple = ()
    """Names of the values the replay leaves undefined, as the model does (CL003)."""
    replay_shapes: dict = field(default_factory=dict)
    """Value name -> the shape it is replayed with, so that a node with several faults shows the runtime refusing
    this finding's one (CL102 feeds the channels the weight expects, leaving only the group fault)."""
    replay_types: dict = field(default_factory=dict)
    """Output name -> the element type the replay declares for it, as the model does, when the declaration is the
    fault (CL803: a graph output declared float32 that its node makes float16)."""
    nonfinite: bool = False
    """A precision warning: the replay of the node with the ``nodes`` after it (up to the op that turns an infinity
    into NaN) confirms it when onnxruntime returns NaN or an infinity (CL801)."""
    no_kernel: bool = False
    """The fault is that onnxruntime has no kernel for the layer (CL805): its NOT_IMPLEMENTED confirms it."""
    replay_declared: bool = False
    """Replay the layer from its PyTorch declaration (``node.declared``): PyTorch refused to construct it."""
    replay_checkpoint: bool = False
    """A ``--weights`` checkpoint's difference from the model: PyTorch's ``load_state_dict`` judges it, on the
    checkpoint's headers as meta tensors (:mod:`convlint.verify.checkpoint`)."""
    not_replayable: Optional[str] = None
    """Why onnxruntime's replay cannot show this fault (one of PyTorch's semantics, a module's declaration): the
    verdict is ``unverifiable`` with this reason, unless PyTorch's own replay decides."""
    atoms: Optional[list] = None
    """The finding's condition (``Finding.condition``) as atoms of :mod:`convlint.core.conditions`, so that it can
    be joined with the condition found on the other way through a branch; None when it has none."""
    domain: tuple = ()
    """The atoms' domain: what the sizes meet anyway (each at least 1)."""


@dataclass
class Finding:
    """One fault (or note) on one node, in the user's terms."""

    rule: str
    name: str
    severity: str
    message: str
    hint: Optional[str] = None
    # the exact condition on the input sizes under which the layer works ("H % 16 == 0"), when it works for some
    condition: Optional[str] = None
    node: Optional[str] = None
    op: Optional[str] = None
    location: dict = field(default_factory=dict)  # file, node; for PyTorch also module, class, line
    evidence: Evidence = field(default_factory=Evidence)  # what verification needs to replay the fault
    verification: Optional[object] = None  # a convlint.verify.Verification: the runtime's verdict on an error
    order: int = 0  # the node's position in the graph, for sorting (0: found by a whole-graph rule); not reported
    node_ref: Optional[object] = field(default=None, compare=False, repr=False)
    """The node itself (a :class:`~convlint.core.ir.Node`), which verification replays; never reported. The pipeline
    drops it when the lint of a target is done, so that a finding sent to another process, or kept in a Report,
    does not carry the graph with it."""

    def to_json(self) -> dict:
        out = {
            "rule": self.rule,
            "name": self.name,
            "severity": self.severity,
            "node": self.node,
            "op": self.op,
            "message": self.message,
            "hint": self.hint,
            "condition": self.condition,
            "location": dict(sorted(self.location.items())),
            "verification": self.verification.to_json() if self.verification is not None else None,
        }
        return out

    @property
    def layer(self) -> str:
        """The layer as the user knows it: module path or node name, then module class or op
        (``features.0 (Conv2d)``, ``conv1 (Conv)``); empty for a finding on the whole model."""
        where = self.location.get("module") or self.node or ""
        kind = self.location.get("class") or self.op
        if not where or not kind or where.startswith(kind + "("):
            return where
        return f"{where} ({kind})"

    def sort_key(self):
        loc = self.location
        return (loc.get("file") or "", loc.get("line") or 0, self.order, self.rule, self.node or "", self.message)


class Rule:
    """Base class of every rule, built-in or from a plugin."""

    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    brief: ClassVar[str] = ""  # what it checks, in a few words: its row in the README's rule table
    severity: ClassVar[str] = ERROR
    ops: ClassVar[tuple] = ()  # (ALL_OPS,) for a rule about every node, whatever its op or domain
    # A fallback rule speaks only for nodes no other rule reports on at its severity or above (PyTorch's own refusal
    # of a call, say, when no rule of convlint's explains it).
    fallback: ClassVar[bool] = False
    VALID: ClassVar[list] = []
    INVALID: ClassVar[list] = []
    # PyTorch examples: convlint.examples.TorchExample(factory, input_shape), factories that import torch themselves.
    TORCH_VALID: ClassVar[list] = []
    TORCH_INVALID: ClassVar[list] = []

    def check(self, node, ctx) -> Iterator[Finding]:
        return iter(())

    def check_graph(self, graph, ctx) -> Iterator[Finding]:
        return iter(())

    @classmethod
    def checks_graph(cls) -> bool:
        return cls.check_graph is not Rule.check_graph

    def finding(self, node, message: str, hint: str = None, severity: str = None, condition: str = None,
                **evidence) -> Finding:
        """A finding of this rule on ``node`` (None for the whole model), located the way the user knows it;
        ``condition`` is the exact condition on the input sizes under which the layer works, when it works for
        some sizes only; ``evidence`` are the fields of :class:`Evidence`."""
        return Finding(
            rule=self.code,
            name=self.name,
            severity=severity or self.severity,
            message=message,
            hint=hint,
            condition=condition,
            node=node.name if node is not None else None,
            op=node.op if node is not None else None,
            location=location_of(node),
            evidence=Evidence(**evidence),
            node_ref=node,
        )

    @classmethod
    def doc(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        """The first sentence of the rule's "What it does" section."""
        text = cls.doc()
        m = re.search(r"## What it does\s*\n(.+?)(\n\s*\n|\n##|$)", text, re.S)
        body = " ".join((m.group(1) if m else text).split())
        first = re.split(r"(?<=\.)\s", body, maxsplit=1)[0]
        return first

    @classmethod
    def section(cls, title: str) -> str:
        """The text of the docstring's ``## title`` section (empty if it has none)."""
        m = re.search(rf"^## {re.escape(title)}[^\n]*\n(.*?)(?=^## |\Z)", cls.doc(), re.S | re.M)
        return m.group(1).strip() if m else ""


def location_of(node) -> dict:
    if node is None:
        return {}
    o = node.origin
    loc = {"node": node.name}
    if o is None:
        return loc
    if o.kind == "torch":
        if o.file:
            loc["file"] = o.file
        if o.line:
            loc["line"] = o.line
        if o.module:
            loc["module"] = o.module
        if o.module_class:
            loc["class"] = o.module_class
    elif o.file:
        loc["file"] = o.file
    return loc
