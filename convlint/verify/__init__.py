"""Verification: each error finding replayed alone in its model's runtime, so that an error comes with a runnable
witness. An ONNX model is judged by onnxruntime, as below. A node that stands for a PyTorch call
(``node.torch_call``) is judged by PyTorch (:mod:`.torch_replay`), with onnxruntime's verdict on its export kept
beside PyTorch's (``verification.export``); it never overrules PyTorch, and nothing PyTorch refuses is lowered.

For every error finding on a node, :func:`verify_findings` builds a one-node model from that layer
(:mod:`.replay`), with concrete sizes for the model's symbols (:mod:`.witness`), and runs it in onnxruntime
(:mod:`.runner`). The verdict goes in ``finding.verification``:

- ``confirmed``: onnxruntime refuses the layer; its own message is kept.
- ``not reproduced``: onnxruntime ran the layer; the finding is lowered to a warning, and the verdict says so.
- ``unverifiable``: the layer cannot be replayed alone (a custom-domain or training op, an opset onnxruntime does
  not load, tensors too large to make, a fault of the graph around the node rather than of the node); the reason is
  given and the finding keeps its severity.

A rule whose fault is not in the node alone says what the replay needs in the finding's evidence
(:class:`~convlint.rule.Evidence`, given as ``Rule.finding(node, message, hint, **evidence)``):

- ``undefined=(names)``: values the replay leaves undefined, as the model does (CL003);
- ``nodes=(names)``: nodes replayed together with the finding's node (CL004: the nodes on a cycle);
- ``replay_shapes={name: shape}``: inputs replayed with another shape, so that a node with several faults shows
  onnxruntime refusing this one (CL102 feeds the channels the weight expects, leaving only the group fault).
- ``replay_types={name: dtype}``: outputs the replay declares with the element type the model declares, when that
  declaration is the fault (CL803);
- ``nonfinite=True`` (with ``nodes``): a precision warning, confirmed when the replay returns NaN or an infinity
  (CL801); a warning is verified only then;
- ``no_kernel=True``: the fault is that onnxruntime has no kernel for the layer (CL805), which its refusal to
  create the replay's session confirms;
- ``replay_declared=True``: the layer is replayed from its PyTorch declaration (``node.declared``), for a layer
  PyTorch refuses to construct (CL102 on ``nn.Conv2d(1, 4, 3, groups=2)``); see :mod:`.declared`.
- ``replay_checkpoint=True``: a ``--weights`` checkpoint's difference from the model, judged by PyTorch's own
  ``load_state_dict`` on the checkpoint's headers as meta tensors; see :mod:`.checkpoint`.

A finding of a whole-graph rule without such evidence is ``unverifiable``. Findings with the same replay share it.
Nothing here raises: a replay that fails for any reason of ours makes the verdict ``unverifiable``, and the lint
goes on.
"""

from __future__ import annotations

import time

from convlint.rule import ERROR, WARNING
from convlint.verify.verdict import CONFIRMED, NOT_REPRODUCED, UNVERIFIABLE, Verification, Witness

__all__ = ["verify_findings", "Verification", "Witness", "CONFIRMED", "NOT_REPRODUCED", "UNVERIFIABLE"]

GRAPH_FAULT = ("the fault lies in how the graph connects this node, which a replay of the node alone cannot show")


def verify_findings(graph, findings, timeout: float = None, runner=None) -> None:
    """Give every error finding of ``findings`` (found on ``graph``) a verdict from its runtime, in place."""
    errors = [f for f in findings if f.severity == ERROR or f.evidence.nonfinite]
    if not errors:
        return
    try:
        if runner is None:
            from convlint.verify.runner import TIMEOUT, shared

            runner = shared(TIMEOUT if timeout is None else timeout)
        nodes = list(graph.walk())
    except Exception as e:  # onnxruntime missing or broken: say so on each error, never abort the lint
        for f in errors:
            f.verification = Verification(UNVERIFIABLE, f"onnxruntime is not usable here ({type(e).__name__}: {e})")
        return
    from convlint.verify.witness import Upstream

    verdicts, upstream, judged = {}, Upstream(), {}
    for f in errors:
        node = _node_of(f, nodes)
        if f.evidence.replay_checkpoint:  # a checkpoint against the model: PyTorch's load_state_dict judges it
            from convlint.verify.checkpoint import verify_checkpoint

            f.verification = verify_checkpoint(f, graph, judged)
        elif node is not None and node.torch_call is not None:  # a PyTorch call: PyTorch judges it
            from convlint.verify.torch_replay import judge

            export = verify_declared(node, runner) if f.evidence.replay_declared else \
                replayed_alone(f, node, nodes, graph, runner, upstream, verdicts, export=True)
            f.verification = judge(f, node, graph, upstream, judged, export)
        elif f.evidence.replay_declared:
            f.verification = verify_declared(node, runner) if node is not None else \
                Verification(UNVERIFIABLE, "the finding is about the whole model")
            continue
        elif f.evidence.not_replayable:  # a fault of PyTorch's semantics (a module's declaration), not ONNX's
            f.verification = Verification(UNVERIFIABLE, f.evidence.not_replayable)
            continue
        else:
            f.verification = replayed_alone(f, node, nodes, graph, runner, upstream, verdicts)
        if f.verification.status == NOT_REPRODUCED and f.severity == ERROR:
            f.severity = WARNING


def replayed_alone(f, node, nodes, graph, runner, upstream, verdicts, export=False) -> Verification:
    """onnxruntime's verdict on the node of finding ``f`` replayed alone (or with the nodes its evidence names),
    shared by the findings with the same replay through ``verdicts``."""
    together = _named(nodes, f.evidence.nodes)
    undefined = tuple(f.evidence.undefined)
    if node is None or f.order == 0 and not (together or undefined):
        return Verification(UNVERIFIABLE, GRAPH_FAULT if node is not None else "the finding is about the whole model")
    shapes_for, types_for = dict(f.evidence.replay_shapes), dict(f.evidence.replay_types)
    key = (id(node), tuple(id(n) for n in together), undefined, tuple(sorted(map(str, shapes_for.items()))),
           tuple(sorted(types_for.items())), export, f.evidence.no_kernel, f.evidence.nonfinite)
    if key not in verdicts:
        verdicts[key] = verify_node(node, graph, runner, together, undefined, upstream, shapes_for, export,
                                    types_for, f.evidence.no_kernel, f.evidence.nonfinite)
    return verdicts[key]


def verify_declared(node, runner) -> Verification:
    """Replay the ONNX equivalent of ``node``'s declaration (a PyTorch layer PyTorch refuses to construct, so that
    only its declared arguments exist; see :mod:`.declared`); the verdict says what was replayed."""
    from convlint.verify.declared import declared_layer
    from convlint.verify.replay import Unverifiable

    try:
        layer, graph, replayed = declared_layer(node)
    except Unverifiable as e:
        return Verification(UNVERIFIABLE, str(e))
    verdict = verify_node(layer, graph, runner)
    if verdict.status != UNVERIFIABLE:
        verdict.replayed = replayed
    return verdict


def _node_of(finding, nodes):
    """The node a finding is on: the one its rule gave it (``Finding.node_ref``), else, for a finding made without
    one, the node of its name."""
    if finding.node_ref is not None:
        return finding.node_ref
    if finding.node is None:
        return None
    return next((n for n in nodes if n.name == finding.node), None)


def _named(nodes, names) -> list:
    wanted = set(names)
    return [n for n in nodes if n.name in wanted]


def verify_node(node, graph, runner, together=(), undefined=(), upstream=None, shapes_for=None,
                export: bool = False, types_for=None, kernel: bool = False, nonfinite: bool = False) -> Verification:
    """Replay ``node`` of ``graph`` alone (or with the nodes ``together``, leaving the values named in ``undefined``
    undefined, the inputs named in ``shapes_for`` with those shapes, and the outputs named in ``types_for`` declared
    with those element types) in ``runner`` and say what onnxruntime made of it; with ``kernel``, its having no
    kernel for the layer confirms the finding, and with ``nonfinite`` (a precision warning), a run that returns NaN
    or an infinity. With ``export``, the verdict is a statement about a PyTorch layer's export, which PyTorch judges: sizes
    from 2 up (as the PyTorch replay takes them), and a run says what it returned."""
    from convlint.verify.replay import Unverifiable, build
    from convlint.verify.runner import CANNOT, NO_KERNEL, RAN, REFUSED

    start = time.perf_counter()
    try:
        replay = build(node, graph, together, undefined, upstream, shapes_for, floor=2 if export else 1,
                       types_for=types_for)
    except Unverifiable as e:
        return Verification(UNVERIFIABLE, str(e), seconds=time.perf_counter() - start)
    except Exception as e:  # a bug of ours must not stop the lint
        return Verification(UNVERIFIABLE, f"the replay could not be built ({type(e).__name__}: {e}); this is a bug "
                                          f"in convlint", seconds=time.perf_counter() - start)
    try:
        outcome = runner.run(replay.model, replay.feeds, optimized=nonfinite)
    except Exception as e:
        return Verification(UNVERIFIABLE, f"the replay failed ({type(e).__name__}: {e}); this is a bug in convlint",
                            replay.witness, time.perf_counter() - start)
    status, message = {RAN: NOT_REPRODUCED, CANNOT: UNVERIFIABLE,
                       NO_KERNEL: CONFIRMED if kernel else UNVERIFIABLE}.get(outcome.status, CONFIRMED), outcome.message
    if nonfinite:
        if outcome.status == RAN:
            status = CONFIRMED if outcome.nonfinite else NOT_REPRODUCED
            message = _nonfinite_words(outcome.nonfinite)
        elif outcome.status == REFUSED:
            status, message = UNVERIFIABLE, f"onnxruntime refuses the replay: {message}"
    elif outcome.status == RAN and export and outcome.shapes:
        shape = outcome.shapes[0]
        message = ("an empty tensor " if 0 in shape else "a tensor of shape ") + \
            "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
    elif outcome.status == RAN and node.origin is not None and node.origin.kind == "torch" and \
            any(0 in shape for shape in outcome.shapes):
        status, message = UNVERIFIABLE, ("onnxruntime returns an empty tensor for this layer where PyTorch refuses to "
                                         "run it, so its ONNX equivalent cannot decide")
    return Verification(status, message, replay.witness, time.perf_counter() - start, outcome.log, replay.layers,
                        outputs=outcome.shapes, about_values=nonfinite and outcome.status == RAN)


def _nonfinite_words(found) -> str:
    """``NaN in 'y' (inf in 'h', 's')``: the last output's NaN first, the infinities before it after."""
    if not found:
        return "finite values only"
    nan = [name for name, what in found if what == "NaN"]
    inf = [name for name, what in found if what != "NaN"]
    said = [f"{kind} in " + ", ".join(repr(n) for n in names) for kind, names in (("NaN", nan), ("inf", inf)) if names]
    return said[0] + (f" ({said[1]})" if len(said) > 1 else "")
