"""A PyTorch model is judged by PyTorch: each error on a PyTorch layer is replayed in PyTorch itself (a CPU copy of
that module alone, real tensors at the witness sizes) and in onnxruntime for its export, and the verdict says
both. Nothing PyTorch refuses is lowered to a warning."""

from __future__ import annotations

import json
import textwrap

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from conftest import run_cli  # noqa: E402

POOLS = textwrap.dedent("""
    from torch import nn


    def pool3d():
        return nn.MaxPool3d(2)


    def pool2d():
        return nn.MaxPool2d(2)
""")


@pytest.fixture
def pools(tmp_path):
    path = tmp_path / "pools.py"
    path.write_text(POOLS)
    return str(path)


@pytest.mark.parametrize("name,shape,given,calculated", [
    ("pool3d", "N,16,1,2,2", "(16x1x2x2)", "(16x0x1x1)"),
    ("pool2d", "N,3,1,1", "(3x1x1)", "(3x0x0)"),
])
def test_an_empty_pooling_output_pytorch_refuses_is_a_confirmed_error(pools, name, shape, given, calculated):
    """onnxruntime runs MaxPool with a window larger than the input; PyTorch refuses it ("Output size is too small"):
    the PyTorch model cannot run, so the finding stays an error and the exit status is 1."""
    proc = run_cli(f"{pools}:{name}", "--input-shape", shape)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "CL106 error" in proc.stdout
    witness = "(2, " + shape.split(",", 1)[1].replace(",", ", ") + ")"
    assert (f'confirmed — PyTorch refuses this layer on input {witness} with N=2: "Given input size: {given}. '
            f'Calculated output size: {calculated}. Output size is too small"; onnxruntime would run its export') \
        in proc.stdout
    doc = json.loads(run_cli(f"{pools}:{name}", "--input-shape", shape, "--format", "json").stdout)
    (f,) = doc["results"][0]["findings"]
    assert f["severity"] == "error"
    v = f["verification"]
    assert (v["status"], v["runtime"]) == ("confirmed", "PyTorch")
    assert v["message"].endswith("Output size is too small")
    assert v["witness"]["inputs"] == {"input": json.loads(witness.replace("(", "[").replace(")", "]"))}
    assert v["onnxruntime"]["status"] == "not reproduced"
