"""``convlint.summary`` over real torchvision and timm models: parameters against ``sum(p.numel())``, MACs against
``torch.utils.flop_counter.FlopCounterMode`` (FLOPs / 2), and the summary's time against the lint's.

    .venv-zoo/bin/python bench/summary_zoo.py                          # the default sample (below)
    .venv-zoo/bin/python bench/summary_zoo.py --models tv:resnet50,timm:vit_tiny_patch16_224 --json out.json
    .venv-zoo/bin/python bench/summary_zoo.py --symbolic               # also N,C,H,W: the domain, and the times
    .venv-zoo/bin/python bench/summary_zoo.py --onnx                   # also the ONNX export's summary

Each model is built as bench/zoo.py builds it (no weights, meta device, eval mode) and summarized at its native
size ``N,C,h,w`` (so MACs are per sample); with ``--symbolic`` also at ``N,C,H,W``. Times are in-process, one model
after the other, each the median of ``--repeat`` runs (after a warm-up run of the lint). A model that takes longer
than ``--timeout`` seconds in a step is reported as such. Prints a table and, with ``--json``, writes the records.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SAMPLE = (
    "tv:resnet18", "tv:resnet50", "tv:mobilenet_v3_large", "tv:efficientnet_b0", "tv:convnext_tiny",
    "tv:vit_b_16", "tv:swin_t", "tv:densenet121", "tv:regnet_y_400mf", "tv:squeezenet1_0",
    "tv:shufflenet_v2_x0_5", "tv:googlenet", "tv:maxvit_t", "tv:lraspp_mobilenet_v3_large",
    "timm:vit_tiny_patch16_224", "timm:deit_tiny_patch16_224", "timm:convnextv2_atto", "timm:mobilenetv3_small_050",
    "timm:levit_128s", "timm:efficientformerv2_s0", "timm:resnet10t", "timm:coat_lite_tiny", "timm:gmlp_ti16_224",
    "timm:tinynet_e",
)


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def timed(fn, timeout: float, repeat: int = 1):
    """(result of the last call, median seconds) or raises _Timeout."""
    times, out = [], None
    for _ in range(repeat):
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(int(timeout))
        t = time.perf_counter()
        try:
            out = fn()
        finally:
            signal.alarm(0)
        times.append(time.perf_counter() - t)
    return out, statistics.median(times)


def flop_counter_macs(model, shape) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:  # autograd on: nn.MultiheadAttention's fused fast path is an op flop_counter does not count
        model(torch.empty(*shape, device="meta"))
    return counter.get_total_flops() // 2


def linear_algebra(summary):
    """The summary's MACs without the normalizations' (flop_counter counts none for them)."""
    rows = [row.macs for row in summary.layers if "norm" not in row.kind.lower()]
    return sum(rows) if all(type(m) is int for m in rows) else None


def onnx_summary(model_id: str, shape) -> dict:
    """The summary of the model's ONNX export (built again on the CPU, random weights; TorchScript exporter, opset
    17), at the same size: its parameters and its linear algebra's MACs (an eval-mode export folds BatchNorms)."""
    import tempfile

    import convlint
    import torch
    from zoo import build

    model = build(model_id, "cpu")[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        try:
            torch.onnx.export(model, (torch.zeros(*shape),), path, opset_version=17, dynamo=False)
        except Exception as e:
            return {"onnx_error": f"export: {type(e).__name__}: {str(e)[:200]}"}
        s = convlint.summary(path)
    if s.error:
        return {"onnx_error": s.error}
    return {"onnx_params": s.params, "onnx_macs_linear_algebra": linear_algebra(s)}


def one(model_id: str, a) -> dict:
    import convlint
    import torch
    from zoo import build

    torch.set_num_threads(1)
    rec = {"model": model_id}
    try:
        model, c, h, w, family, built_on = build(model_id, "meta")
    except Exception as e:
        rec["error"] = f"build: {type(e).__name__}: {str(e)[:200]}"
        return rec
    rec["params_true"] = sum(p.numel() for p in model.parameters())
    native = f"N,{c},{h},{w}"
    try:
        convlint.lint(model, input_shape=native, verify=False)  # warm-up
        _, rec["lint_s"] = timed(lambda: convlint.lint(model, input_shape=native, verify=False), a.timeout, a.repeat)
        s, rec["summary_s"] = timed(lambda: convlint.summary(model, input_shape=native), a.timeout, a.repeat)
    except _Timeout:
        rec["error"] = f"timeout ({a.timeout} s) at {native}"
        return rec
    if s.error:
        rec["error"] = s.error
        return rec
    rec.update(params=s.params, macs=s.macs if type(s.macs) is int else str(s.macs), rows=len(s.layers),
               macs_linear_algebra=linear_algebra(s),
               domain_native=s.domain.text())
    try:
        rec["flop_counter_macs"] = flop_counter_macs(model, (1, c, h, w))
    except Exception as e:
        rec["flop_counter_error"] = f"{type(e).__name__}: {str(e)[:200]}"
    if a.onnx:
        rec.update(onnx_summary(model_id, (1, c, h, w)))
    if a.symbolic:
        shape = f"N,{c},H,W"
        try:
            _, rec["lint_sym_s"] = timed(lambda: convlint.lint(model, input_shape=shape, verify=False), a.timeout)
            sym, rec["summary_sym_s"] = timed(lambda: convlint.summary(model, input_shape=shape), a.timeout)
            rec["domain"] = sym.domain.text()
        except _Timeout:
            rec["symbolic_error"] = f"timeout ({a.timeout} s)"
    return rec


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(SAMPLE))
    p.add_argument("--symbolic", action="store_true")
    p.add_argument("--onnx", action="store_true")
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--json")
    a = p.parse_args(argv)
    records = []
    print(f"{'model':34} {'params':>12} {'= numel':>8} {'MACs':>14} {'flop_counter/2':>14} {'ratio*':>7} "
          f"{'lint s':>7} {'summary s':>9}  domain", flush=True)
    for model_id in a.models.split(","):
        rec = one(model_id, a)
        records.append(rec)
        if "error" in rec:
            print(f"{model_id:34} {rec['error']}", flush=True)
            continue
        fc = rec.get("flop_counter_macs")
        ratio = f"{rec['macs_linear_algebra'] / fc:.4f}" if fc and rec["macs_linear_algebra"] else "-"
        print(f"{model_id:34} {rec['params']:>12,} {str(rec['params'] == rec['params_true']):>8} "
              f"{rec['macs'] if type(rec['macs']) is str else format(rec['macs'], ','):>14} "
              f"{format(fc, ',') if fc else '-':>14} {ratio:>7} {rec['lint_s']:7.2f} {rec['summary_s']:9.2f}  "
              f"{rec.get('domain', rec['domain_native'])}", flush=True)
        if a.onnx:
            print(f"{'  its ONNX export':34} {rec.get('onnx_params', '-'):>12,} {'':>8} "
                  f"{format(rec['onnx_macs_linear_algebra'], ',') if rec.get('onnx_macs_linear_algebra') else '-':>14}"
                  f"  {rec.get('onnx_error', '')}", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(records, f, indent=2)
    bad = [r for r in records if "error" not in r and r["params"] != r["params_true"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
