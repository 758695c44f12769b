"""What verification costs per flagged node: building the one-node replay, and running it in onnxruntime.

    python bench/verify_bench.py            # 200 flagged layers per model, 5 repeats
    python bench/verify_bench.py --layers 50 --repeat 3

Each model has ``--layers`` faulty convolutions side by side on one input, so every one of them is flagged:

- ``static``: input (1, 3, 32, 32), 3×3 convolutions whose weights want 4 channels (CL101);
- ``symbolic``: input (N, 3, H, W), the faulty convolutions behind two shared stride-2 poolings, so the witness
  needs a search over H and W (done once: layers that read the same value share it);
- ``chains``: as symbolic, each faulty convolution behind poolings of its own, so each needs its own search;
- ``wide``: as static, with weights of 128 channels in and out (0.6 MB each, embedded): the cost of copying
  real tensors into the replay;
- ``deep``: the ResNet-like model of ``models.py`` (``--deep`` nodes, input (N, 3, H, W)) with ``--layers`` of its
  convolutions, spread over its depth, given a weight with one input channel too many: each witness search reads
  the whole way up to the input (what is learnt on the way is shared between the layers of one model).

For each, the lint (read, propagate, rules) is timed without verification, then ``verify_findings`` alone on a
fresh copy of the findings, with a warm onnxruntime (the first session of a process pays its one-off set-up,
shown apart). Figures are medians over the repeats, in milliseconds per flagged node, split into the replay's
construction (witness included) and onnxruntime (session creation and run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import onnx
from onnx import helper, numpy_helper

from convlint.checking import registry
from convlint.checking.engine import run_rules
from convlint.frontends.onnx_model import load_proto
from convlint.shapes.propagate import propagate
from convlint.rule import ERROR
from convlint.verify import CONFIRMED, verify_findings
from convlint.verify import replay as replay_mod
from convlint.verify import witness
from convlint.verify.runner import shared


def faulty_model(layers: int, symbolic: bool, channels: int, chains: bool = False) -> onnx.ModelProto:
    dims = ["N", 3, "H", "W"] if symbolic else [1, 3, 32, 32]
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, dims)
    nodes, inits, outs = [], [], []
    rng = np.random.default_rng(0)
    source = "x"
    if symbolic and not chains:
        nodes.append(helper.make_node("MaxPool", ["x"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]))
        nodes.append(helper.make_node("MaxPool", ["p1"], ["p2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]))
        source = "p2"
    for i in range(layers):
        if chains:  # a pooling chain of its own, so that no two layers share their witness search
            k = [2 + i % 7, 2 + i // 7 % 7]
            nodes.append(helper.make_node("MaxPool", ["x"], [f"a{i}"], name=f"pool_a{i}", kernel_shape=k, strides=k))
            nodes.append(helper.make_node("AveragePool", [f"a{i}"], [f"b{i}"], name=f"pool_b{i}",
                                          kernel_shape=[2 + i // 49 % 3, 2], strides=[2, 1 + i % 2]))
            source = f"b{i}"
        w = rng.random((channels, channels, 3, 3), dtype=np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("Conv", [source, f"w{i}"], [f"y{i}"], name=f"conv{i}"))
        outs.append(onnx.ValueInfoProto(name=f"y{i}"))
    graph = helper.make_graph(nodes, "bench", [x], outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def deep_model(nodes: int, layers: int) -> onnx.ModelProto:
    """The ResNet-like model of ``bench/models.py`` (input (N, 3, H, W)), with ``layers`` of its 3×3 convolutions,
    spread over its depth, given weights with one input channel too many."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import models

    graph, weights = models.build(nodes, 8)
    convs = [name for name, dims in weights if name.endswith(".conv.weight") and len(dims) == 4 and dims[2] == 3]
    step = max(1, len(convs) // layers)
    broken = set(convs[step - 1::step][:layers])
    for name, dims in weights:
        if name in broken:
            dims = (dims[0], dims[1] + 1) + tuple(dims[2:])
        graph.initializer.append(numpy_helper.from_array(np.zeros(dims, np.float32), name))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def lint(model, rules):
    graph = load_proto(model, "<bench>")
    propagate(graph)
    return graph, run_rules(graph, rules)


def measure(name: str, model, layers: int, repeat: int, rules) -> dict:
    runner = shared()
    lint_ms, total, build, ort = [], [], [], []
    for _ in range(repeat):
        witness.clear_caches()
        t0 = time.perf_counter()
        graph, findings = lint(model, rules)
        lint_ms.append((time.perf_counter() - t0) * 1e3)
        errors = [f for f in findings if f.severity == ERROR]
        assert len(errors) == layers, (name, len(errors))
        t0 = time.perf_counter()
        verify_findings(graph, errors, runner=runner)
        total.append((time.perf_counter() - t0) * 1e3 / layers)
        assert all(f.verification.status == CONFIRMED for f in errors), errors[0].verification.line()
        b = o = 0.0
        witness.clear_caches()
        upstream = witness.Upstream()
        for f in errors:
            t0 = time.perf_counter()
            rep = replay_mod.build(f.node_ref, graph, upstream=upstream)
            t1 = time.perf_counter()
            runner.run(rep.model, rep.feeds)
            t2 = time.perf_counter()
            b, o = b + t1 - t0, o + t2 - t1
        build.append(b * 1e3 / layers)
        ort.append(o * 1e3 / layers)
    return {"model": name, "layers": layers, "lint ms": statistics.median(lint_ms),
            "verify ms/node": statistics.median(total), "replay ms/node": statistics.median(build),
            "ort ms/node": statistics.median(ort), "witness": errors[0].verification.witness.describe()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--deep", type=int, default=5000, help="nodes of the deep model")
    args = parser.parse_args()
    rules = registry.load().select(None, None)

    t0 = time.perf_counter()
    warm = faulty_model(1, False, 4)
    graph, findings = lint(warm, rules)
    verify_findings(graph, findings)
    print(f"first verification in a process (imports onnxruntime, first session): "
          f"{(time.perf_counter() - t0) * 1e3:.1f} ms")

    rows = [measure("static", faulty_model(args.layers, False, 4), args.layers, args.repeat, rules),
            measure("symbolic", faulty_model(args.layers, True, 4), args.layers, args.repeat, rules),
            measure("chains", faulty_model(args.layers, True, 4, chains=True), args.layers, args.repeat, rules),
            measure("wide", faulty_model(args.layers, False, 128), args.layers, args.repeat, rules),
            measure("deep", deep_model(args.deep, args.layers), args.layers, args.repeat, rules)]
    cols = ["model", "layers", "lint ms", "verify ms/node", "replay ms/node", "ort ms/node"]
    print("  ".join(f"{c:>14}" for c in cols))
    for r in rows:
        print("  ".join(f"{r[c]:>14.3f}" if isinstance(r[c], float) else f"{r[c]:>14}" for c in cols))
    for r in rows:
        print(f"{r['model']}: witness {r['witness']}")


if __name__ == "__main__":
    main()
