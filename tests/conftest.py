"""Shared test helpers: run the real CLI, build models from ONNX text, replay models in onnxruntime."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures")

# tests/corpus/ holds model files (faulty models and their clean twins), not tests: never collect them.
collect_ignore = ["corpus"]


def run_cli(*args, cwd=None, env=None):
    """Run ``python -m convlint`` as a user would; returns the CompletedProcess (text, no check)."""
    full_env = dict(os.environ, NO_COLOR="1")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "convlint", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=full_env, timeout=120)


def ort_run(model, symbol_value: int = 8):
    """Run ``model`` (a ModelProto) in onnxruntime on random inputs of its declared shapes, symbols set to
    ``symbol_value``. Returns None if it ran, else onnxruntime's error message."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 4
    try:
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        feeds = {}
        inits = {t.name for t in model.graph.initializer}
        for vi in model.graph.input:
            if vi.name in inits:
                continue
            shape = [d.dim_value if d.HasField("dim_value") else symbol_value for d in vi.type.tensor_type.shape.dim]
            import onnx

            dtype = onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
            feeds[vi.name] = np.random.default_rng(0).random(shape).astype(dtype)
        sess.run(None, feeds)
    except Exception as e:  # onnxruntime raises several exception types
        return str(e)
    return None


def torch_run(build, input_shape=None, input_dtype=None, symbol_value: int = 8, weights=None):
    """Build a PyTorch model with ``build()``, load the state dict ``weights()`` into it (strict, as a training
    script would), and run it eagerly on zeros of ``input_shape`` (symbols set to ``symbol_value``). Returns None if
    it ran, else PyTorch's error message (from the constructor, the load or the forward)."""
    import torch

    try:
        model = build()
        if weights is not None:
            model.load_state_dict(weights())
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    if not input_shape:
        return None
    shapes = [input_shape] if isinstance(input_shape, str) else list(input_shape)
    xs = [torch.zeros([int(d) if d.strip().isdigit() else symbol_value for d in s.split(",")],
                      dtype=getattr(torch, input_dtype or "float32")) for s in shapes]
    try:
        with torch.no_grad():
            model(*xs)
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return None


@pytest.fixture
def cli():
    return run_cli
