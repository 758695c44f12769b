"""PyTorch's own checks decide for a PyTorch model: a layer convlint does not run through PyTorch (a BatchNorm or
Linear whose fit it decides itself, a recurrent layer on shape-only kernels) is judged exactly as PyTorch judges it.
Each grid compares convlint's verdict (an error on the layer, or none) with eager PyTorch on real CPU tensors."""

from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import convlint  # noqa: E402


def eager_refuses(model, shape, dtype=torch.float32) -> bool:
    try:
        with torch.no_grad():
            model(torch.zeros(shape, dtype=dtype))
    except Exception:
        return True
    return False


def lint_errors(model, shape, dtype="float32") -> list:
    report = convlint.lint(model, input_shape=",".join(map(str, shape)), input_dtype=dtype, verify=False)
    assert not report.input_errors, report.input_errors
    return [(f.rule, f.location.get("module"), f.message) for f in report.errors]


def _agree(model, shape, layer, dtype=torch.float32):
    refused = eager_refuses(model, shape, dtype)
    errors = lint_errors(model, shape, str(dtype).replace("torch.", ""))
    assert bool(errors) == refused, (model, shape, errors)
    if refused and layer is not None:
        assert any(module == layer for _, module, _ in errors), errors


BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@pytest.mark.parametrize("cls,rank,training,batch,channels",
                         list(itertools.product(BATCH_NORMS, range(1, 7), (True, False), (1, 2), (4, 5))))
def test_batch_norm_is_judged_as_pytorch_judges_it(cls, rank, training, batch, channels):
    """Rank (BatchNorm2d on a (N, C) tensor: "expected 4D input (got 2D input)"), channels, and one value per
    channel in training."""
    model = nn.Sequential(cls(4))
    model.train(training)
    shape = ((batch, channels) + (1,) * (rank - 2))[:rank] if rank >= 2 else (channels,)
    _agree(model, shape, "0")


@pytest.mark.parametrize("rank,features,dtype", list(itertools.product(range(1, 5), (6, 7),
                                                                       (torch.float32, torch.float64))))
def test_linear_is_judged_as_pytorch_judges_it(rank, features, dtype):
    model = nn.Sequential(nn.Linear(6, 3))
    _agree(model, (2, 3, 5)[:rank - 1] + (features,), "0", dtype)


class WithState(nn.Module):
    """A recurrent layer called with an initial state the forward builds itself (as a user's code does)."""

    def __init__(self, rnn, state_shapes):
        super().__init__()
        self.rnn = rnn
        self.state_shapes = state_shapes

    def forward(self, x):
        if self.state_shapes is None:
            return self.rnn(x)[0]
        state = [torch.zeros(s) for s in self.state_shapes]
        return self.rnn(x, tuple(state) if len(state) == 2 else state[0])[0]


def _rnn_cases():
    cases = []
    for mode, batch_first, bidirectional, layers, batched in itertools.product(
            ("LSTM", "GRU", "RNN"), (False, True), (False, True), (1, 2), (True, False)):
        d = (2 if bidirectional else 1) * layers
        batch, seq, feat, hidden = 3, 5, 6, 4
        x = ((batch, seq, feat) if batch_first else (seq, batch, feat)) if batched else (seq, feat)
        good = (d, batch, hidden) if batched else (d, hidden)
        states = {"none": None, "right": good,
                  "batch": (d, batch + 1, hidden) if batched else (d, 1, hidden),
                  "hidden": good[:-1] + (hidden + 1,), "layers": (d + 1,) + good[1:],
                  "rank": good[1:]}
        for state, shape in states.items():
            for features in (feat, feat + 1):
                xs = x[:-1] + (features,)
                if mode == "LSTM":
                    shapes = None if shape is None else [shape, good if state != "right" else shape]
                else:
                    shapes = None if shape is None else [shape]
                cases.append((mode, batch_first, bidirectional, layers, xs, state, shapes))
    return cases


@pytest.mark.parametrize("mode,batch_first,bidirectional,layers,x,state,shapes", _rnn_cases())
def test_recurrent_layers_are_judged_as_pytorch_judges_them(mode, batch_first, bidirectional, layers, x, state,
                                                             shapes):
    """Input rank and size, and the initial state's shape (batch, hidden size, layers x directions, rank): "Expected
    hidden[0] size (1, 32, 16), got [1, 8, 16]"."""
    rnn = getattr(nn, mode)(6, 4, num_layers=layers, batch_first=batch_first, bidirectional=bidirectional)
    _agree(WithState(rnn, shapes), x, "rnn")


def test_lstm_state_for_another_batch_is_found_at_the_call():
    """The report's words: the layer, and PyTorch's own message about the state."""
    model = WithState(nn.LSTM(16, 32, batch_first=True), [(1, 8, 32), (1, 8, 32)])
    errors = lint_errors(model, (4, 10, 16))
    assert errors == [("CL010", "rnn", "PyTorch refuses this call: Expected hidden[0] size (1, 4, 32), got [1, 8, 32]")]


def test_lstm_state_for_another_batch_is_a_condition_on_a_symbolic_batch():
    model = WithState(nn.LSTM(16, 32, batch_first=True), [(1, 8, 32), (1, 8, 32)])
    report = convlint.lint(model, input_shape="N,T,16", verify=False)
    assert report.errors == []
    [f] = [f for f in report.findings if f.location.get("module") == "rnn"]
    assert (f.rule, f.severity, f.condition) == ("CL012", "warning", "N == 8")
    assert f.message.endswith('passes only when N == 8: "Expected hidden[0] size (1, N, 32), got [1, 8, 32]"')
    assert eager_refuses(model, (4, 10, 16)) and not eager_refuses(model, (8, 10, 16))


class Resize(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.kwargs = kwargs

    def forward(self, x):
        return nn.functional.interpolate(x, **self.kwargs)


def _interpolate_cases():
    out = []
    for rank in (2, 3, 4, 5, 6):
        for how in ({"size": 4}, {"size": (4, 6)}, {"size": (4, 6, 2)}, {"scale_factor": 2}, {"scale_factor": 1.5},
                    {"scale_factor": (2, 3)}, {"scale_factor": 0.5}, {"scale_factor": 1.3333333}, {},
                    {"size": 4, "scale_factor": 2}, {"size": 0}):
            for mode, align in (("nearest", None), ("nearest", True), ("linear", None), ("bilinear", True),
                                ("bicubic", None), ("trilinear", False), ("area", None), ("nearest-exact", None)):
                out.append((rank, how, mode, align))
    return out


@pytest.mark.parametrize("rank,how,mode,align", _interpolate_cases())
def test_interpolate_is_judged_as_pytorch_judges_it(rank, how, mode, align):
    """F.interpolate, which convlint sizes itself when the call surely passes PyTorch's checks: the same verdict as
    eager PyTorch, and the same output size when both run."""
    kwargs = dict(how, mode=mode)
    if align is not None:
        kwargs["align_corners"] = align
    model = Resize(**kwargs)
    shape = (2, 3, 5, 7, 3, 2)[:rank]
    _agree(model, shape, None)
    if not eager_refuses(model, shape):
        report = convlint.lint(model, input_shape=",".join(map(str, shape)), verify=False)
        with torch.no_grad():
            expected = tuple(model(torch.zeros(shape)).shape)
        assert tuple(report_output_shape(model, shape)) == expected


def report_output_shape(model, shape):
    from convlint.app import input_shapes
    from convlint.frontends import torch_model, torch_target

    graph = torch_model.describe(torch_target.load(model), input_shapes.coerce(",".join(map(str, shape))))
    return graph.outputs[0].shape


class Attend(nn.Module):
    def __init__(self, k_shape, v_shape, dtype=torch.float32, **kwargs):
        super().__init__()
        self.k_shape, self.v_shape, self.dtype, self.kwargs = k_shape, v_shape, dtype, kwargs

    def forward(self, q):
        k = torch.zeros(self.k_shape, dtype=self.dtype, device=q.device)
        v = torch.zeros(self.v_shape, dtype=self.dtype, device=q.device)
        return nn.functional.scaled_dot_product_attention(q, k, v, **self.kwargs)


def _attention_cases():
    out = []
    q = (2, 4, 6, 8)
    for k in ((2, 4, 5, 8), (2, 4, 5, 7), (2, 1, 5, 8), (3, 4, 5, 8), (4, 5, 8)):
        for v in ((2, 4, 5, 3), (2, 4, 6, 3), (2, 2, 5, 3), (4, 5, 3)):
            for dtype in (torch.float32, torch.float64):
                for kwargs in ({}, {"is_causal": True}, {"scale": 0.5}, {"dropout_p": 0.0}):
                    out.append((q, k, v, dtype, kwargs))
    return out


@pytest.mark.parametrize("q,k,v,dtype,kwargs", _attention_cases())
def test_attention_is_judged_as_pytorch_judges_it(q, k, v, dtype, kwargs):
    """F.scaled_dot_product_attention, which convlint sizes itself when the call surely fits."""
    _agree(Attend(k, v, dtype, **kwargs), q, None)


@pytest.mark.parametrize("rank,how,mode,align", [c for c in _interpolate_cases() if c[0] == 4])
def test_interpolate_refusals_are_errors_only_when_they_hold_for_every_size(rank, how, mode, align):
    """With symbolic sizes, an F.interpolate refusal is an error only when the arguments alone make PyTorch refuse
    (here: it refuses at every size tried eagerly); one that depends on the sizes is at most a warning."""
    kwargs = dict(how, mode=mode)
    if align is not None:
        kwargs["align_corners"] = align
    model = Resize(**kwargs)
    refused_everywhere = all(eager_refuses(model, (1, 3, h, w)) for h, w in ((1, 1), (5, 7), (8, 8), (33, 64)))
    errors = lint_errors(model, ("N", 3, "H", "W"))
    if errors:
        assert refused_everywhere, errors
