"""Running a one-node model in onnxruntime: optimizations off, the native log captured, a time limit per run.

Graph optimizations are off so that the node keeps the user's name (onnxruntime otherwise rewrites a Conv into
``Y_nchwc``), except for a question about the values a run returns, which the optimizations decide as deployed. The native log goes to file descriptor 2, below Python; it is redirected to a temporary file around
session creation and run, so nothing reaches the terminal, and kept with the outcome. A watchdog sets
``RunOptions.terminate`` when a run exceeds its time limit.

Outcomes are told apart by onnxruntime's exception types and by a control, never by matching its messages:
``NotImplemented`` (no kernel for this op, version and type) means the layer cannot be replayed, unless that is
the fault found (CL805); a session that
fails to load is the layer's fault only if onnxruntime loads an ``Identity`` model with the same opsets and IR
version (otherwise it does not load such models at all).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
import threading
import time
from typing import NamedTuple

from convlint.core.onnx_parts import proto
from convlint.verify import protos

TIMEOUT = 10.0  # seconds per run

RAN, REFUSED, CANNOT, NO_KERNEL = "ran", "refused", "cannot", "no kernel"
_LOCK = threading.Lock()  # file descriptor 2 is one per process


class Outcome(NamedTuple):
    status: str  # RAN, REFUSED (the layer's fault), CANNOT (onnxruntime cannot run such a layer at all), NO_KERNEL
    # (no kernel for the layer's op, version and types: it cannot be replayed, unless the missing kernel is the fault)
    message: str = ""
    log: str = ""
    shapes: tuple = ()  # the output shapes, when it ran
    nonfinite: tuple = ()  # (output name, "NaN" or "inf") for each float output holding NaN or an infinity


_SHARED: dict = {}


def shared(timeout: float = TIMEOUT) -> "Runner":
    """The process's Runner for ``timeout``: its session options, control cache and watchdog thread are made once."""
    key = (os.getpid(), timeout)
    if key not in _SHARED:
        _SHARED[key] = Runner(timeout)
    return _SHARED[key]


class Runner:
    """Runs one-node models, reusing one set of session options, one control cache and one watchdog thread."""

    def __init__(self, timeout: float = TIMEOUT):
        import onnxruntime as ort

        self.ort = ort
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        so.log_severity_level = 3  # errors only; they go to the captured log
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.options = so
        self.deployed = _deployed(ort)
        self.timeout = timeout
        self.no_kernel = ort.capi.onnxruntime_pybind11_state.NotImplemented
        self._loads = {}  # (ir_version, opsets) -> None, or why onnxruntime loads no such model
        self._watchdog = _Watchdog()
        self._capture = _Capture()

    def run(self, model, feeds: dict, optimized: bool = False) -> Outcome:
        """Run ``model`` on ``feeds``; ``optimized`` runs it with onnxruntime's default graph optimizations, as a
        deployment does, for a question about the values it returns (constant folding decides whether a float16
        infinity exists at all)."""
        with self._capture:
            outcome = self._run(model, feeds, self.deployed if optimized else self.options)
        return outcome._replace(log=self._capture.text)

    def _run(self, model, feeds, options) -> Outcome:
        ort = self.ort
        try:
            session = _session(ort, model, options)
        except self.no_kernel as e:
            return Outcome(NO_KERNEL, f"onnxruntime {ort.__version__} has no kernel for this layer: {clean(e)}")
        except Exception as e:  # onnxruntime raises several exception types
            why = self._load_failure(model)
            return Outcome(CANNOT, why) if why else Outcome(REFUSED, clean(e))
        options = ort.RunOptions()
        self._watchdog.arm(options, self.timeout)
        try:
            outputs = session.run(None, feeds, options)
        except self.no_kernel as e:
            return Outcome(NO_KERNEL, f"onnxruntime {ort.__version__} has no kernel for this layer: {clean(e)}")
        except Exception as e:
            if self._watchdog.disarm():
                return Outcome(CANNOT, f"onnxruntime did not finish within the {self.timeout:g} s limit")
            return Outcome(REFUSED, clean(e))
        self._watchdog.disarm()
        names = [o.name for o in session.get_outputs()]
        return Outcome(RAN, shapes=tuple(tuple(getattr(o, "shape", ())) for o in outputs),
                       nonfinite=tuple(_nonfinite(names, outputs)))

    def _load_failure(self, model):
        """None when onnxruntime loads an Identity model with ``model``'s opsets and IR version; else why not."""
        opsets = tuple(sorted((o.domain, o.version) for o in model.opset_import))
        key = (model.ir_version, opsets)
        if key not in self._loads:
            identity = proto().NodeProto(op_type="Identity", input=["x"], output=["y"])
            control = protos.model([identity], [protos.value_info("x", proto().TensorProto.FLOAT, [1])],
                                   [proto().ValueInfoProto(name="y")], [], dict(opsets), model.ir_version)
            control.ir_version = model.ir_version  # exactly the model's: is that what onnxruntime refuses?
            try:
                _session(self.ort, control, self.options)
                self._loads[key] = None
            except Exception as e:
                stamped = ", ".join(f"{d or 'ai.onnx'} {v}" for d, v in opsets)
                self._loads[key] = (f"onnxruntime {self.ort.__version__} does not load models of IR version "
                                    f"{model.ir_version} with opsets {stamped}: {clean(e)}")
        return self._loads[key]


def _deployed(ort):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return so


def _nonfinite(names, outputs):
    import numpy as np

    for name, out in zip(names, outputs):
        if isinstance(out, np.ndarray) and out.dtype.kind == "f" and out.size:
            if np.isnan(out).any():
                yield name, "NaN"
            elif np.isinf(out).any():
                yield name, "inf"


def _session(ort, model, options):
    """A CPU session for ``model``. onnxruntime's Python layer prints its provider fallback ("EP Error ...") to
    stdout, where it would corrupt the report, so stdout is held aside meanwhile."""
    with contextlib.redirect_stdout(io.StringIO()):
        return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ")
_SOURCE = re.compile(r"^\S+\.(?:cc|h|cpp|hpp):\d+ ")
_KERNEL_PLACE = re.compile(r"^[\w:~]+(?: [\w:~]+)* : ")  # "Compute Conv : "


def clean(error) -> str:
    """onnxruntime's message without its status prefix, source location and C++ signature, on one line."""
    text = " ".join(str(error).split())
    text = _ORT_PREFIX.sub("", text)
    if "Status Message: " in text:
        text = text.split("Status Message: ", 1)[1]
    m = _SOURCE.match(text)
    if m:
        text = _drop_signature(text[m.end():])
    return text.strip()


def _drop_signature(text: str) -> str:
    """``Compute Conv : msg`` or ``void ns::f(args...) const msg`` -> ``msg``."""
    m = _KERNEL_PLACE.match(text)
    if m:
        return text[m.end():]
    start = text.find("(")
    if start < 0 or len(text[:start].split()) > 3:
        return text
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            rest = text[i + 1:].lstrip()
            return rest[len("const"):].lstrip() if rest.startswith("const") else rest
    return text


class _Capture:
    """File descriptor 2 redirected to a temporary file for the duration of a ``with`` block; ``text`` holds it."""

    def __init__(self):
        self.file = None
        self.saved = None
        self.text = ""

    def __enter__(self):
        _LOCK.acquire()
        self.text = ""
        try:
            if self.file is None:
                self.file = tempfile.TemporaryFile()
            self.file.seek(0)
            self.file.truncate()
            try:
                sys.stderr.flush()
            except Exception:
                pass
            self.saved = os.dup(2)
            os.dup2(self.file.fileno(), 2)
        except OSError:  # no fd 2 to redirect: nothing can leak either
            self.saved = None
        return self

    def __exit__(self, *exc):
        try:
            if self.saved is not None:
                os.dup2(self.saved, 2)
                os.close(self.saved)
                self.saved = None
                self.file.seek(0)
                self.text = self.file.read().decode("utf-8", errors="replace")
        finally:
            _LOCK.release()
        return False


class _Watchdog:
    """One thread that sets ``terminate`` on the armed RunOptions when its deadline passes."""

    def __init__(self):
        self.cv = threading.Condition()
        self.target = None
        self.deadline = 0.0
        self.fired = False
        self.thread = None

    def arm(self, run_options, seconds: float) -> None:
        with self.cv:
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="convlint-verify-watchdog", daemon=True)
                self.thread.start()
            self.target, self.deadline, self.fired = run_options, time.monotonic() + seconds, False
            self.cv.notify()

    def disarm(self) -> bool:
        """Stop watching; True if the deadline passed and the run was told to terminate."""
        with self.cv:
            self.target = None
            return self.fired

    def _loop(self):
        with self.cv:
            while True:
                if self.target is None:
                    self.cv.wait()
                    continue
                left = self.deadline - time.monotonic()
                if left > 0:
                    self.cv.wait(left)
                    continue
                self.target.terminate = True
                self.fired = True
                self.target = None
