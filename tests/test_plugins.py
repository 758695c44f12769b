"""Third-party rules: the plugin packages in fixtures/plugin, really installed, seen through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import FIXTURES, run_cli

PLUGINS = os.path.join(FIXTURES, "plugin")
MANY = os.path.join(FIXTURES, "onnx", "many_faults.onnx")  # head: a 9x9 kernel; CL101-CL106 errors elsewhere

BROKEN_WARNINGS = [
    "convlint: warning: plugin 'BR001' (convlint-broken-rules) failed to load: ModuleNotFoundError: No module named "
    "'convlint_broken_rules.missing_module'",
    "convlint: warning: plugin 'BR002' (convlint-broken-rules): rule BadCode has an invalid code 'bad-code' "
    "(expected letters then digits, like CL101)",
]


def install(tmp_path_factory, *names) -> dict:
    """pip-install the named fixture packages into a fresh folder (offline: no dependencies, no build isolation);
    returns the environment that puts them on the path."""
    work = tmp_path_factory.mktemp("plugins")
    sources = []
    for name in names:  # build from a copy, so that the fixture folder stays clean
        shutil.copytree(os.path.join(PLUGINS, name), work / name)
        sources.append(str(work / name))
    target = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), *sources], check=True, capture_output=True, timeout=300)
    return {"PYTHONPATH": str(target)}


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return install(tmp_path_factory, "good")


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    return install(tmp_path_factory, "good", "broken")


def test_a_plugin_rule_is_listed_documented_and_run(good):
    listing = run_cli("rules", "--format", "json", env=good)
    assert listing.returncode == 0 and listing.stderr == ""
    rows = {row["code"]: row for row in json.loads(listing.stdout)}
    assert rows["EX101"] == {"code": "EX101", "name": "large-kernel", "severity": "warning",
                             "summary": "Warns about a convolution whose kernel is larger than 7 on some axis.",
                             "source": "convlint-example-rules"}
    assert rows["CL101"]["source"] == "convlint"
    doc = run_cli("rule", "EX101", env=good)
    assert doc.stdout.startswith("# EX101 large-kernel (warning)\n\n## What it does\nWarns about a convolution")

    lint = run_cli(MANY, "--no-verify", env=good)
    assert lint.returncode == 1
    assert "many_faults.onnx: head (Conv): EX101 warning: kernel 9×9 is larger than 7 on some axis" in lint.stdout
    assert "CL101 error" in lint.stdout and "CL106 error" in lint.stdout


def test_plugin_rules_are_selectable_like_built_in_ones(good, tmp_path):
    only = run_cli(MANY, "--select", "EX", "--format", "json", env=good)
    assert only.returncode == 0  # a warning only
    rules = [f["rule"] for r in json.loads(only.stdout)["results"] for f in r["findings"]]
    assert rules == ["EX101"]
    ignored = run_cli(MANY, "--ignore", "EX101", "--no-verify", env=good)
    assert "EX101" not in ignored.stdout and "CL101" in ignored.stdout
    (tmp_path / "convlint.toml").write_text('select = ["EX1"]\nfail-on = "warning"\n')
    configured = run_cli(MANY, env=good, cwd=str(tmp_path))
    assert configured.returncode == 1 and "EX101 warning" in configured.stdout and "CL1" not in configured.stdout
    without = run_cli(MANY, "--select", "EX")  # not installed here: an unknown code
    assert without.returncode == 2
    assert without.stderr == "convlint: error: unknown rule code or prefix 'EX'; `convlint rules` lists them\n"


def test_a_broken_plugin_is_named_and_every_other_rule_still_runs(both):
    listing = run_cli("rules", env=both)
    assert listing.returncode == 0
    assert listing.stderr.splitlines() == BROKEN_WARNINGS
    codes = [line.split()[0] for line in listing.stdout.splitlines()]
    assert "EX101" in codes and "BR003" in codes and "CL101" in codes and "BR001" not in codes

    lint = run_cli(MANY, "--format", "json", "--no-verify", env=both)
    assert lint.returncode == 1
    assert lint.stderr.splitlines() == BROKEN_WARNINGS
    found = [(f["rule"], f["node"]) for r in json.loads(lint.stdout)["results"] for f in r["findings"]]
    assert ("EX101", "head") in found and ("CL101", "block") in found and ("CL106", "head") in found
    crashes = [f for r in json.loads(lint.stdout)["results"] for f in r["findings"] if f["rule"] == "CL000"]
    assert [f["node"] for f in crashes] == ["stem", "block", "head"]
    assert crashes[0]["message"] == ("rule BR003 (always-crashes, from plugin convlint-broken-rules) crashed on node "
                                     "'stem': ZeroDivisionError: this rule is broken on purpose")
    assert crashes[0]["hint"].endswith("please report it to convlint-broken-rules")
