"""End-to-end tests of the command line, as a user runs it: whole outputs, exit statuses, options."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import convlint
from convlint import pipeline

from conftest import FIXTURES, run_cli

SEED = "fixtures/onnx/seed_conv_channels.onnx"
CLEAN = "fixtures/onnx/seed_conv_channels_clean.onnx"
MANY = "fixtures/onnx/many_faults.onnx"


def test_seed_case_text_output():
    r = run_cli(SEED)
    assert r.returncode == 1
    assert r.stderr == ""
    assert r.stdout == (
        "fixtures/onnx/seed_conv_channels.onnx: conv1 (Conv): CL101 error: input 'image' has 1 channel, but weight "
        "'conv1_weight' (4, 3, 3, 3) with group=1 expects 3 = W.shape[1] 3 × group 1\n"
        "    confirmed — onnxruntime refuses this layer on input (1, 1, 1, 1) with N=1, H=1, W=1: \"Input channels C "
        "is not equal to kernel channels * group. C: 1 kernel channels: 3 group: 1\"\n"
        "    hint: feed an input with 3 channels, or give the weight shape (4, 1, 3, 3)\n"
        "Found 1 error in 1 model.\n"
    )


def test_clean_model_exits_zero():
    r = run_cli(CLEAN)
    assert (r.returncode, r.stdout, r.stderr) == (0, "All clean: 1 model, no findings.\n", "")


def test_every_fault_in_one_run_json():
    r = run_cli(MANY, "--format", "json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert list(doc) == ["convlint", "results"]
    (result,) = doc["results"]
    assert result["target"] == MANY and result["error"] is None
    got = [(f["rule"], f["node"], f["severity"]) for f in result["findings"]]
    assert got == [("CL103", "stem", "error"), ("CL101", "block", "error"), ("CL102", "block", "error"),
                   ("CL106", "head", "error")]
    for f in result["findings"]:
        assert {"rule", "name", "severity", "node", "op", "message", "hint", "location"} <= set(f)
        assert f["location"] == {"file": MANY, "node": f["node"]}
    # stable: the same bytes twice, but for the time verification took
    assert _untimed(run_cli(MANY, "--format", "json").stdout) == _untimed(r.stdout)


def _untimed(text: str) -> str:
    return re.sub(r'"seconds": [0-9.e-]+', '"seconds": 0', text)


def test_json_keys_are_sorted():
    r = run_cli(SEED, "--format", "json")
    doc = json.loads(r.stdout)
    assert json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n" == r.stdout


def test_select_and_ignore_by_code_and_prefix():
    assert _rules(run_cli(MANY, "--format", "json", "--select", "CL101")) == ["CL101"]
    assert _rules(run_cli(MANY, "--format", "json", "--select", "CL10", "--ignore", "CL101,CL102")) == ["CL103", "CL106"]
    assert _rules(run_cli(MANY, "--format", "json", "--ignore", "CL1")) == []
    r = run_cli(MANY, "--ignore", "CL1")
    assert r.returncode == 0


def test_unknown_select_code_is_a_usage_error():
    r = run_cli(MANY, "--select", "XY9")
    assert r.returncode == 2
    assert r.stderr == "convlint: error: unknown rule code or prefix 'XY9'; `convlint rules` lists them\n"


def test_input_shape_pins_and_renames_dims():
    # With 3 channels pinned the seed model is clean; with a 2x2 image and no padding left the window check fires.
    assert run_cli(SEED, "--input-shape", "B,3,224,224").returncode == 0
    r = run_cli(SEED, "--input-shape", "image=1,3,1,1", "--format", "json")
    assert _rules(r) == []
    r = run_cli("fixtures/onnx/conv_transpose_channels_clean.onnx", "--input-shape", "batch,8,rows,cols",
                "--format", "json")
    assert r.returncode == 0


def test_input_shape_errors():
    r = run_cli(SEED, "--input-shape", "nope=1,3,8,8")
    assert r.returncode == 2
    assert r.stderr == ("convlint: error: --input-shape nope=...: the model has no input 'nope'; its inputs are: "
                        "image\n")
    r = run_cli(SEED, "--input-shape", "1,3,8,8", "--input-shape", "1,3,8,8")
    assert r.returncode == 2 and "2 --input-shape values given, but the model has 1 input(s): image" in r.stderr
    r = run_cli(SEED, "--input-shape", "1,3,8,8x")
    assert r.returncode == 2
    assert r.stderr == "convlint: error: --input-shape: '8x' is neither a whole number nor a symbol name such as N or H\n"


def test_fail_on_warning():
    # MaxPool leaving an empty output is a warning for ONNX models: exit 0 by default, 1 with --fail-on warning.
    import os
    import tempfile

    from convlint.examples import model_from_text
    import onnx

    text = """<ir_version: 8, opset_import: ["": 17]>
    g (float[1, 8, 2, 6] x) => (float[1, 8, 0, 4] y) { [pool] y = MaxPool<kernel_shape = [3, 3]>(x) }"""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "pool.onnx")
        onnx.save(model_from_text(text), path)
        r = run_cli(path)
        assert r.returncode == 0 and "CL106 warning" in r.stdout
        assert run_cli(path, "--fail-on", "warning").returncode == 1


def test_rules_and_rule_commands():
    r = run_cli("rules")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert any(line.startswith("CL101  conv-input-channels") for line in lines)
    assert [line.split()[0] for line in lines] == sorted(line.split()[0] for line in lines)
    r = run_cli("rule", "CL101")
    assert r.returncode == 0
    assert r.stdout.startswith("# CL101 conv-input-channels (error)\n\n## What it does\nChecks that a convolution")
    assert "## Why is this bad?" in r.stdout and "## Fix" in r.stdout
    assert run_cli("rule", "conv-input-channels").stdout == r.stdout
    bad = run_cli("rule", "CL999")
    assert (bad.returncode, bad.stderr) == (2, "convlint: error: no rule 'CL999'; `convlint rules` lists them\n")


def test_explicit_check_command_and_version():
    assert run_cli("check", SEED).returncode == 1
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("convlint, version ")


def test_colour_on_a_terminal_only_and_no_color_respected():
    import os
    import pty
    import re
    import subprocess
    import sys

    def on_tty(env):
        master, slave = pty.openpty()
        p = subprocess.run([sys.executable, "-m", "convlint", SEED], stdout=slave, stderr=slave,
                           cwd=os.path.dirname(os.path.dirname(__file__)), env=env, timeout=60)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        return p.returncode, out

    colour = re.compile(rb"\x1b\[[0-9;]*m")  # SGR; the progress bar's erase-line may show on a slow run
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    code, out = on_tty(env)
    assert code == 1 and colour.search(out)
    code, out = on_tty(dict(env, NO_COLOR="1"))
    assert code == 1 and not colour.search(out)
    assert "\x1b[" not in run_cli(SEED).stdout  # piped: never coloured


def _rules(result):
    doc = json.loads(result.stdout)
    return sorted(f["rule"] for r in doc["results"] for f in r["findings"])


def test_the_command_ends_without_freeing_its_graphs_and_says_everything_first(tmp_path):
    # `convlint` ends with os._exit (pipeline.keep_graphs): its report, its errors on stderr and its exit status
    # must all come out whole, through a pipe, for several targets at once
    for i in range(3):
        shutil.copy(os.path.join(FIXTURES, "onnx", "seed_conv_channels.onnx"), tmp_path / f"m{i}.onnx")
    proc = run_cli(str(tmp_path), str(tmp_path / "missing.onnx"), "--format", "json", "--no-verify")
    assert proc.returncode == 2, proc.stderr
    assert len(json.loads(proc.stdout)["results"]) == 4
    assert "missing.onnx: no such file" in proc.stderr
    cut = subprocess.run(f"{sys.executable} -m convlint {tmp_path} --format json | head -c 20", shell=True,
                         capture_output=True, text=True, timeout=120)
    assert cut.stdout == proc.stdout[:20] and "Traceback" not in cut.stderr


def test_only_the_command_keeps_graphs_and_within_its_budget(monkeypatch):
    path = os.path.join(FIXTURES, "onnx", "seed_conv_channels.onnx")
    convlint.lint(path, verify=False)
    assert pipeline._kept is None  # the API frees each graph at once
    monkeypatch.setattr(pipeline, "_kept", None)
    pipeline.keep_graphs()
    monkeypatch.setattr(pipeline, "KEEP_NODES", 5)
    for _ in range(3):
        convlint.lint(path, verify=False)
    assert [len(g.nodes) for g in pipeline._kept] == [2, 2]  # the third would pass 5 nodes: freed
