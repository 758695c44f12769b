"""The PyTorch benchmark runs: ``bench/torch_bench.py --smoke`` builds tiny meta-device models, measures convlint,
a meta forward pass and ``torch.export`` on them, and prints its table.

No timing is asserted: this only checks that the bench works, that every cell was measured, and that convlint finds
no error in its (valid) models, static or symbolic.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

pytest.importorskip("torch")


def test_torch_bench_smoke_prints_its_table():
    run = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "torch_bench.py"), "--smoke"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    rows = re.findall(r"^(llama7b|resnet152)\s+(static|symbolic)\s+(convlint\+verify|convlint|meta-fwd|export)"
                      r"\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+(\d+)\s+-?\d+\s+\d+\s+(\d+|-)$", out, re.M)
    expected = {(m, i, t) for m in ("llama7b", "resnet152") for i in ("static", "symbolic")
                for t in ("convlint", "convlint+verify", "export")}
    expected |= {(m, "static", "meta-fwd") for m in ("llama7b", "resnet152")}
    assert {r[:3] for r in rows} == expected and len(rows) == len(expected), out
    assert all(r[4] == "0" for r in rows if r[2].startswith("convlint")), out  # the bench's models are valid
    assert all(int(r[3]) > 0 for r in rows), out  # a peak RSS was measured for every cell
    assert "ratios, convlint / other" in out and "findings on" not in out, out
