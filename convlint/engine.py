"""The rule engine: walks the graph, gives each node to the rules that look at its op, collects findings.

A rule that raises becomes one ``CL000 internal-error`` finding naming the rule and the node; the run goes on.
"""

from __future__ import annotations

from collections import defaultdict

from .rule import WARNING, Finding, location_of


class RuleContext:
    """What a rule may read besides its node: the graph it is in and the model file."""

    def __init__(self, graph):
        self.graph = graph
        self.file = graph.file


def run_rules(graph, rules) -> list:
    """All findings of ``rules`` on ``graph`` and its subgraphs, in graph order."""
    by_op = defaultdict(list)
    for rule in rules:
        for op in rule.ops:
            by_op[op].append(rule)
    ctx = RuleContext(graph)
    findings = []
    for rule in rules:
        if rule.checks_graph():
            _collect(findings, rule, None, lambda r=rule: r.check_graph(graph, ctx), 0)
    for order, node in enumerate(graph.walk(), start=1):
        for rule in by_op.get(node.op, ()):
            _collect(findings, rule, node, lambda r=rule, n=node: r.check(n, ctx), order)
    return findings


def _collect(findings, rule, node, call, order):
    try:
        produced = list(call() or ())
    except Exception as e:
        where = f" on node {node.name!r}" if node is not None else ""
        produced = [Finding("CL000", "internal-error", WARNING,
                            f"rule {rule.code} ({rule.name}) crashed{where}: {type(e).__name__}: {e}",
                            hint="this is a bug in the rule, not in your model; please report it",
                            node=node.name if node is not None else None, op=node.op if node is not None else None,
                            location=location_of(node))]
    for f in produced:
        f.order = order
        findings.append(f)
