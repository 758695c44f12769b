"""The benchmark: convlint's lint beside onnx's and onnxruntime's shape inference, on the same files, in one run.

    python bench/run.py               # 1k, 10k, 100k nodes and the external-data variants, 5 repeats (~10 min)
    python bench/run.py --repeat 3 --sizes 1k,10k
    python bench/run.py --smoke       # tiny models, one repeat: checks that the bench runs

Each measurement is one fresh ``python`` process that imports its tool, then times one call:

- ``convlint``: ``convlint.lint(path)``, the whole pipeline from reading the file to the findings; the process
  then ends as the ``convlint`` command ends it, with ``os._exit`` and the graph not freed;
- ``onnx``: ``onnx.shape_inference.infer_shapes(onnx.load(path), strict_mode=True, data_prop=True)``;
- ``ort``: ``SymbolicShapeInference.infer_shapes(onnx.load(path), auto_merge=True)`` from
  ``onnxruntime.tools.symbolic_shape_infer``.

Times are medians over the repeats: ``process s``, the whole process as a user runs it (the interpreter's start,
the imports, reading the file, everything); and the call alone, loading the file included and imports not (shown
apart): wall time, and the process's cpu time, which other load on the machine disturbs less. Peak memory is the
process's peak RSS (``VmHWM``); ``Δ`` is how much of it came after the imports.

Real exports (``exports.py``: ResNet-50, BERT-base, GPT-2 built from transformers' configuration classes with random
weights, exported once into the same folder) are timed beside the generated models when torch and transformers are
installed (``--exports`` picks them; ``--smoke`` leaves them out).

The start-up rows (``--startup``, on by default) time what a pre-commit hook pays per process: ``convlint`` on
the bundled one-layer ONNX model with one error, verified in onnxruntime, against a process that only runs
``import onnx``; and ``convlint`` on the one-layer PyTorch fixture against ``import torch`` (when torch is there).

The models (see ``models.py``) are generated on demand into ``bench/out/`` (about 1 GB). The external-data
variants differ only in channel width, hence in the size of their weight file, so their rows show whether memory
follows the weights. An inotify watch (and, in convlint's process, an audit hook for Python's own opens) records
whether convlint opens the external data file; the bench fails if it does.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

TOOLS = ("convlint", "onnx", "ort")
WIDTH = 4  # channels of the first stage; the file size of the 100k-node model is about 380 MB
FULL = {"1k": 1_000, "10k": 10_000, "100k": 100_000}
FULL_EXTERNAL = ("10k", (4, 16))  # the size and the two widths of the external-data variants
SMOKE = {"100": 100, "300": 300}
SMOKE_EXTERNAL = ("100", (2, 8))
MARK = "BENCH_RESULT "


class Case:
    """One model file of the bench."""

    def __init__(self, label: str, nodes: int, width: int, external: bool, out: str):
        self.label, self.nodes, self.width, self.external = label, nodes, width, external
        suffix = "_ext" if external else ""
        self.path = os.path.join(out, f"cnn_{label}_w{width}{suffix}.onnx")
        self.data = self.path + ".data" if external else None

    def ensure(self) -> None:
        sys.path.insert(0, HERE)
        import models  # not at the top: the measured processes must import only their tool

        if not os.path.exists(self.path) or (self.data and not os.path.exists(self.data)):
            models.write(self.path, self.nodes, self.width, self.external)
        self.nodes = models.node_count(self.path)

    @property
    def name(self) -> str:
        return f"{self.label} w{self.width}" + (" ext" if self.external else "")

    @property
    def weight_bytes(self) -> int:
        if self.data:
            return os.path.getsize(self.data)
        return os.path.getsize(self.path)


class Export:
    """A real architecture exported to ONNX (``exports.py``): timed like a generated model, left out of the
    growth-per-node figures."""

    external, data, width = False, None, None

    def __init__(self, label: str, out: str):
        self.label, self.nodes = label, 0
        self.path = os.path.join(out, f"{label}.onnx")

    def ensure(self) -> None:
        sys.path.insert(0, HERE)
        import exports  # not at the top, like models
        import models

        exports.write(self.label, self.path)
        self.nodes = models.node_count(self.path)

    @property
    def name(self) -> str:
        return self.label

    @property
    def weight_bytes(self) -> int:
        return os.path.getsize(self.path)


def cases(sizes: dict, external, out: str) -> list:
    found = [Case(label, n, WIDTH, False, out) for label, n in sizes.items()]
    label, widths = external
    if label in sizes:
        found += [Case(label, sizes[label], w, True, out) for w in widths]
    return found


# --- the measured process ---------------------------------------------------------------------------------

def peak_rss_kib() -> int:
    """This process's peak RSS in KiB: VmHWM, the high-water mark of its own memory since exec.

    Not ``ru_maxrss``: on Linux a child started by vfork+exec (as subprocess does) inherits its parent's high-water
    mark in ``ru_maxrss``, so a runner that once held a large model would show in every child's figure.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def child(tool: str, path: str) -> None:
    opened = []
    if tool == "convlint":
        sys.addaudithook(lambda event, args: event == "open" and opened.append(str(args[0])))
    t0 = time.perf_counter()
    if tool == "convlint":
        import convlint
        import convlint.pipeline

        convlint.pipeline.keep_graphs()  # as the convlint command does: the process ends with os._exit, below
        base_rss = peak_rss_kib()
        t1, c1 = time.perf_counter(), time.process_time()
        report = convlint.lint(path)
        errors = len(report.errors) + sum(r.error is not None for r in report.results)
    elif tool == "onnx":
        import onnx
        import onnx.shape_inference

        base_rss = peak_rss_kib()
        t1, c1 = time.perf_counter(), time.process_time()
        onnx.shape_inference.infer_shapes(onnx.load(path), strict_mode=True, data_prop=True)
        errors = 0
    else:
        import onnx
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

        base_rss = peak_rss_kib()
        t1, c1 = time.perf_counter(), time.process_time()
        SymbolicShapeInference.infer_shapes(onnx.load(path), auto_merge=True)
        errors = 0
    t2, c2 = time.perf_counter(), time.process_time()
    data = os.path.realpath(path + ".data")
    result = {"import": t1 - t0, "time": t2 - t1, "cpu": c2 - c1, "errors": errors,
              "import_rss": base_rss, "peak_rss": peak_rss_kib(),
              "opened_data": any(os.path.realpath(p) == data for p in opened if isinstance(p, str))}
    print(MARK + json.dumps(result), flush=True)
    if tool == "convlint":
        os._exit(0)  # as the command ends (convlint.cli.run): the graph is never freed


class OpenWatch:
    """Whether any process opens ``path`` while the watch is on: Linux's inotify, so an open by C++ code (onnx
    reads external data that way) counts too. ``opened`` is None where inotify is not available, or ``path`` is
    None."""

    IN_OPEN, IN_NONBLOCK = 0x20, 0o4000

    def __init__(self, path):
        self.path, self.fd, self.opened = path, None, None

    def __enter__(self):
        if self.path is None:
            return self
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(self.IN_NONBLOCK)
            if fd >= 0 and libc.inotify_add_watch(fd, os.fsencode(self.path), self.IN_OPEN) >= 0:
                self.fd = fd
            elif fd >= 0:
                os.close(fd)
        except (OSError, AttributeError):
            pass
        return self

    def __exit__(self, *exc):
        if self.fd is None:
            return
        try:
            self.opened = bool(os.read(self.fd, 4096))
        except BlockingIOError:
            self.opened = False
        finally:
            os.close(self.fd)


# --- the runner --------------------------------------------------------------------------------------------

def measure(tool: str, path: str, timeout: float) -> dict:
    """One measurement in a fresh process, which reports its times and peak RSS on its last line."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", tool, path],
                                stdout=subprocess.PIPE, stderr=err, text=True)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            out = proc.stdout.read()
            proc.stdout.close()
            code = proc.wait()
        finally:
            timer.cancel()
        err.seek(0)
        last = (err.read().strip().splitlines() or [""])[-1][:160]
    wall = time.perf_counter() - start
    lines = [line for line in out.splitlines() if line.startswith(MARK)]
    if code != 0 or not lines:
        return {"failed": f"timeout after {timeout:.0f} s" if wall >= timeout else f"exit status {code}: {last}"}
    result = json.loads(lines[-1][len(MARK):])
    result["wall"] = wall
    return result


def median(runs: list, key: str):
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny models and one repeat (for CI)")
    ap.add_argument("--repeat", type=int, help="runs per tool and model (default 5; 1 with --smoke)")
    ap.add_argument("--sizes", help="comma-separated size labels, e.g. 1k,10k (default: all)")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated: convlint,onnx,ort")
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="where the models are kept (bench/out)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per measurement before it is abandoned")
    ap.add_argument("--exports", help="comma-separated real exports to time too (resnet50,bert-base,gpt2; default: "
                                      "all three when torch and transformers are installed, none with --smoke)")
    ap.add_argument("--no-startup", dest="startup", action="store_false",
                    help="leave out the start-up rows (a one-layer model's whole process against an import)")
    ap.add_argument("--child", nargs=2, metavar=("TOOL", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    sizes, external = (SMOKE, SMOKE_EXTERNAL) if args.smoke else (FULL, FULL_EXTERNAL)
    if args.sizes:
        wanted = [s.strip() for s in args.sizes.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in sizes]
        if unknown:
            ap.error(f"unknown size {', '.join(unknown)}; choose from {', '.join(sizes)}")
        sizes = {s: sizes[s] for s in wanted}
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if "convlint" not in tools or any(t not in TOOLS for t in tools):
        ap.error(f"--tools must include convlint and name only {', '.join(TOOLS)}")
    repeat = args.repeat or (1 if args.smoke else 5)
    os.makedirs(args.out, exist_ok=True)
    todo = cases(sizes, external, args.out) + [Export(name, args.out) for name in _exports(args)]
    for case in todo:
        t = time.perf_counter()
        case.ensure()
        print(f"model {case.name}: {case.nodes} nodes, {case.weight_bytes / 2**20:.1f} MiB of weights "
              f"({time.perf_counter() - t:.1f} s to get ready)", file=sys.stderr, flush=True)
    runs = {(c.path, t): [] for c in todo for t in tools}
    load_start = os.getloadavg()[0]
    for r in range(repeat):
        for case in todo:
            for tool in tools:
                with OpenWatch(case.data if tool == "convlint" else None) as watch:
                    result = measure(tool, case.path, args.timeout)
                if watch.opened is not None and "failed" not in result:
                    result["opened_data"] = result["opened_data"] or watch.opened
                    result["watched"] = True
                runs[case.path, tool].append(result)
                shown = result.get("failed") or f"{result['time']:.3f} s"
                print(f"[{r + 1}/{repeat}] {case.name:>14} {tool:>8}: {shown}", file=sys.stderr, flush=True)
    print(report(todo, tools, runs, repeat, (load_start, os.getloadavg()[0])))
    if args.startup:
        print(startup(repeat, args.timeout))
    opened = [c.name for c in todo if any(r.get("opened_data") for r in runs[c.path, "convlint"])]
    failed = [f"{c.name} {t}" for c in todo for t in tools if any("failed" in r for r in runs[c.path, t])]
    if opened:
        print(f"FAIL: convlint opened the external data of {', '.join(opened)}")
    if any("failed" in r for c in todo for r in runs[c.path, "convlint"]):
        print(f"FAIL: convlint did not finish on {', '.join(f for f in failed if f.endswith('convlint'))}")
        return 1
    return 1 if opened else 0


def _exports(args) -> list:
    sys.path.insert(0, HERE)
    import exports

    if args.exports is not None:
        names = [n.strip() for n in args.exports.split(",") if n.strip()]
        unknown = [n for n in names if n not in exports.EXPORTS]
        if unknown:
            raise SystemExit(f"unknown export {', '.join(unknown)}; choose from {', '.join(exports.EXPORTS)}")
        return names
    if args.smoke:
        return []
    import importlib.util

    have = all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers"))
    return list(exports.EXPORTS) if have else []


def report(todo, tools, runs, repeat, load) -> str:
    lines = [(f"convlint bench: median of {repeat} run(s) per cell, each in a fresh process "
              f"(python {sys.version.split()[0]}, {os.cpu_count()} cpu; load average {load[0]:.1f} at the start, "
              f"{load[1]:.1f} at the end)"), ""]
    head = f"{'model':>14} {'nodes':>7} {'tool':>8} {'process s':>9} {'wall s':>8} {'cpu s':>8} {'µs/node':>8} " \
           f"{'peak MiB':>9} {'Δ MiB':>7} {'import s':>8} {'errors':>6}"
    lines += [head, "-" * len(head)]
    stats = {}
    for case in todo:
        for tool in tools:
            rs = [r for r in runs[case.path, tool] if "failed" not in r]
            if not rs:
                why = runs[case.path, tool][0]["failed"] if runs[case.path, tool] else "not run"
                lines.append(f"{case.name:>14} {case.nodes:>7} {tool:>8} {why}")
                continue
            for r in rs:
                r["grown"] = r["peak_rss"] - r["import_rss"]
            s = stats[case.path, tool] = {k: median(rs, k) for k in ("wall", "time", "cpu", "peak_rss", "grown",
                                                                    "import")}
            errors = str(max(r["errors"] for r in rs)) if tool == "convlint" else "-"
            lines.append(f"{case.name:>14} {case.nodes:>7} {tool:>8} {s['wall']:>9.3f} {s['time']:>8.3f} "
                         f"{s['cpu']:>8.3f} {1e6 * s['time'] / case.nodes:>8.1f} {s['peak_rss'] / 1024:>9.0f} "
                         f"{s['grown'] / 1024:>7.0f} {s['import']:>8.3f} {errors:>6}")
    others = [t for t in tools if t != "convlint"]
    if others:
        lines += ["", "ratios, convlint / other (whole process, the call's wall time and cpu time, peak memory):"]
        for case in todo:
            mine = stats.get((case.path, "convlint"))
            parts = []
            for t in others:
                theirs = stats.get((case.path, t))
                if mine and theirs:
                    parts.append(f"/{t} {mine['wall'] / theirs['wall']:.2f}× process, "
                                 f"{mine['time'] / theirs['time']:.2f}× wall, "
                                 f"{mine['cpu'] / theirs['cpu']:.2f}× cpu, "
                                 f"{mine['peak_rss'] / theirs['peak_rss']:.2f}× memory")
                else:
                    parts.append(f"/{t} n/a")
            lines.append(f"{case.name:>14}: " + "; ".join(parts))
    embedded = [c for c in todo if isinstance(c, Case) and not c.external]
    if len(embedded) > 1:
        first = embedded[0]
        lines += ["", f"cpu time per node, and relative to {first.label} (1.00 = linear growth):"]
        for t in tools:
            base = stats.get((first.path, t))
            cells = []
            for c in embedded:
                s = stats.get((c.path, t))
                if s and base:
                    per_node = s["cpu"] / c.nodes
                    cells.append(f"{c.label} {1e6 * per_node:.1f} µs ({per_node / (base['cpu'] / first.nodes):.2f})")
                else:
                    cells.append(f"{c.label} n/a")
            lines.append(f"{t:>8}: " + ", ".join(cells))
        lines += ["", "cpu time per added node between consecutive sizes (constant = linear growth):"]
        for t in tools:
            cells = []
            for a, b in itertools.pairwise(embedded):
                sa, sb = stats.get((a.path, t)), stats.get((b.path, t))
                step = f"{1e6 * (sb['cpu'] - sa['cpu']) / (b.nodes - a.nodes):.1f} µs" if sa and sb else "n/a"
                cells.append(f"{a.label}→{b.label} {step}")
            lines.append(f"{t:>8}: " + ", ".join(cells))
    ext = [c for c in todo if c.external]
    if len(ext) > 1:
        lines += ["", "external data (the same graph, weight files of different sizes), convlint:"]
        for c in ext:
            s = stats.get((c.path, "convlint"))
            convlint_runs = runs[c.path, "convlint"]
            opened = any(r.get("opened_data") for r in convlint_runs)
            how = "inotify and audit hook" if all(r.get("watched") for r in convlint_runs) else "audit hook"
            peak = f"{s['peak_rss'] / 1024:.0f} MiB peak, {s['grown'] / 1024:.0f} MiB after imports" if s else "n/a"
            lines.append(f"{c.name:>14}: weights {c.weight_bytes / 2**20:.1f} MiB, {peak}, "
                         f"data file opened: {'YES' if opened else 'no'} ({how})")
    return "\n".join(lines)



# --- start-up ------------------------------------------------------------------------------------------------

ROOT = os.path.dirname(HERE)
STARTUP_ONNX = os.path.join(ROOT, "fixtures", "onnx", "seed_conv_channels.onnx")  # one layer, one error
STARTUP_TORCH = os.path.join(ROOT, "fixtures", "torch", "standard_conv.py")  # one nn.Conv2d


def process_time(command: list, timeout: float) -> float:
    """Wall time of one fresh process running ``command`` (its exit status is not judged: convlint exits 1 on an
    error), or None when it fails to start or times out."""
    start = time.perf_counter()
    try:
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return time.perf_counter() - start


def startup(repeat: int, timeout: float) -> str:
    """Whole processes on a one-layer model against a process that only imports the package it stands on: what
    convlint adds to ``import onnx`` (goal: 0.3 s, its verification in onnxruntime included) and to ``import
    torch`` (goal: 1.5 s)."""
    py = sys.executable
    pairs = [("onnx", [py, "-c", "import onnx"], [py, "-m", "convlint", STARTUP_ONNX], 0.3)]
    try:
        import importlib.util

        if importlib.util.find_spec("torch") is not None:
            pairs.append(("torch", [py, "-c", "import torch"],
                          [py, "-m", "convlint", f"{STARTUP_TORCH}:build", "--input-shape", "N,1,H,W"], 1.5))
    except (ImportError, ValueError):
        pass
    lines = ["", f"start-up: whole processes, median of {repeat} (load average {os.getloadavg()[0]:.1f})"]
    for name, baseline, lint, goal in pairs:
        base, mine = [], []
        for _ in range(repeat):  # interleaved, so that load falls on both alike
            base.append(process_time(baseline, timeout))
            mine.append(process_time(lint, timeout))
        if None in base or None in mine:
            lines.append(f"  {name}: did not run")
            continue
        b, m = statistics.median(base), statistics.median(mine)
        lines.append(f"  import {name} {b:.3f} s; convlint on a one-layer model {m:.3f} s: adds {m - b:+.3f} s "
                     f"(goal: at most {goal:.1f} s)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
