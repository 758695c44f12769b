"""The benchmark runs: ``bench/run.py --smoke`` builds tiny models, measures all three tools and prints its table.

No timing is asserted: this only checks that the bench works, that convlint finds nothing wrong in its generated
CNNs, and that it never opens their external data.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import ROOT


def test_bench_smoke_prints_its_table(tmp_path):
    run = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "run.py"), "--smoke", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    rows = re.findall(r"^\s*(\S+(?: w\d+)?(?: ext)?)\s+(\d+)\s+(convlint|onnx|ort)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+"
                      r"\s+(\d+)"
                      r"\s+-?\d+\s+[\d.]+\s+(\d+|-)$", out, re.MULTILINE)
    assert {(r[0], r[2]) for r in rows} == {(m, t) for m in ("100 w4", "300 w4", "100 w2 ext", "100 w8 ext")
                                            for t in ("convlint", "onnx", "ort")}, out
    assert all(r[4] == "0" for r in rows if r[2] == "convlint"), out  # the generated CNNs are valid
    assert all(int(r[3]) > 0 for r in rows), out  # a peak RSS was measured for every cell
    assert "ratios, convlint / other" in out and "time per node" in out, out
    startup = r"^  import onnx [\d.]+ s; convlint on a one-layer model [\d.]+ s: adds [-+][\d.]+ s"
    assert re.search(startup, out, re.MULTILINE), out
    assert re.findall(r"data file opened: (\w+)", out) == ["no", "no"], out
    assert sorted(os.listdir(tmp_path)) == ["cnn_100_w2_ext.onnx", "cnn_100_w2_ext.onnx.data", "cnn_100_w4.onnx",
                                            "cnn_100_w8_ext.onnx", "cnn_100_w8_ext.onnx.data", "cnn_300_w4.onnx"]
