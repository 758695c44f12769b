"""The model-zoo sweep: convlint on every torchvision classification, segmentation and detection model and on one
model of every timm family, at the model's native input size and fully symbolic, then real runs that test the
conditions it states.

    scripts/dev zoo-setup                            # makes .venv-zoo (torch 2.14.1, torchvision 0.29.1, timm)
    .venv-zoo/bin/python bench/zoo.py                # the whole zoo (~190 models), one model at a time
    .venv-zoo/bin/python bench/zoo.py --sample 20 -j 2 --json out.json
    .venv-zoo/bin/python bench/zoo.py --models resnet18,timm:vit_tiny_patch16_224,tv:ssd300_vgg16
    .venv-zoo/bin/python bench/zoo.py --list         # the models the sweep would lint, with their native sizes

The zoo. torchvision: every name of ``torchvision.models.list_models(module=...)`` for ``torchvision.models``,
``.segmentation`` and ``.detection``, built by ``get_model(name, weights=None)`` (detection and segmentation also
``weights_backbone=None``). timm: the architectures of ``timm.list_models()`` grouped by family, a family being the
model's module (``timm.models.vision_transformer``); from each family the model with the fewest parameters (built on
the meta device, ties broken by name), leaving out timm's own ``test_*`` models, which exist for timm's unit tests.
The per-family choice is cached in ``bench/out/`` by timm version (about 2 minutes to make).

Native size. timm: ``pretrained_cfg['input_size']``. torchvision classification: the crop size of the model's
DEFAULT weights, or ``model.image_size`` for the ViTs (built without weights they take 224, whatever the weights
say); segmentation: the DEFAULT weights' resize size (520); detection: the model's ``transform.min_size`` (a square
image of that side: 800, 320 or 300).

Each model is one fresh subprocess (``--timeout`` seconds in all, default 120) that imports torch and convlint,
builds the model with ``pretrained=False`` under ``torch.device("meta")``, then reports after each step:

1. ``convlint.lint(model, input_shape="N,C,h,w", verify=False)`` at the native size ``h, w``;
2. the same at ``N,C,H,W``;
3. a plain meta forward ``model(torch.empty(1, C, h, w, device="meta"))`` under ``no_grad``, timed after the lints
   (torch warmed up alike for both), to give the ratio lint time / forward time.

A model whose process times out keeps the steps it finished. Status: ``ok``, ``timeout``, ``import failed`` (torch,
torchvision, timm or convlint), ``build failed`` (the constructor raised), ``lint crashed`` (``convlint.lint`` raised:
a bug of convlint's) or ``worker died`` (no report, e.g. killed for memory).

The condition check. For a sample of models (``--check K``, default 12, drawn with ``--seed`` from the models under
``--check-max-params`` parameters whose symbolic lint states a condition in H and W), each distinct condition is
tested by two real runs of the model (built on the CPU with random weights, eval mode, batch 1, ``no_grad``): one at
a size that satisfies every condition the model states (it must run) and one that breaks this condition and keeps
the others (it must fail; a condition implied by another, such as H % 8 beside H % 16, is broken with the other).
Sizes are the ones nearest to the native size (square first at equal distance), up to twice the native size.
A condition is *true* when both runs do as it says, *false* when either does not; *unchecked* when no size within
the range breaks it alone or it cannot be read (a '…' in it, or names other than N, H and W).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import time
import traceback
from fractions import Fraction

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
MARK = "ZOO_RESULT "
TV_MODULES = ("", "segmentation", "detection")  # torchvision.models, .segmentation, .detection


# ---------------------------------------------------------------------------------------------------------------
# the zoo


def _tv_module(kind: str):
    import torchvision.models as tvm

    return getattr(tvm, kind) if kind else tvm


def torchvision_models() -> list:
    """``tv:NAME`` for every torchvision classification, segmentation and detection model."""
    from torchvision.models import list_models

    return [f"tv:{name}" for kind in TV_MODULES for name in list_models(module=_tv_module(kind))]


def _tv_kind(name: str) -> str:
    from torchvision.models import list_models

    for kind in TV_MODULES[1:]:
        if name in list_models(module=_tv_module(kind)):
            return kind
    return ""


def timm_families(progress=True) -> dict:
    """{family: smallest model}, by parameters on the meta device; ``test_*`` models left out. Cached by version."""
    import timm
    import torch
    from timm.models._registry import _model_to_module

    cache = os.path.join(OUT, f"zoo-timm-families-{timm.__version__}.json")
    if os.path.exists(cache):
        with open(cache) as f:
            return json.load(f)["smallest"]
    by_family = {}
    for name in timm.list_models():
        if not name.startswith("test_"):
            by_family.setdefault(_model_to_module[name], []).append(name)
    smallest, sizes = {}, {}
    for i, (family, names) in enumerate(sorted(by_family.items())):
        if progress:
            print(f"\rchoosing the smallest model of each timm family: {i + 1}/{len(by_family)} {family:40}",
                  end="", file=sys.stderr, flush=True)
        counted = []
        for name in names:
            try:
                with torch.device("meta"):
                    model = timm.create_model(name, pretrained=False)
                counted.append((sum(p.numel() for p in model.parameters()), name))
            except Exception as e:  # a model that cannot be built here is not a candidate
                sizes[name] = f"build failed: {type(e).__name__}: {str(e)[:200]}"
                continue
            sizes[name] = counted[-1][0]
        if counted:
            smallest[family] = min(counted)[1]
        else:
            smallest[family] = names[0]  # none builds: sweep the first, whose failure the sweep reports
    if progress:
        print(file=sys.stderr)
    os.makedirs(OUT, exist_ok=True)
    with open(cache, "w") as f:
        json.dump({"timm": timm.__version__, "smallest": smallest, "parameters": sizes}, f, indent=1, sort_keys=True)
    return smallest


def torchvision_families() -> list:
    """``tv:NAME`` of the smallest model (parameters, ties by name) of each torchvision module that builds models
    (``torchvision.models.resnet``, ``.detection.faster_rcnn``...). Cached in ``bench/out/`` by version."""
    import torchvision
    from torchvision.models import get_model_builder

    cache = os.path.join(OUT, f"zoo-torchvision-families-{torchvision.__version__}.json")
    if os.path.exists(cache):
        with open(cache) as f:
            return json.load(f)["smallest"]
    everything = torchvision_models()
    smallest = {}
    for model_id in everything:
        model, _ = construct(model_id, "meta")
        key = (sum(p.numel() for p in model.parameters()), model_id)
        family = get_model_builder(model_id[3:]).__module__
        smallest[family] = min(smallest.get(family, key), key)
    chosen = sorted((m for _, m in smallest.values()), key=everything.index)
    os.makedirs(OUT, exist_ok=True)
    with open(cache, "w") as f:
        json.dump({"torchvision": torchvision.__version__, "smallest": chosen}, f, indent=1)
    return chosen


def zoo_models(tv_per_family: bool = False) -> list:
    tv = torchvision_families() if tv_per_family else torchvision_models()
    return tv + [f"timm:{name}" for _, name in sorted(timm_families().items())]


def resolve(names: list) -> list:
    """``tv:NAME`` / ``timm:NAME`` as given; a bare name is torchvision's if torchvision has it, else timm's."""
    out = []
    tv = None
    for name in names:
        if name.startswith(("tv:", "timm:")):
            out.append(name)
            continue
        if tv is None:
            tv = set(torchvision_models())
        out.append(f"tv:{name}" if f"tv:{name}" in tv else f"timm:{name}")
    return out


# ---------------------------------------------------------------------------------------------------------------
# one model, in its own process


def _construct(source: str, name: str, kind: str, device: str):
    import torch

    with torch.device(device):
        if source == "tv":
            from torchvision.models import get_model

            return get_model(name, weights=None, **({"weights_backbone": None} if kind else {}))
        import timm

        return timm.create_model(name, pretrained=False)


def construct(model_id: str, device: str):
    """(model, where it was built): on ``device``; a model whose constructor computes with tensor values (torchvision's
    RegNets round their widths with torch ops, timm's regnetv calls unique, gemma4_vit item) cannot be built on the
    meta device, so it is built on the CPU and moved there ("cpu, moved to meta")."""
    source, name = model_id.split(":", 1)
    kind = _tv_kind(name) if source == "tv" else ""
    try:
        return _construct(source, name, kind, device), device
    except Exception as e:  # NotImplementedError for an op without a meta kernel, RuntimeError for .item()
        if device != "meta" or "meta" not in str(e).lower():
            raise
        return _construct(source, name, kind, "cpu").to("meta"), "cpu, moved to meta"


def build(model_id: str, device: str):
    """The model, eval mode, no weights: (model, channels, native height, native width, family, where built)."""
    model, built_on = construct(model_id, device)
    source, name = model_id.split(":", 1)
    if source == "tv":
        from torchvision.models import get_model_weights

        kind = _tv_kind(name)
        if kind == "detection":
            side = model.transform.min_size[0]
        elif getattr(model, "image_size", None):
            side = model.image_size
        else:
            preset = get_model_weights(name).DEFAULT.transforms()
            side = (preset.resize_size if kind == "segmentation" else preset.crop_size)[0]
        return model.eval(), 3, side, side, f"torchvision.models{'.' + kind if kind else ''}", built_on
    from timm.models._registry import _model_to_module

    c, h, w = model.pretrained_cfg["input_size"]
    return model.eval(), c, h, w, f"timm.models.{_model_to_module[name]}", built_on


def _emit(record: dict) -> None:
    print(MARK + json.dumps(record), flush=True)


def _finding(f) -> dict:
    return {"rule": f.rule, "severity": f.severity, "module": f.location.get("module") or f.node,
            "class": f.location.get("class") or f.op, "message": f.message, "condition": f.condition}


def lint_worker(model_id: str) -> None:
    """Prints one MARK line per step: build, lint native, lint symbolic, meta forward."""
    try:
        import torch

        torch.set_num_threads(1)
        import convlint
        import convlint.pipeline  # noqa: F401  (imported before any timing)
        from convlint.checking import registry  # noqa: F401
    except Exception as e:
        _emit({"step": "import", "error": f"{type(e).__name__}: {e}"})
        return
    t = time.perf_counter()
    try:
        model, c, h, w, family, built_on = build(model_id, "meta")
    except Exception as e:
        _emit({"step": "build", "error": f"{type(e).__name__}: {str(e)[:500]}"})
        return
    params = sum(p.numel() for p in model.parameters())
    _emit({"step": "build", "seconds": time.perf_counter() - t, "native": [c, h, w], "family": family,
           "parameters": params, "built_on": built_on})
    for step, shape in (("native", f"N,{c},{h},{w}"), ("symbolic", f"N,{c},H,W")):
        t = time.perf_counter()
        try:
            report = convlint.lint(model, input_shape=shape, verify=False)
        except Exception as e:
            _emit({"step": step, "shape": shape, "seconds": time.perf_counter() - t,
                   "crash": f"{type(e).__name__}: {str(e)[:500]}", "traceback": traceback.format_exc()[-2000:]})
            continue
        seconds = time.perf_counter() - t
        _emit({"step": step, "shape": shape, "seconds": seconds,
               "target_errors": [r.error for r in report.results if r.error],
               "findings": [_finding(f) for f in report.findings]})
    t = time.perf_counter()
    try:
        with torch.no_grad():
            model(torch.empty(1, c, h, w, device="meta"))
        _emit({"step": "meta_forward", "seconds": time.perf_counter() - t})
    except Exception as e:
        _emit({"step": "meta_forward", "seconds": None, "error": f"{type(e).__name__}: {str(e)[:300]}"})


def run_worker(model_id: str, timeout: float, mode: str = "--lint-worker", extra=()) -> tuple:
    """(steps by name, status, seconds, stderr tail): the worker's reports, even those before a timeout."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), mode, model_id, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONWARNINGS="ignore"))
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        timed_out = True
    seconds = time.perf_counter() - t
    steps = {}
    for line in out.splitlines():
        if line.startswith(MARK):
            record = json.loads(line[len(MARK):])
            steps[record.pop("step")] = record
    return steps, timed_out, seconds, err[-1500:], proc.returncode


def sweep_one(model_id: str, timeout: float) -> dict:
    steps, timed_out, seconds, err, code = run_worker(model_id, timeout)
    rec = {"model": model_id, "seconds": round(seconds, 2)}
    if "import" in steps:
        rec.update(status="import failed", error=steps["import"]["error"])
        return rec
    b = steps.get("build", {})
    if "error" in b:
        rec.update(status="build failed", error=b["error"])
        return rec
    rec.update(family=b.get("family"), native_size=b.get("native"), parameters=b.get("parameters"),
               build_seconds=b.get("seconds"), built_on=b.get("built_on"))
    crashed = False
    for step in ("native", "symbolic"):
        s = steps.get(step)
        if s is None:
            continue
        if "crash" in s:
            crashed = True
            rec[step] = {"shape": s["shape"], "seconds": round(s["seconds"], 3), "crash": s["crash"],
                         "traceback": s["traceback"]}
            continue
        found = s["findings"]
        rec[step] = {
            "shape": s["shape"], "seconds": round(s["seconds"], 3),
            "errors": sum(f["severity"] == "error" for f in found),
            "warnings": sum(f["severity"] == "warning" for f in found),
            "notes": sum(f["severity"] == "info" for f in found),
            "target_errors": s["target_errors"],
            "findings": found,
            "conditions": sorted({f["condition"] for f in found if f["condition"]}),
        }
    m = steps.get("meta_forward")
    if m is not None:
        rec["meta_forward_seconds"] = m["seconds"] and round(m["seconds"], 4)
        if m.get("error"):
            rec["meta_forward_error"] = m["error"]
    if timed_out:
        rec["status"] = "timeout"
        rec["timed_out_in"] = next(s for s in ("build", "native", "symbolic", "meta_forward") if s not in steps)
    elif crashed:
        rec["status"] = "lint crashed"
    elif "symbolic" not in steps or "native" not in steps:
        rec.update(status="worker died", exit_code=code, error=err.strip().splitlines()[-1:] or None)
    else:
        rec["status"] = "ok"
    return rec


# ---------------------------------------------------------------------------------------------------------------
# the condition check

NAMES = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
KEYWORDS = {"and", "or", "not", "in", "min", "max", "Min", "Max", "_floor", "_ceil"}
_MATH = str.maketrans({"−": "-", "·": "*", "⌊": "_floor(", "⌋": ")", "⌈": "_ceil(", "⌉": ")", "≤": "<=", "≥": ">=",
                       "≠": "!="})
_SUPERSCRIPTS = re.compile("[⁰¹²³⁴⁵⁶⁷⁸⁹]+")
_LONE_EQ = re.compile(r"(?<![=!<>])=(?!=)")


def to_python(condition: str) -> str:
    """convlint's condition (``⌊(H+15)/16⌋·⌊(W+15)/16⌋ = 196``, ``H % 16 == 0 and W >= 32``) as a Python expression
    over exact fractions."""
    text = condition.translate(_MATH)
    text = _SUPERSCRIPTS.sub(lambda m: "**" + m.group().translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")), text)
    return _LONE_EQ.sub("==", text)


def readable(condition: str):
    """The compiled condition, or None when it cannot be evaluated on N, H, W (elided, or other names)."""
    if "…" in condition or "..." in condition:
        return None
    text = to_python(condition)
    if not set(NAMES.findall(text)) - KEYWORDS <= {"N", "H", "W"}:
        return None
    try:
        return compile(text, "<condition>", "eval")
    except SyntaxError:
        return None


_ENV = {"__builtins__": {}, "_floor": math.floor, "_ceil": math.ceil, "min": min, "max": max, "Min": min, "Max": max}


def holds(code, h: int, w: int) -> bool:
    return bool(eval(code, _ENV, {"N": Fraction(1), "H": Fraction(h), "W": Fraction(w)}))


def sizes_near(h0: int, w0: int, limit: int = 50_000):
    """(h, w) pairs up to twice the native size, nearest to it first (L1 distance), square before oblong; at most
    ``limit`` of them."""
    top = 2 * max(h0, w0)
    seen = 0
    for d in range(0, 2 * top):
        ring = set()
        for dh in range(-d, d + 1):
            for dw in {d - abs(dh), abs(dh) - d}:
                h, w = h0 + dh, w0 + dw
                if 1 <= h <= top and 1 <= w <= top:
                    ring.add((h, w))
        for pair in sorted(ring, key=lambda p: (p[0] != p[1], p)):
            yield pair
            seen += 1
            if seen >= limit:
                return


def plan_checks(conditions: list, h0: int, w0: int) -> list:
    """[{condition, inside, outside}] for each readable condition on H or W; inside/outside None when not found."""
    codes = {c: readable(c) for c in conditions}
    readable_ones = {c: code for c, code in codes.items() if code is not None}
    plans = []
    for cond in conditions:
        if not ({"H", "W"} & set(NAMES.findall(cond))):
            continue
        plan = {"condition": cond, "inside": None, "outside": None}
        plans.append(plan)
        if cond not in readable_ones:
            plan["unchecked"] = "contains '…'" if "…" in cond else "not readable as a condition on N, H, W"
            continue
        others = [code for c, code in readable_ones.items() if c != cond]
        this = readable_ones[cond]
        breaks_it = None  # nearest size that breaks this condition, whatever the others say
        for h, w in sizes_near(h0, w0):
            if holds(this, h, w):
                if plan["inside"] is None and all(holds(o, h, w) for o in others):
                    plan["inside"] = [h, w]
            else:
                breaks_it = breaks_it or [h, w]
                if plan["outside"] is None and all(holds(o, h, w) for o in others):
                    plan["outside"] = [h, w]
            if plan["inside"] and plan["outside"]:
                break
        if plan["outside"] is None and breaks_it:
            # implied by another condition (H % 8 by H % 16): no size breaks it alone, so break it with the others
            plan["outside"], plan["outside_breaks_others_too"] = breaks_it, True
        if plan["outside"] is None:
            plan["unchecked"] = "no size near the native one breaks it"
        if plan["inside"] is None:
            plan["unchecked"] = "no size near the native one keeps every condition"
    return plans


def check_worker(model_id: str, sizes_json: str) -> None:
    """Runs the model eagerly (CPU, random weights, batch 1) at each size; one MARK line per size."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model, c, _, _, _, _ = build(model_id, "cpu")
    detection = model_id.startswith("tv:") and _tv_kind(model_id[3:]) == "detection"
    for h, w in json.loads(sizes_json):
        t = time.perf_counter()
        try:
            with torch.no_grad():
                x = torch.randn(1, c, h, w)
                model([x[0]] if detection else x)
            _emit({"step": f"{h}x{w}", "ran": True, "seconds": time.perf_counter() - t})
        except Exception as e:
            _emit({"step": f"{h}x{w}", "ran": False, "seconds": time.perf_counter() - t,
                   "error": f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"})


def check_model(rec: dict, timeout: float) -> list:
    c, h0, w0 = rec["native_size"]
    plans = plan_checks(rec["symbolic"]["conditions"], h0, w0)
    for plan in plans:
        if "unchecked" in plan:
            plan["verdict"] = "unchecked"
    sizes = sorted({tuple(p[k]) for p in plans if "unchecked" not in p for k in ("inside", "outside")})
    if not sizes:
        return plans
    steps, timed_out, _, err, _ = run_worker(rec["model"], timeout, "--check-worker", [json.dumps(sizes)])
    for plan in plans:
        if "unchecked" in plan:
            continue
        inside, outside = steps.get("%dx%d" % tuple(plan["inside"])), steps.get("%dx%d" % tuple(plan["outside"]))
        if inside is None or outside is None:
            plan["verdict"] = "unchecked"
            plan["unchecked"] = "timeout" if timed_out else f"the run did not report: {err.strip()[-300:]}"
            continue
        plan["inside_ran"], plan["outside_ran"] = inside["ran"], outside["ran"]
        plan["inside_error"], plan["outside_error"] = inside.get("error"), outside.get("error")
        plan["verdict"] = "true" if inside["ran"] and not outside["ran"] else "false"
    return plans


def has_hw_condition(rec: dict) -> bool:
    return any({"H", "W"} & set(NAMES.findall(c)) for c in (rec.get("symbolic") or {}).get("conditions", []))


# ---------------------------------------------------------------------------------------------------------------
# summary


def _pct(values, q):
    values = sorted(values)
    if not values:
        return None
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def summarize(records: list, checks: dict) -> dict:
    statuses = {}
    for r in records:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    err = {step: [r["model"] for r in records if (r.get(step) or {}).get("errors")] for step in ("native", "symbolic")}
    crashed = {step: [r["model"] for r in records if "crash" in (r.get(step) or {})] for step in ("native", "symbolic")}
    verdicts = [p["verdict"] for plans in checks.values() for p in plans]
    elided = sorted({(r["model"], f["condition"] or f["message"]) for r in records for s in ("native", "symbolic")
                     for f in (r.get(s) or {}).get("findings", [])
                     if "…" in (f["condition"] or "") or "…" in f["message"]})
    ratios, secs = [], []
    for r in records:
        n = r.get("native") or {}
        if isinstance(n, dict) and "seconds" in n:
            secs.append((n["seconds"], r["model"]))
            if r.get("meta_forward_seconds"):
                ratios.append((n["seconds"] / r["meta_forward_seconds"], r["model"]))
    sym = [(r["symbolic"]["seconds"], r["model"]) for r in records if isinstance(r.get("symbolic"), dict)]
    return {
        "models": len(records),
        "statuses": statuses,
        "errors_native": err["native"],
        "errors_symbolic": err["symbolic"],
        "lint_crashed": crashed,
        "conditions_checked": {v: verdicts.count(v) for v in ("true", "false", "unchecked")},
        "false_conditions": [(m, p["condition"]) for m, plans in checks.items() for p in plans
                             if p["verdict"] == "false"],
        "elided": elided,
        "native_seconds": {"median": _pct([s for s, _ in secs], 0.5), "p90": _pct([s for s, _ in secs], 0.9)},
        "symbolic_seconds": {"median": _pct([s for s, _ in sym], 0.5), "p90": _pct([s for s, _ in sym], 0.9)},
        "ratio_to_meta_forward": {"median": _pct([x for x, _ in ratios], 0.5), "p90": _pct([x for x, _ in ratios], 0.9),
                                  "models": len(ratios)},
        "slowest_native": sorted(secs, reverse=True)[:5],
        "slowest_symbolic": sorted(sym, reverse=True)[:5],
        "highest_ratio": sorted(ratios, reverse=True)[:5],
    }


def _fmt(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def print_summary(s: dict, records: list, checks: dict) -> None:
    by = {r["model"]: r for r in records}
    print()
    print(f"models: {s['models']}   " + ", ".join(f"{k}: {v}" for k, v in sorted(s["statuses"].items())))
    for step, label in (("native", "native size"), ("symbolic", "N,C,H,W")):
        models = s[f"errors_{step}"]
        print(f"models with an error at {label}: {len(models)}")
        for m in models:
            for f in by[m][step]["findings"]:
                if f["severity"] == "error":
                    print(f"    {m}: {f['rule']} {f['module']}: {f['message'][:160]}")
        for m in s["lint_crashed"][step]:
            print(f"    {m}: convlint.lint raised {by[m][step]['crash'][:160]}")
    for r in records:
        if r["status"] not in ("ok",):
            print(f"    {r['model']}: {r['status']}" + (f" in {r['timed_out_in']}" if r.get("timed_out_in") else "")
                  + (f": {str(r.get('error'))[:160]}" if r.get("error") else ""))
    c = s["conditions_checked"]
    print(f"conditions checked by real runs ({len(checks)} models): true {c['true']}, false {c['false']}, "
          f"unchecked {c['unchecked']}")
    for m, cond in s["false_conditions"]:
        print(f"    false: {m}: {cond}")
    print(f"findings with '…' (a condition or message cut short): {len(s['elided'])}")
    for m, text in s["elided"]:
        print(f"    {m}: {text[:160]}")
    r = s["ratio_to_meta_forward"]
    print(f"lint seconds at native size: median {_fmt(s['native_seconds']['median'])}, p90 "
          f"{_fmt(s['native_seconds']['p90'])}; at N,C,H,W: median {_fmt(s['symbolic_seconds']['median'])}, p90 "
          f"{_fmt(s['symbolic_seconds']['p90'])}")
    print(f"lint / meta forward at native size ({r['models']} models): median {_fmt(r['median'], 1)}x, p90 "
          f"{_fmt(r['p90'], 1)}x")
    print("slowest at native size: " + ", ".join(f"{m} {t:.1f}s" for t, m in s["slowest_native"]))
    print("slowest at N,C,H,W: " + ", ".join(f"{m} {t:.1f}s" for t, m in s["slowest_symbolic"]))
    print("highest ratio: " + ", ".join(f"{m} {x:.0f}x" for x, m in s["highest_ratio"]))


# ---------------------------------------------------------------------------------------------------------------


def sweep(models: list, a) -> list:
    import timm
    import torch
    import torchvision

    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, timm {timm.__version__}: "
          f"{len(models)} models, {a.jobs} at a time, {a.timeout:.0f} s each at most", file=sys.stderr)
    records = []
    partial = open(a.json + ".partial", "w") if a.json else None  # one line per model as it ends
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
        futures = {pool.submit(sweep_one, m, a.timeout): m for m in models}
        for i, fut in enumerate(concurrent.futures.as_completed(futures), 1):
            r = fut.result()
            records.append(r)
            if partial:
                partial.write(json.dumps(r) + "\n")
                partial.flush()
            n, sym = r.get("native") or {}, r.get("symbolic") or {}
            print(f"[{i}/{len(models)}] {r['model']}: {r['status']} {r['seconds']:.1f}s"
                  f" native E{n.get('errors', '-')} W{n.get('warnings', '-')} I{n.get('notes', '-')}"
                  f" symbolic E{sym.get('errors', '-')} W{sym.get('warnings', '-')} I{sym.get('notes', '-')}",
                  file=sys.stderr, flush=True)
    records.sort(key=lambda r: models.index(r["model"]))
    if partial:
        partial.close()
    return records


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", help="comma-separated: tv:NAME, timm:NAME, or a bare name (torchvision's first)")
    p.add_argument("--tv-per-family", action="store_true",
                   help="torchvision too: only the smallest model of each of its modules (resnet, vgg, faster_rcnn...)")
    p.add_argument("--sample", type=int, help="lint K models of the zoo drawn at random (--seed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-j", "--jobs", type=int, default=1, help="models at a time (default 1)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per model process (default 120)")
    p.add_argument("--check", type=int, default=12, help="models whose conditions are tested by real runs")
    p.add_argument("--check-max-params", type=float, default=100e6,
                   help="leave bigger models out of the condition check (default 1e8)")
    p.add_argument("--json", help="write every record and the summary here")
    p.add_argument("--from-json", metavar="FILE",
                   help="take the lint records from an earlier --json file (or its .partial) instead of linting; "
                        "run the condition check and the summary again (with --models: those models only)")
    p.add_argument("--list", action="store_true", help="print the models the sweep would lint, then stop")
    p.add_argument("--lint-worker", help=argparse.SUPPRESS)
    p.add_argument("--check-worker", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.lint_worker:
        lint_worker(a.lint_worker)
        return 0
    if a.check_worker:
        check_worker(*a.check_worker)
        return 0

    import timm
    import torch
    import torchvision

    started = time.time()
    if a.from_json:
        with open(a.from_json) as f:
            text = f.read()
        records = json.loads(text)["models"] if not a.from_json.endswith(".partial") else \
            [json.loads(line) for line in text.splitlines() if line.strip()]
        if a.models:
            wanted = resolve([m.strip() for m in a.models.split(",") if m.strip()])
            records = [r for r in records if r["model"] in wanted]
        models = [r["model"] for r in records]
    else:
        models = resolve([m.strip() for m in a.models.split(",") if m.strip()]) if a.models else \
            zoo_models(a.tv_per_family)
        if a.sample and a.sample < len(models):
            keep = set(random.Random(a.seed).sample(models, a.sample))
            models = [m for m in models if m in keep]
        if a.list:
            print("\n".join(models))
            return 0
        records = sweep(models, a)

    candidates = [r for r in records if has_hw_condition(r) and (r.get("parameters") or 0) <= a.check_max_params]
    chosen = random.Random(a.seed).sample(candidates, min(a.check, len(candidates)))
    checks = {}
    for r in chosen:
        checks[r["model"]] = check_model(r, a.timeout)
        v = [p["verdict"] for p in checks[r["model"]]]
        print(f"checked {r['model']}: " + ", ".join(f"{x} {v.count(x)}" for x in ("true", "false", "unchecked")),
              file=sys.stderr, flush=True)
    summary = summarize(records, checks)
    summary["wall_seconds"] = round(time.time() - started, 1)
    summary["versions"] = {"torch": torch.__version__, "torchvision": torchvision.__version__,
                           "timm": timm.__version__}
    print_summary(summary, records, checks)
    print(f"wall time of this run: {summary['wall_seconds']:.0f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"summary": summary, "models": records, "condition_checks": checks}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
