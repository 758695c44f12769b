"""The held-out corpus (tests/corpus/): faulty PyTorch models reduced from public reports, each with a clean twin.

For every case, eager PyTorch refuses the faulty model and runs the twin on real CPU tensors at the case's sizes
(so the corpus itself is right), and convlint reports an error on the module where PyTorch fails and no error on
the twin. The cases convlint does not get right today are listed, with the reason, in KNOWN_MISSES (and twins
with false errors in KNOWN_FALSE_ERRORS); those tests are strict xfails, so a fixed case fails until it is removed
from the list. `python bench/corpus_recall.py` prints the same measurement as a table."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

import corpus_cases as cc  # noqa: E402

NAMES = cc.case_names()

# Faulty models convlint does not report as an error on FAULT_MODULE today, and why (what is not modelled).
KNOWN_MISSES = {
    # The recurrent layers are shape-only (never run by PyTorch in the trace) and their shape function does not
    # model nn.RNNBase.check_forward_args on the initial state: (layers × directions, batch, hidden), 3-D when
    # the input is batched.
    "bigru_h0_directions": "h0 of a bidirectional GRU must have num_layers * 2 rows: RNN initial state not checked",
    "lstm_h0_extra_layer": "h0/c0 layer count vs num_layers: RNN initial state not checked",
    "lstm_h0_fixed_batch": "h0/c0 batch vs the input's batch: RNN initial state not checked",
    "lstm_h0_missing_layer_dim": "2-D hx for a batched 3-D input: RNN initial state rank not checked",
    "lstm_rows_without_batch_first": "h0 batch vs the batch the layout implies (batch_first=False): RNN initial "
                                     "state not checked",
    # BatchNorm's fast path (_batch_norm_fits) decides from the channel count and batch statistics and skips
    # PyTorch, so BatchNorm2d's _check_input_dim (4-D only) is never applied to a 5-D input.
    # PyTorch is asked only when that shortcut cannot decide: with a symbolic batch in training mode (the batch
    # statistics need N >= 2), which is why bn2d_after_linear (N,64) is found and these two are not.
    "bn2d_after_conv3d": "BatchNorm{1,2,3}d input rank (_check_input_dim) not checked on the fast path",
    "bn2d_after_linear_eval": "BatchNorm2d on (N, C) in eval mode: rank not checked on the fast path",
    "bn2d_after_fc_pinned_batch": "BatchNorm2d on (16, 256), batch pinned: rank not checked on the fast path",
    # Tensor dtypes of parameters are not compared with a float input (CL601 covers integer inputs only).
    "half_adapter_on_float": "float32 input to a float16 Linear: mixed floating dtypes not checked",
    # F.interpolate becomes a Resize; PyTorch's check that len(size) equals the input's spatial rank is not made.
    "interpolate_extra_dim": "F.interpolate size arity vs the input's spatial rank not checked",
    # Index values are not tracked: arange(L) (+ offset) against the table's num_embeddings.
    "learned_positions_offset": "positions arange(L) + 2 index past an Embedding of 1026 rows: index range not "
                                "checked",
    "position_embedding_too_short": "positions arange(128) index past Embedding(100): index range not checked",
    # nn.Transformer.forward raises its own RuntimeError; the trace records it as an incomplete trace (CL011
    # info), not as a refusal.
    "transformer_src_not_d_model": "nn.Transformer's d_model check raised in Python: reported as a trace note only",
    # A layer PyTorch refuses to construct is an error at the line that builds it, but on the root module: the
    # parent was never built, so the module path is unknown.
    "groupnorm_32_groups": "construction refused (GroupNorm 32 ∤ 48): error reported on the root, not block.1",
    "mha_embed_not_divisible": "construction refused (109 % 4): error reported on the root, not encoder",
    "conv_same_padding_strided": "construction refused (padding='same', stride 2): error reported on the root, "
                                 "not stem",
    # PyTorch's refusal at convlint's sample sizes becomes a warning (CL010 fallback), although the layer fails
    # for every size: no rule models the check.
    "mha_query_batch_mismatch": "query batch 1 vs key batch 4 in MultiheadAttention: warning only (no rule)",
    "pixel_shuffle_channels": "63 channels for PixelShuffle(4) (needs C % 16 == 0): warning only (no rule)",
    "view_after_transpose": "view on a transposed (non-contiguous) tensor: strides not modelled, warning only",
}

# Clean twins on which convlint reports an error today.
KNOWN_FALSE_ERRORS: dict[str, str] = {}


def _marked(names, known):
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=known[n])) if n in known else n
            for n in names]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_corpus_is_large_and_lists_are_current():
    assert len(NAMES) >= 40
    assert set(KNOWN_MISSES) <= set(NAMES), set(KNOWN_MISSES) - set(NAMES)
    assert set(KNOWN_FALSE_ERRORS) <= set(NAMES), set(KNOWN_FALSE_ERRORS) - set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_case_is_well_formed_and_cited(name):
    case = cc.load(name)
    doc = case.__doc__ or ""
    assert "Reported:" in doc and ("https://" in doc), "the docstring cites the public report"
    assert isinstance(case.FAULT_MODULE, str)
    assert callable(case.build) and callable(case.build_clean)
    assert len(cc.dtypes(case)) == len(cc.specs(case))


@pytest.mark.parametrize("name", NAMES)
def test_eager_pytorch_refuses_the_faulty_model_and_runs_the_twin(name):
    case = cc.load(name)
    assert cc.eager_error(case, case.build) is not None, "the faulty model runs in eager PyTorch"
    assert cc.eager_error(case, case.build_clean) is None


@pytest.mark.parametrize("name", _marked(NAMES, KNOWN_MISSES))
def test_convlint_reports_an_error_on_the_faulty_module(name):
    case = cc.load(name)
    findings = cc.lint(case, case.build).findings
    assert cc.classify(findings, case.FAULT_MODULE) == cc.FOUND, [cc.describe(f) for f in findings]


@pytest.mark.parametrize("name", _marked(NAMES, KNOWN_FALSE_ERRORS))
def test_convlint_reports_no_error_on_the_clean_twin(name):
    case = cc.load(name)
    errors = [cc.describe(f) for f in cc.lint(case, case.build_clean).findings if f.severity == "error"]
    assert errors == []


def test_recall_bench_reports_a_case(capsys):
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(cc.CORPUS), os.pardir, "bench", "corpus_recall.py")
    spec = importlib.util.spec_from_file_location("corpus_recall", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    names = ["bn2d_after_linear", "bigru_h0_directions"]
    assert bench.main(["--json", *names]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert [c["case"] for c in out["cases"]] == names
    found = [c["outcome"] == cc.FOUND for c in out["cases"]]
    assert found == [n not in KNOWN_MISSES for n in names]
    assert out["totals"]["cases"] == 2 and out["totals"]["recall"] == sum(found) / 2
    assert out["totals"]["clean_twins_with_errors"] == sum(n in KNOWN_FALSE_ERRORS for n in names)
