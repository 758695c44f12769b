"""Models exported by ``torch.onnx.export`` from common CNNs and transformers (built in :mod:`torch_models`), with
dynamic batch, image or sequence sizes: convlint lints them clean, derives their outputs in the user's dim names,
and every shape it propagates agrees with onnxruntime, at the export's sizes and at other ones.

Both exporters are covered: ``dynamo`` (torch.export, the default since torch 2.9; needs onnxscript) and
``torchscript`` (the older tracer, still what many exported models come from).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import convlint  # noqa: E402
from convlint.core import dims  # noqa: E402
from convlint.core.compare import equal as dims_equal  # noqa: E402

import torch_models as tm  # noqa: E402
from shape_oracle import Comparison, compare, propagated, run_all, sizes_from_feeds  # noqa: E402


def _exporter_available(exporter: str) -> bool:
    if exporter != "dynamo":
        return True
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


CASES = [pytest.param(exporter, name, id=f"{exporter}-{name}") for exporter in tm.EXPORTERS for name in tm.CASES]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Exports on first use; (exporter, name) -> path of the ONNX file."""
    folder = tmp_path_factory.mktemp("exported")
    paths = {}

    def get(exporter: str, name: str) -> str:
        if not _exporter_available(exporter):
            pytest.skip(f"the {exporter} exporter needs onnxscript")
        if (exporter, name) not in paths:
            paths[exporter, name] = tm.export(tm.CASES[name], folder / f"{exporter}-{name}.onnx", exporter)
        return paths[exporter, name]

    return get


def example_sizes(case: tm.Case) -> dict:
    """The size each dynamic dim has in the case's example inputs."""
    return {d: int(case.inputs[i].shape[a]) for i, axes in enumerate(case.dynamic.values()) for a, d in axes.items()}


def expected_dim(d, fixed: dict):
    """An expected output dim: an int, or a dim name (an int too if the exporter ``fixed`` it)."""
    if type(d) is int:
        return d
    return fixed.get(d, dims.symbol(d))


@pytest.mark.parametrize("exporter,name", CASES)
def test_exported_model_lints_clean_in_the_users_dim_names(exported, exporter, name):
    case = tm.CASES[name]
    path = exported(exporter, name)
    report = convlint.lint(path)
    assert report.input_errors == []
    assert [(f.rule, f.node, f.message) for f in report.errors] == []
    graph = propagated(path)
    assert graph.shape_errors == []
    fixed = {d: v for d, v in example_sizes(case).items() if d in case.specialized.get(exporter, ())}
    got = {v.name: v.shape for v in graph.outputs}
    for output, want in case.outputs.items():
        want = tuple(expected_dim(d, fixed) for d in want)
        assert got[output] is not None and len(got[output]) == len(want), (output, got[output], want)
        assert all(dims_equal(g, w) for g, w in zip(got[output], want)), (output, dims.pretty_shape(got[output]), want)


def feeds(case: tm.Case, sizes: dict) -> dict:
    """Random inputs for ``case`` with its dynamic dims at ``sizes`` (token ids stay in the example's range)."""
    rng = np.random.default_rng(0)
    out = {}
    for example, (name, axes) in zip(case.inputs, case.dynamic.items()):
        shape = list(example.shape)
        for a, d in axes.items():
            shape[a] = sizes[d]
        if example.dtype.is_floating_point:
            out[name] = rng.standard_normal(shape).astype(np.float32)
        else:
            out[name] = rng.integers(0, int(example.max()) + 1, shape).astype(np.int64)
    return out


def compare_runs(path: str, case: tm.Case, exporter: str) -> Comparison:
    """convlint against onnxruntime on the example's sizes and on each of the case's other sizes."""
    import onnx

    model = onnx.load(path)
    graph = propagated(path)
    example = example_sizes(case)
    fixed = case.specialized.get(exporter, ())
    total = Comparison()
    for other in [{}] + case.sizes:
        sizes = {d: (example[d] if d in fixed else other.get(d, example[d])) for d in example}
        inputs = feeds(case, sizes)
        total = total.add(compare(graph, run_all(model, inputs), sizes_from_feeds(graph, inputs)))
    return total


@pytest.mark.parametrize("exporter,name", CASES)
def test_exported_model_shapes_match_onnxruntime(exported, exporter, name, record_property):
    case = tm.CASES[name]
    result = compare_runs(exported(exporter, name), case, exporter)
    record_property("values", result.values)
    record_property("fully_known", result.known)
    print(f"{exporter}-{name}: {result.known}/{result.values} values fully known, "
          f"{result.data_checked} folded contents checked")
    assert result.mismatches == []
    assert result.values > 0
    assert result.known == result.values, (f"{result.unknown_rank} values of unknown rank, "
                                           f"{result.unknown_dims} unknown dims")
