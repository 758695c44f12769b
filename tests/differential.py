"""Differential testing: convlint's static verdict against onnxruntime actually running the model.

A property test draws small models (typically one layer, inputs of static shapes) and calls :func:`check`:

- convlint's verdict, without verification, is "error" when some rule reports an error, else "clean";
- onnxruntime's verdict is whether the model runs on random inputs of the declared shapes;
- the two must agree, and every static error must come back ``confirmed`` from verification (the layer replayed
  alone, as a user's lint would do it).

Any op family can reuse it: write a hypothesis strategy that builds models with :func:`model`, decorate the test
with :data:`SETTINGS` and assert ``check(m) is None``; ``rules`` restricts convlint to the codes (or prefixes)
under test. For Gemm, say::

    @st.composite
    def gemms(draw):
        m, k, n = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
        trans_b = draw(st.integers(0, 1))
        w = [n, draw(st.sampled_from([k, k + 1]))] if trans_b else [k, n]
        node = helper.make_node("Gemm", ["x", "w"], ["y"], name="layer", transB=trans_b)
        return model([node], {"x": [m, k]}, {"w": w}, ["y"])

    @SETTINGS
    @given(gemms())
    def test_gemm_agrees(m):
        assert check(m) is None, check(m)

``CONVLINT_DIFFERENTIAL_EXAMPLES=20000`` runs more examples; ``CONVLINT_DIFFERENTIAL_RANDOM=1`` fresh random ones
instead of the fixed sequence the suite uses.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
import onnx
from hypothesis import HealthCheck, settings
from onnx import helper, numpy_helper

from convlint.checking import registry
from convlint.checking.engine import run_rules
from convlint.frontends.onnx_model import load_proto
from convlint.shapes.propagate import propagate
from convlint.rule import ERROR
from convlint.verify import CONFIRMED, verify_findings
from convlint.verify.runner import RAN, REFUSED, Runner

OPSET = 17
RUNNER = Runner()  # one set of session options, one watchdog, for every example
EXAMPLES = int(os.environ.get("CONVLINT_DIFFERENTIAL_EXAMPLES", "2000"))
DERANDOMIZE = not os.environ.get("CONVLINT_DIFFERENTIAL_RANDOM")


def differential_settings(examples: int = EXAMPLES):
    """Hypothesis settings for a differential test: ``examples`` examples, a fixed sequence unless asked otherwise,
    no deadline (a session is created per example)."""
    return settings(max_examples=examples, deadline=None, derandomize=DERANDOMIZE, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


SETTINGS = differential_settings()
_RNG = np.random.default_rng(0)


def model(nodes, inputs: dict, initializers: dict, outputs, opset: int = OPSET, dtype=np.float32) -> onnx.ModelProto:
    """A model from ``nodes`` (NodeProtos), ``inputs`` (name -> static shape), ``initializers`` (name -> shape or
    numpy array; shapes get random data) and ``outputs`` (names, left untyped so onnxruntime infers them)."""
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    graph_inputs = [helper.make_tensor_value_info(n, elem, list(s)) for n, s in inputs.items()]
    inits = []
    for name, value in initializers.items():
        array = value if isinstance(value, np.ndarray) else _RNG.random(tuple(value)).astype(dtype)
        inits.append(numpy_helper.from_array(array, name))
    graph = helper.make_graph(list(nodes), "differential", graph_inputs, [onnx.ValueInfoProto(name=o) for o in outputs],
                              inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def static_findings(m: onnx.ModelProto, rules=None):
    """(graph, findings) of convlint on ``m``, without verification; ``rules`` are codes or prefixes to select."""
    graph = load_proto(m, "<differential>")
    propagate(graph)
    selected = registry.load().select(list(rules) if rules else None, None)
    return graph, run_rules(graph, selected)


def runtime_verdict(m: onnx.ModelProto) -> Optional[str]:
    """None when onnxruntime runs ``m`` on random inputs of its declared shapes, else its message."""
    feeds = {}
    for vi in m.graph.input:
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        dtype = helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        feeds[vi.name] = _RNG.random(shape).astype(dtype)
    outcome = RUNNER.run(m, feeds)
    if outcome.status not in (RAN, REFUSED):
        raise AssertionError(f"onnxruntime cannot run this model at all, so it decides nothing: {outcome.message}")
    return None if outcome.status == RAN else outcome.message


def check(m: onnx.ModelProto, rules=None) -> Optional[str]:
    """None when convlint and onnxruntime agree on ``m``; else what went wrong, with the model in ONNX text."""
    graph, findings = static_findings(m, rules)
    errors = [f for f in findings if f.severity == ERROR]
    refused = runtime_verdict(m)
    problem = None
    if errors and refused is None:
        problem = "convlint reports errors but onnxruntime runs the model: " + "; ".join(
            f"{f.rule} {f.message}" for f in errors)
    elif not errors and refused is not None:
        problem = f"convlint is silent but onnxruntime refuses the model: {refused}"
    else:
        verify_findings(graph, errors, runner=RUNNER)
        unconfirmed = [f for f in errors if f.verification.status != CONFIRMED]
        if unconfirmed:
            problem = "verification did not confirm: " + "; ".join(
                f"{f.rule} {f.message} -> {f.verification.line()}" for f in unconfirmed)
    if problem is None:
        return None
    return f"{problem}\n{onnx.printer.to_text(m.graph)}"
