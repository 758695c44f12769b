"""onnxruntime as the oracle for shape propagation: run a model with every intermediate value exposed as an output,
and compare each real shape (and each small folded content) with what convlint propagated.

convlint's symbols are tied to real sizes through the graph inputs: an input dim that convlint calls ``N`` takes the
size the fed tensor has on that axis, and :func:`convlint.core.dims.substitute` turns every propagated dim into a number.
Unknown dims are allowed, and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
import sympy

from convlint.core import dims
from convlint.shapes.propagate import propagate
from convlint.frontends import load_graph


def propagated(model, input_shapes=()):
    """convlint's Graph for ``model`` (a path or ModelProto), with shapes propagated."""
    graph = load_graph(model, input_shapes)
    propagate(graph)
    return graph


def expose_all(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose main graph outputs every value its nodes produce."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    have = {o.name for o in out.graph.output}
    for node in out.graph.node:
        for name in node.output:
            if name and name not in have:
                out.graph.output.append(onnx.ValueInfoProto(name=name))
                have.add(name)
    return out


def run_all(model: onnx.ModelProto, feeds: dict) -> dict:
    """Every tensor value of ``model``'s main graph, by name, as onnxruntime computes it on ``feeds``."""
    import onnxruntime as ort

    exposed = expose_all(model)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 4
    sess = ort.InferenceSession(exposed.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return {n: v for n, v in zip(names, sess.run(names, feeds)) if isinstance(v, np.ndarray)}


def sizes_from_feeds(graph, feeds: dict) -> dict:
    """The size each input symbol takes in ``feeds``: {symbol name: int}."""
    sizes = {}
    for v in graph.inputs:
        arr = feeds.get(v.name)
        if arr is None or v.shape is None or len(v.shape) != np.ndim(arr):
            continue
        for d, real in zip(v.shape, np.shape(arr)):
            if isinstance(d, sympy.Symbol):
                sizes[d.name] = int(real)
    return sizes


@dataclass
class Comparison:
    """How convlint's shapes compare with onnxruntime's on one run."""

    values: int = 0  # tensor values onnxruntime produced and convlint has a Value for
    known: int = 0  # of those, how many convlint knew fully (rank and every dim)
    unknown_dims: int = 0  # dims convlint left unknown (None) among values of known rank
    unknown_rank: int = 0  # values whose rank convlint did not know
    data_checked: int = 0  # values whose folded contents convlint knew and that were compared
    mismatches: list = field(default_factory=list)  # (value, convlint's, onnxruntime's) that disagree

    @property
    def known_fraction(self) -> float:
        return self.known / self.values if self.values else 1.0

    def add(self, other: "Comparison") -> "Comparison":
        return Comparison(self.values + other.values, self.known + other.known,
                          self.unknown_dims + other.unknown_dims, self.unknown_rank + other.unknown_rank,
                          self.data_checked + other.data_checked, self.mismatches + other.mismatches)


def compare(graph, actual: dict, sizes: dict) -> Comparison:
    """Compare each value of ``graph`` that onnxruntime computed (``actual``) with its propagated shape and contents."""
    result = Comparison()
    for name, real in actual.items():
        v = graph.values.get(name)
        if v is None or v.is_param:
            continue
        result.values += 1
        if v.shape is None:
            result.unknown_rank += 1
            continue
        got = tuple(dims.substitute(d, sizes) for d in v.shape)
        if len(got) != real.ndim:
            result.mismatches.append((name, dims.pretty_shape(v.shape), real.shape))
            continue
        unknown = sum(1 for d in got if d is None or type(d) is not int)
        result.unknown_dims += unknown
        result.known += unknown == 0
        if any(type(d) is int and d != r for d, r in zip(got, real.shape)):
            result.mismatches.append((name, dims.pretty_shape(v.shape), real.shape))
            continue
        data = v.data
        if data is not None:
            result.data_checked += 1
            if not _same_contents(data, real, sizes):
                result.mismatches.append((name, f"contents {np.asarray(data).tolist()}", real.tolist()))
    return result


def _same_contents(data, real: np.ndarray, sizes: dict) -> bool:
    data = np.asarray(data)
    if data.dtype == object:
        flat = [dims.substitute(dims.norm(x), sizes) for x in data.reshape(-1).tolist()]
        if any(type(x) is not int for x in flat):
            return True  # contents that stay symbolic cannot be checked on one run
        data = np.array(flat, dtype=np.int64).reshape(data.shape)
    if data.shape != real.shape:
        return False
    if data.dtype.kind == "f" or real.dtype.kind == "f":
        return bool(np.allclose(data.astype(np.float64), real.astype(np.float64), equal_nan=True))
    return bool(np.array_equal(data, real))
