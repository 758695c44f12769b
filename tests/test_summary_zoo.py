"""`convlint summary` on real zoo models: bench/summary_zoo.py run in .venv-zoo (see tests/test_zoo.py) on
torchvision's ResNet-50, MobileNetV3, EfficientNet-B0, ConvNeXt-T, ViT-B/16 and Swin-T and their ONNX exports, and on
a sample of other torchvision and timm models. Parameters equal ``sum(p.numel())``; the MACs of the linear algebra
equal flop_counter's (FLOPs / 2) and the ONNX export's; and the summary, like the lint, finds no error.

Skipped when .venv-zoo is missing, except under CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import ROOT

pytestmark = pytest.mark.zoo

ZOO_PYTHON = os.path.join(ROOT, ".venv-zoo", "bin", "python")
MACS = ("tv:resnet50", "tv:mobilenet_v3_large", "tv:efficientnet_b0", "tv:convnext_tiny", "tv:vit_b_16", "tv:swin_t")
PARAMS = ("tv:densenet121", "tv:googlenet", "tv:maxvit_t", "timm:vit_tiny_patch16_224", "timm:convnextv2_atto",
          "timm:levit_128s", "timm:coat_lite_tiny", "timm:efficientformerv2_s0")


def _bench(tmp_path, models, *flags) -> dict:
    if not os.path.exists(ZOO_PYTHON):
        reason = ".venv-zoo is missing: make it with `scripts/dev zoo-setup`"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; CI must run the zoo tests")
        pytest.skip(reason)
    out = tmp_path / "summary.json"
    proc = subprocess.run([ZOO_PYTHON, os.path.join(ROOT, "bench", "summary_zoo.py"), "--models", ",".join(models),
                           "--json", str(out), *flags], capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, "PYTHONPATH": ROOT})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    records = {r["model"]: r for r in json.loads(out.read_text())}
    assert set(records) == set(models)
    for r in records.values():
        assert "error" not in r, r
        assert r["params"] == r["params_true"], r
    return records


def test_macs_equal_flop_counter_and_the_onnx_export(tmp_path):
    for model, r in _bench(tmp_path, MACS, "--onnx").items():
        assert "onnx_error" not in r, r
        assert r["macs_linear_algebra"] == r["flop_counter_macs"], (model, r["macs_linear_algebra"],
                                                                    r["flop_counter_macs"])
        assert r["onnx_macs_linear_algebra"] == r["macs_linear_algebra"], model
        assert r["macs"] > r["macs_linear_algebra"]  # the normalizations', one per output element
        assert r["domain_native"] == "every size"  # N: every batch size


def test_parameters_equal_the_models_own_count(tmp_path):
    for model, r in _bench(tmp_path, PARAMS).items():
        assert r["rows"] > 10 and type(r["macs"]) is int and r["macs"] > 0, model
        assert "stopped" not in r["domain_native"], (model, r["domain_native"])
