"""The rule engine: walks the graph, gives each node to the rules that look at its op, collects findings.

A rule that raises becomes one ``CL000 internal-error`` finding naming the rule and the node; the run goes on.
"""

from __future__ import annotations

from collections import defaultdict

from convlint.checking import registry
from convlint.rule import ALL_OPS, SEVERITY_RANK, WARNING, Finding, location_of


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
    every = by_op.pop(ALL_OPS, [])
    for order, node in enumerate(graph.walk(), start=1):
        chosen = by_op.get(node.op, ()) if not node.domain else ()  # a custom domain's "Conv" is not ONNX's
        for rule in (*chosen, *every):
            _collect(findings, rule, node, lambda r=rule, n=node: r.check(n, ctx), order)
    return _without_explained_fallbacks(findings, rules)


def _without_explained_fallbacks(findings, rules) -> list:
    """Drop a fallback rule's findings on nodes another rule already reports on, at the same severity or above, or
    with the exact condition on the sizes for which the node works (``Finding.condition``: a note that the model
    takes sequences up to 512 explains PyTorch refusing the example size 1009)."""
    fallback = {r.code for r in rules if r.fallback}
    if not fallback:
        return findings
    worst = {}
    for f in findings:
        if f.order and f.rule not in fallback:
            rank = len(SEVERITY_RANK) if f.condition else SEVERITY_RANK.get(f.severity, 0)
            worst[f.order] = max(worst.get(f.order, -1), rank)
    return [f for f in findings
            if not (f.rule in fallback and worst.get(f.order, -1) >= SEVERITY_RANK.get(f.severity, 0))]


def _collect(findings, rule, node, call, order):
    try:
        produced = list(call() or ())
    except Exception as e:
        where = f" on node {node.name!r}" if node is not None else ""
        source = registry.load().sources.get(rule.code, registry.BUILTIN)
        plugin = f", from plugin {source}" if source != registry.BUILTIN else ""
        produced = [Finding("CL000", "internal-error", WARNING,
                            f"rule {rule.code} ({rule.name}{plugin}) crashed{where}: {type(e).__name__}: {e}",
                            hint=f"this is a bug in the rule, not in your model; please report it to {source}",
                            node=node.name if node is not None else None, op=node.op if node is not None else None,
                            location=location_of(node), node_ref=node)]
    for f in produced:
        f.order = f.order or order  # a graph rule may place its finding on a node itself
        findings.append(f)
