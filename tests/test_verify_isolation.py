"""A node with several faults: each finding is confirmed by onnxruntime refusing that fault, not another one."""

from __future__ import annotations

import convlint
from convlint.examples import model_from_text

THREE_FAULTS = """<ir_version: 8, opset_import: ["": 17]>
g (float[1, 2, 3, 3] x) => (float[1, 4, 1, 1] y)
<float[4, 3, 7, 7] w, float[5] b> { [c] y = Conv <kernel_shape = [5, 5], pads = [1, 1, 1, 1]> (x, w, b) }"""

GROUPED = """<ir_version: 8, opset_import: ["": 17]>
g (float[1, 8, 8, 8] x) => (float[1, 8, 6, 6] y)
<float[8, 4, 3, 3] w> { [block] y = Conv <group = 3> (x, w) }"""


def _verdicts(text):
    report = convlint.lint(model_from_text(text))
    return {f.rule: f.verification for f in report.findings}


def test_each_fault_on_one_node_is_confirmed_by_its_own_refusal():
    v = _verdicts(THREE_FAULTS)
    assert set(v) == {"CL101", "CL103", "CL104"}
    assert all(x.status == "confirmed" for x in v.values())
    assert "Input channels C is not equal to kernel channels * group" in v["CL101"].message
    assert "bias must be a 1D tensor of size output_channels (4)" in v["CL103"].message
    assert "kernel_shape is not compatible with W shape" in v["CL104"].message
    # the bias and kernel findings are replayed with the 3 channels the weight takes
    assert v["CL103"].witness.inputs == {"x": (1, 3, 3, 3)}


def test_group_divisibility_is_confirmed_apart_from_the_channel_fault():
    v = _verdicts(GROUPED)
    assert set(v) == {"CL101", "CL102"}
    assert "Output channels M is not divisible by group. M: 8 group: 3" in v["CL102"].message
    assert "Input channels C is not equal to kernel channels * group" in v["CL101"].message
