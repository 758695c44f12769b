"""Project configuration: [tool.convlint] in pyproject.toml or convlint.toml, as the real CLI reads it."""

from __future__ import annotations

import json
import os
import shutil
import textwrap

import pytest
from click.testing import CliRunner

from convlint.cli import main

from conftest import FIXTURES, run_cli
from project_files import NET_PY, write

FAULTY = os.path.join(FIXTURES, "onnx", "seed_conv_channels.onnx")  # CL101 on node conv1: 1 channel for 3
CLEAN = os.path.join(FIXTURES, "onnx", "seed_conv_channels_clean.onnx")  # input (N, 3, H, W)


def project(tmp_path, config: str, name="pyproject.toml", models=None) -> str:
    """A project folder with ``config`` and models copied in (``{relative path: fixture}``)."""
    for rel, src in (models or {"models/faulty.onnx": FAULTY, "models/clean.onnx": CLEAN}).items():
        os.makedirs(os.path.dirname(tmp_path / rel), exist_ok=True)
        shutil.copy(src, tmp_path / rel)
    (tmp_path / name).write_text(textwrap.dedent(config))
    os.makedirs(tmp_path / ".git", exist_ok=True)  # the lookup stops at the repository root
    return str(tmp_path)


def findings(proc) -> list:
    return [(r["target"], f["rule"], f["node"], f["severity"])
            for r in json.loads(proc.stdout)["results"] for f in r["findings"]]


def test_no_argument_lints_the_named_targets_with_their_input_shapes(tmp_path):
    root = project(tmp_path, """
        [tool.convlint.targets.gray]
        path = "models/clean.onnx"
        input-shape = "N,1,H,W"      # a 1-channel input: the RGB stem cannot take it
        [tool.convlint.targets.rgb]
        path = "models/clean.onnx"
        input-shape = ["N,3,H,W"]
        [tool.convlint.targets.legacy]
        path = "models/faulty.onnx"
    """)
    proc = run_cli("--format", "json", "--no-verify", cwd=root)
    assert proc.returncode == 1, proc.stderr
    # gray and rgb share a file but are different targets: both are linted, each with its own shapes
    assert sorted(findings(proc)) == [("models/clean.onnx", "CL101", "conv1", "error"),
                                      ("models/faulty.onnx", "CL101", "conv1", "error")]
    assert len(json.loads(proc.stdout)["results"]) == 3


def test_a_target_is_named_by_path_or_name_and_cli_shapes_win(tmp_path):
    root = project(tmp_path, """
        [tool.convlint.targets.gray]
        path = "models/clean.onnx"
        input-shape = "N,1,H,W"
    """)
    by_path = run_cli("models/clean.onnx", "--no-verify", cwd=root)
    by_name = run_cli("gray", "--no-verify", cwd=root)
    assert by_path.returncode == by_name.returncode == 1
    assert "models/clean.onnx: conv1 (Conv): CL101 error: input 'image' has 1 channel" in by_path.stdout
    assert by_name.stdout == by_path.stdout
    cli_wins = run_cli("models/clean.onnx", "--input-shape", "N,3,H,W", cwd=root)
    assert cli_wins.returncode == 0, cli_wins.stdout
    assert "All clean: 1 model" in cli_wins.stdout


def test_select_ignore_fail_on_and_severity_from_the_file_and_cli_flags_win(tmp_path):
    root = project(tmp_path, """
        [tool.convlint]
        ignore = ["CL101"]
    """)
    assert run_cli("models/faulty.onnx", cwd=root).returncode == 0
    flag = run_cli("models/faulty.onnx", "--ignore", "CL106", "--no-verify", cwd=root)
    assert flag.returncode == 1 and "CL101 error" in flag.stdout

    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [tool.convlint]
        severity = { CL1 = "info", CL101 = "warning" }   # the longest prefix wins
        fail-on = "warning"
    """))
    proc = run_cli("models/faulty.onnx", "--format", "json", "--no-verify", cwd=root)
    assert proc.returncode == 1
    assert findings(proc) == [("models/faulty.onnx", "CL101", "conv1", "warning")]
    assert run_cli("models/faulty.onnx", "--fail-on", "error", "--no-verify", cwd=root).returncode == 0


def test_per_path_ignores_and_node_suppressions_with_a_reason(tmp_path):
    root = project(tmp_path, """
        [tool.convlint]
        per-path-ignores = { "models/legacy" = ["CL1"] }

        [[tool.convlint.suppress]]
        rule = "CL101"
        node = "conv*"
        path = "models/vendor/*.onnx"
        reason = "the vendor model is fed grayscale images converted on load"

        [[tool.convlint.suppress]]
        node = "head"                  # matches no node here: suppresses nothing
        reason = "unused"
    """, models={"models/legacy/old.onnx": FAULTY, "models/vendor/cam.onnx": FAULTY, "models/new.onnx": FAULTY})
    proc = run_cli("models", "--format", "json", "--no-verify", cwd=root)
    assert proc.returncode == 1, proc.stderr
    assert findings(proc) == [("models/new.onnx", "CL101", "conv1", "error")]
    assert [r["target"] for r in json.loads(proc.stdout)["results"]] == [
        "models/legacy/old.onnx", "models/new.onnx", "models/vendor/cam.onnx"]

    sarif = json.loads(run_cli("models", "--format", "sarif", "--no-verify", cwd=root).stdout)
    suppressed = [r for r in sarif["runs"][0]["results"] if r.get("suppressions")]
    assert [(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], r["suppressions"]) for r in suppressed] \
        == [("models/vendor/cam.onnx", [{"kind": "external",
                                         "justification": "the vendor model is fed grayscale images converted on load"}])]

    text = run_cli("models", "--no-verify", cwd=root).stdout
    assert text.splitlines()[-1] == "Found 1 error in 3 models (1 suppressed by the configuration)."


def test_convlint_toml_is_found_from_a_subfolder_and_wins_over_pyproject(tmp_path):
    project(tmp_path, """
        [tool.convlint]
        ignore = ["CL101"]
    """)
    (tmp_path / "convlint.toml").write_text('select = ["CL101"]\nfail-on = "error"\n')
    sub = tmp_path / "models"
    proc = run_cli("faulty.onnx", "--no-verify", cwd=str(sub))
    assert proc.returncode == 1 and "faulty.onnx: conv1 (Conv): CL101 error" in proc.stdout
    other = tmp_path / "other.toml"
    other.write_text('ignore = ["CL"]\n')
    assert run_cli("faulty.onnx", "--config", str(other), cwd=str(sub)).returncode == 0


def test_a_pyproject_without_a_convlint_table_is_passed_over(tmp_path):
    root = project(tmp_path, """
        [tool.black]
        line-length = 100
    """)
    proc = run_cli(cwd=root)
    assert proc.returncode == 2
    assert proc.stderr == ("convlint: error: no model given and no targets named in the configuration; usage: "
                           "convlint PATH... (see convlint --help)\n")


BAD_CONFIGS = [
    ('selec = ["CL1"]', "[tool.convlint] selec: unknown key; known keys: select, ignore, fail-on, verify, "
                        "per-path-ignores, severity, targets, suppress"),
    ('fail_on = "warning"', "[tool.convlint] fail_on: unknown key; did you mean 'fail-on'?"),
    ('fail-on = "fatal"', "[tool.convlint] fail-on: expected one of error, warning, info, got 'fatal'"),
    ('select = ["CL999"]', "[tool.convlint] select: unknown rule code or prefix 'CL999'; `convlint rules` lists them"),
    ("ignore = 101", "[tool.convlint] ignore: expected a list of rule codes or prefixes, got 101"),
    ('verify = "yes"', "[tool.convlint] verify: expected true or false, got 'yes'"),
    ('severity = { CL101 = "fatal" }', "[tool.convlint] severity.CL101: expected one of error, warning, info, "
                                       "got 'fatal'"),
    ('per-path-ignores = { "models/*" = ["XX1"] }', "[tool.convlint] per-path-ignores.\"models/*\": unknown rule "
                                                    "code or prefix 'XX1'; `convlint rules` lists them"),
    ('targets.a = { input-shape = "N,3,H,W" }', "[tool.convlint] targets.a: needs a path: a model file, or "
                                                "file.py:function for a PyTorch model"),
    ('targets.a = { path = "m.onnx", shape = "1" }', "[tool.convlint] targets.a.shape: unknown key; known keys: "
                                                     "path, input-shape, input-dtype, weights"),
    ('targets.a = { path = "m.py:build", input-dtype = "int65" }',
     "[tool.convlint] targets.a.input-dtype: 'int65' is not a dtype; use one of float16, bfloat16, float32, float64, "
     "complex64, complex128, uint8, int8, int16, int32, int64, bool"),
    ('targets.a = { path = "m.onnx", input-shape = "N,-1" }', "[tool.convlint] targets.a.input-shape: dim -1 is "
                                                              "negative"),
    ('[[tool.convlint.suppress]]\nnode = "conv1"', "[tool.convlint] suppress[0]: needs a reason: say why this "
                                                   "finding is not a fault"),
    ('[[tool.convlint.suppress]]\nnode = "conv1"\nreason = "r"\nrule = "CL9"',
     "[tool.convlint] suppress[0].rule: unknown rule code or prefix 'CL9'; `convlint rules` lists them"),
    ('suppress = "conv1"', "[tool.convlint] suppress: expected an array of tables ([[tool.convlint.suppress]]) "
                           "with node, reason and optionally rule and path"),
]


@pytest.mark.parametrize("body,message", BAD_CONFIGS, ids=[b.split("=")[0].strip() for b, _ in BAD_CONFIGS])
def test_a_bad_key_or_value_is_one_line_naming_it_and_exit_2(tmp_path, monkeypatch, body, message):
    project(tmp_path, "[tool.convlint]\n" + body + "\n" if not body.startswith("[") else body + "\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["models/faulty.onnx"])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"convlint: error: pyproject.toml: {message}\n"
    assert result.stdout == ""


def test_invalid_toml_through_the_real_cli(tmp_path):
    root = project(tmp_path, "[tool.convlint]\nselect = [CL1\n", name="convlint.toml")
    proc = run_cli("models/faulty.onnx", cwd=root)
    assert proc.returncode == 2
    assert proc.stderr.startswith("convlint: error: convlint.toml: invalid TOML: ")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_verify_from_the_file_and_the_flag_wins(tmp_path):
    root = project(tmp_path, """
        [tool.convlint]
        verify = false
    """)

    def verdicts(*args):
        proc = run_cli("models/faulty.onnx", "--format", "json", *args, cwd=root)
        return [f["verification"] and f["verification"]["status"]
                for r in json.loads(proc.stdout)["results"] for f in r["findings"]]

    assert verdicts() == [None]
    assert verdicts("--verify") == ["confirmed"]


def test_a_pytorch_target_takes_its_weights_from_the_file(tmp_path):
    import torch

    write(tmp_path, "models/net.py", NET_PY)
    os.makedirs(tmp_path / "checkpoints")
    state = {"stem.weight": torch.zeros(8, 1, 3, 3), "stem.bias": torch.zeros(8),  # trained on grayscale
             "head.weight": torch.zeros(2, 8, 1, 1), "head.bias": torch.zeros(2)}
    torch.save(state, tmp_path / "checkpoints" / "net.pt")
    project(tmp_path, """
        [tool.convlint.targets.net]
        path = "models/net.py:build"
        input-shape = "N,3,H,W"
        weights = "checkpoints/net.pt"
    """, models={})
    proc = run_cli("--format", "json", "--no-verify", cwd=str(tmp_path / "models"))  # paths are the file's
    assert proc.returncode == 1, proc.stderr
    errors = sorted((f["rule"], f["node"], f["message"].split(":")[0].split(" (in ")[0])
                    for r in json.loads(proc.stdout)["results"]
                    for f in r["findings"] if f["severity"] == "error")
    assert errors == [("CL101", "stem", "input 'x' has 3 channels, but weight 'stem.weight' (8, 1, 3, 3) with group=1 "
                                        "expects 1 = W.shape[1] 1 × group 1"),
                      ("CL700", "head", "checkpoint holds head.weight (2, 8, 1, 1), the model (2, 4, 1, 1)"),
                      ("CL700", "stem", "the checkpoint's first layer takes 1 input channels, the model's 3")]
    (tmp_path / "empty.toml").write_text("")
    plain = run_cli("net.py:build", "--input-shape", "N,3,H,W", "--format", "json", "--no-verify",
                    "--config", "../empty.toml", cwd=str(tmp_path / "models"))  # no weights: the head's fault instead
    assert [(f["rule"], f["node"]) for r in json.loads(plain.stdout)["results"] for f in r["findings"]] == [
        ("CL101", "head")]
