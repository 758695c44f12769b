"""A lint of an ONNX model, its verification included, runs without the onnx package's ``__init__`` (whose
``onnx.helper`` loads ``ml_dtypes``, most of a 0.5 s import): the protobuf classes and schemas are loaded from the
package alone, plain tensors are read and written without ``numpy_helper``, a replay is written without
``onnx.helper``, and a later ``import onnx`` reuses what was loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from convlint.core.dtypes import _NAMES, dtype_name, onnx_elem_type
from convlint.core.onnx_tensors import EXTERNAL, PLAIN_DTYPES, to_array
from convlint.verify import protos

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = os.path.join(ROOT, "fixtures", "onnx", "seed_conv_channels.onnx")

_PROBE = """
import json, sys
import convlint
report = convlint.lint(sys.argv[1])
loaded = [m for m in ("onnx", "onnx.helper", "ml_dtypes") if m in sys.modules]
import onnx
from convlint.core import onnx_parts
same = onnx.ModelProto is onnx_parts.proto().ModelProto and onnx.defs.get_schema is onnx_parts.defs().get_schema
print(json.dumps({"rules": sorted({f.rule for f in report.findings}), "loaded": loaded, "same": same,
                  "verdicts": [f.verification.status for f in report.findings]}))
"""


def test_a_lint_imports_no_onnx_package():
    run = subprocess.run([sys.executable, "-c", _PROBE, SEED], capture_output=True, text=True, timeout=120,
                         check=True)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["rules"] == ["CL101"] and result["verdicts"] == ["confirmed"]  # the lint and replay did their work
    assert result["loaded"] == []
    assert result["same"]  # the onnx imported afterwards uses the classes and schemas already loaded


@pytest.mark.parametrize("dtype", ["float32", "uint8", "int8", "uint16", "int16", "int32", "int64", "bool",
                                   "float16", "float64", "uint32", "uint64"])
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3)])
def test_plain_tensors_read_as_numpy_helper_reads_them(dtype, shape):
    a = (np.random.default_rng(0).standard_normal(shape) * 100).astype(dtype)
    raw = numpy_helper.from_array(a, "t")
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    values = a.flatten().tolist()
    typed = helper.make_tensor("t", elem, shape, values)  # the typed field (float16 as its bits)
    for tensor in (raw, typed):
        want, got = numpy_helper.to_array(tensor), to_array(tensor)
        assert (got.dtype, got.shape) == (want.dtype, want.shape) and np.array_equal(got, want, equal_nan=True)
    written = protos.tensor(a, "t")  # as a replay writes it
    assert written.SerializeToString() == raw.SerializeToString()


def test_the_constants_kept_without_onnx_are_onnxs():
    assert EXTERNAL == TensorProto.EXTERNAL
    assert PLAIN_DTYPES == {"float32", "uint8", "int8", "uint16", "int16", "int32", "int64", "bool", "float16",
                            "float64", "uint32", "uint64"}


def test_other_tensors_go_to_numpy_helper():
    bf16 = helper.make_tensor("t", TensorProto.BFLOAT16, (2,), [1.5, -2.0])
    assert to_array(bf16).astype(np.float32).tolist() == [1.5, -2.0]


def test_element_type_names_are_onnx_helpers():
    for elem in range(1, len(_NAMES)):
        assert dtype_name(elem) == helper.tensor_dtype_to_np_dtype(elem).name
        assert onnx_elem_type(_NAMES[elem]) == elem
    newest = max(TensorProto.DataType.values())
    assert dtype_name(newest) is not None  # a type past the table comes from onnx itself


def test_the_ir_version_a_replay_declares_is_onnx_helpers():
    for version in range(1, 40):
        try:
            want = helper.find_min_ir_version_for([helper.make_opsetid("", version)])
        except ValueError:  # an opset onnx does not list
            continue
        assert protos.min_ir_version({"": version}) == max(want, 4), version
    assert protos.min_ir_version({"": 17, "ai.onnx.ml": 3}) == max(8, helper.find_min_ir_version_for(
        [helper.make_opsetid("ai.onnx.ml", 3)]))
