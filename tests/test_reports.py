"""--format sarif (validated against the published SARIF 2.1.0 schema) and --format github, from the real CLI."""

from __future__ import annotations

import json
import os

import jsonschema
import pytest

from convlint.checking import registry

from conftest import ROOT, run_cli
from project_files import HEAD_LINE, NET_PY, write

# CI keeps shared/ beside the clone, as developers do.
SCHEMA_PATH = os.path.join(ROOT, "..", "shared", "schemas", "sarif-schema-2.1.0.json")


@pytest.fixture(scope="module")
def sarif_validator():
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def test_sarif_of_onnx_models_is_valid_and_carries_rule_docs(sarif_validator):
    proc = run_cli("fixtures/onnx/many_faults.onnx", "fixtures/onnx/seed_conv_channels.onnx",
                   "fixtures/onnx/missing.onnx", "--format", "sarif")
    assert proc.returncode == 2  # one target cannot be read
    log = json.loads(proc.stdout)
    sarif_validator.validate(log)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    reg = registry.load()
    assert [r["id"] for r in driver["rules"]] == list(reg.rules)
    for descriptor in driver["rules"]:
        rule = reg.rules[descriptor["id"]]
        assert descriptor["name"] == rule.name
        assert descriptor["shortDescription"]["text"] == rule.summary()
        assert descriptor["help"]["markdown"] == rule.doc() and "## Why is this bad?" in rule.doc()
        assert descriptor["defaultConfiguration"]["level"] == {"error": "error", "warning": "warning",
                                                                "info": "note"}[rule.severity]

    got = [(r["ruleId"], driver["rules"][r["ruleIndex"]]["id"], r["level"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]) for r in run["results"]]
    many = "fixtures/onnx/many_faults.onnx"
    assert got == [("CL103", "CL103", "error", many, 1, "stem"), ("CL101", "CL101", "error", many, 1, "block"),
                   ("CL102", "CL102", "error", many, 1, "block"), ("CL106", "CL106", "error", many, 1, "head"),
                   ("CL101", "CL101", "error", "fixtures/onnx/seed_conv_channels.onnx", 1, "conv1")]
    seed = run["results"][-1]
    assert seed["message"]["text"].startswith("conv1 (Conv): input 'image' has 1 channel, but weight")
    assert "\nHint: feed an input with 3 channels" in seed["message"]["text"]
    assert seed["properties"]["verification"]["status"] == "confirmed"
    assert len({r["partialFingerprints"]["convlint/v1"] for r in run["results"]}) == len(run["results"])

    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"] == [{
        "level": "error", "message": {"text": "fixtures/onnx/missing.onnx: no such file"},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": "fixtures/onnx/missing.onnx"}}}]}]


def test_sarif_points_pytorch_findings_at_the_source_line(sarif_validator, tmp_path):
    write(tmp_path, "models/net.py", NET_PY)
    proc = run_cli("models/net.py:build", "--input-shape", "N,3,H,W", "--format", "sarif", cwd=str(tmp_path))
    assert proc.returncode == 1, proc.stderr
    log = json.loads(proc.stdout)
    sarif_validator.validate(log)
    (result,) = log["runs"][0]["results"]
    location = result["locations"][0]
    assert location["physicalLocation"] == {"artifactLocation": {"uri": "models/net.py"},
                                            "region": {"startLine": HEAD_LINE}}
    assert location["logicalLocations"] == [{"name": "head", "fullyQualifiedName": "head", "kind": "module"}]
    assert result["message"]["text"].startswith("head (Conv2d): input 'stem' has 8 channels, but weight 'head.weight'")


def test_github_annotations(tmp_path):
    proc = run_cli("fixtures/onnx/seed_conv_channels.onnx", "fixtures/onnx/seed_conv_channels_clean.onnx",
                   "--format", "github", "--no-verify", "--select", "CL101")
    assert proc.returncode == 1
    assert proc.stdout == (
        "::error file=fixtures/onnx/seed_conv_channels.onnx,title=convlint CL101 (conv-input-channels)::"
        "conv1 (Conv): input 'image' has 1 channel, but weight 'conv1_weight' (4, 3, 3, 3) with group=1 expects "
        "3 = W.shape[1] 3 × group 1%0Ahint: feed an input with 3 channels, or give the weight shape (4, 1, 3, 3)\n"
        "Found 1 error in 2 models.\n")
    bad = tmp_path / "a,b: 100%.onnx"
    bad.write_bytes(b"")
    proc = run_cli(str(bad), "--format", "github")
    assert proc.returncode == 2
    escaped = str(bad).replace("%", "%25")
    assert proc.stdout.splitlines()[0] == (
        f"::error file={escaped.replace(':', '%3A').replace(',', '%2C')},title=convlint%3A cannot read the model::"
        f"{escaped}: empty file, not an ONNX model")


def test_github_annotation_of_a_pytorch_finding_has_its_line(tmp_path):
    write(tmp_path, "models/net.py", NET_PY)
    proc = run_cli("models/net.py:build", "--input-shape", "N,3,H,W", "--format", "github", "--no-verify",
                   cwd=str(tmp_path))
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[0] == (
        f"::error file=models/net.py,line={HEAD_LINE},title=convlint CL101 (conv-input-channels)::head (Conv2d): input "
        "'stem' has 8 channels, but weight 'head.weight' (2, 4, 1, 1) with group=1 expects 4 = W.shape[1] 4 × group 1"
        "%0Ahint: feed an input with 4 channels, or give the weight shape (2, 8, 1, 1)")
