"""CL212 and the ranges behind it, against eager PyTorch: for indices made from the sequence length (``torch.arange``
in its forms, a sliced ``position_ids`` buffer), convlint's verdict at pinned sizes is PyTorch's (an error exactly
where the forward pass fails), and the condition it states with the length symbolic holds exactly at the lengths
where PyTorch runs. Indices that come from the data stay unknown: no finding."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import convlint  # noqa: E402
from convlint.frontends import load_graph  # noqa: E402
from convlint.core import dims
from convlint.app import input_dtypes, input_shapes  # noqa: E402

CODE = "CL212"


class Indexed(nn.Module):
    """``x`` (N, T, 8) plus rows of a table picked by indices that ``index(x)`` makes from the length T."""

    def __init__(self, index, rows=100, lookup="embedding", buffer_len=None):
        super().__init__()
        self.index = index
        self.lookup = lookup
        self.table = nn.Embedding(rows, 8)
        self.weight = nn.Parameter(torch.randn(rows, 8))
        if buffer_len is not None:
            self.register_buffer("position_ids", torch.arange(buffer_len).expand((1, -1)), persistent=False)

    def forward(self, x):
        idx = self.index(self, x)
        if self.lookup == "embedding":
            rows = self.table(idx)
        elif self.lookup == "F.embedding":
            rows = F.embedding(idx, self.weight)
        elif self.lookup == "index_select":
            rows = self.weight.index_select(0, idx.reshape(-1)).reshape(*idx.shape, 8)
        else:  # gather along the rows of a (N, rows) activation: idx is (N, T)
            scores = x.new_zeros(x.shape[0], self.weight.shape[0])
            return x + torch.gather(scores, 1, idx).unsqueeze(-1)
        return x + rows


CASES = {
    # name: (index maker, table rows, lookup, buffer length, lengths where PyTorch runs)
    "arange": (lambda m, x: torch.arange(x.shape[1]), 100, "embedding", None, lambda T: T <= 100),
    "arange-device-dtype": (lambda m, x: torch.arange(0, x.shape[1], device=x.device, dtype=torch.long), 100,
                            "embedding", None, lambda T: T <= 100),
    "expand": (lambda m, x: torch.arange(x.shape[1]).expand(x.shape[0], x.shape[1]), 100, "embedding", None,
               lambda T: T <= 100),
    "unsqueeze": (lambda m, x: torch.arange(x.shape[1]).unsqueeze(0), 100, "embedding", None, lambda T: T <= 100),
    "from-one": (lambda m, x: torch.arange(1, x.shape[1] + 1), 100, "embedding", None, lambda T: T <= 99),
    "plus-int": (lambda m, x: (torch.arange(x.shape[1]) + 2).long(), 100, "embedding", None, lambda T: T <= 98),
    "step-2": (lambda m, x: torch.arange(0, 2 * x.shape[1], 2), 100, "embedding", None, lambda T: T <= 50),
    "view": (lambda m, x: torch.arange(x.shape[1]).view(1, -1).repeat(x.shape[0], 1), 100, "embedding", None,
             lambda T: T <= 100),
    "clamped": (lambda m, x: torch.arange(x.shape[1]).clamp(max=99), 100, "embedding", None, lambda T: True),
    "buffer": (lambda m, x: m.position_ids[:, :x.shape[1]], 200, "embedding", 300, lambda T: T <= 200),
    "buffer-offset": (lambda m, x: m.position_ids[:, 2:x.shape[1] + 2], 100, "embedding", 512, lambda T: T <= 98),
    "buffer-fits": (lambda m, x: m.position_ids[:, :x.shape[1]], 512, "embedding", 512, lambda T: True),
    "F.embedding": (lambda m, x: torch.arange(x.shape[1]).unsqueeze(0), 100, "F.embedding", None,
                    lambda T: T <= 100),
    "index_select": (lambda m, x: torch.arange(x.shape[1]), 100, "index_select", None, lambda T: T <= 100),
    "gather": (lambda m, x: torch.arange(x.shape[1]).expand(x.shape[0], -1), 64, "gather", None,
               lambda T: T <= 64),
    "negative": (lambda m, x: torch.arange(x.shape[1]) - 1, 100, "embedding", None, lambda T: False),
}
LENGTHS = (1, 49, 50, 51, 64, 65, 98, 99, 100, 101, 150, 200, 201, 320)


def build(name):
    index, rows, lookup, buffer_len, _ = CASES[name]
    torch.manual_seed(0)
    return Indexed(index, rows, lookup, buffer_len).eval()


def eager_runs(model, length) -> bool:
    try:
        with torch.no_grad():
            model(torch.zeros(2, length, 8))
    except (IndexError, RuntimeError):
        return False
    return True


def findings(model, shape):
    return [f for f in convlint.lint(model, input_shape=shape, verify=False).findings if f.rule == CODE]


@pytest.mark.parametrize("name", CASES)
def test_pinned_sizes_agree_with_eager_pytorch(name):
    model = build(name)
    runs = CASES[name][4]
    for length in LENGTHS:
        assert eager_runs(model, length) == runs(length), (name, length)
        found = findings(model, f"2,{length},8")
        if runs(length):
            assert found == [], (length, [f.message for f in found])
        elif name == "negative":
            assert found[0].message.endswith("index -1 is negative, which PyTorch refuses"), found[0].message
        else:
            assert [f.severity for f in found] == ["error"], (length, [f.message for f in found])
            assert found[0].condition is None


@pytest.mark.parametrize("name", CASES)
def test_symbolic_condition_holds_exactly_where_pytorch_runs(name):
    model = build(name)
    runs = CASES[name][4]
    found = findings(model, "N,T,8")
    if all(runs(n) for n in LENGTHS):
        assert found == [], [f.message for f in found]
        return
    if not any(runs(n) for n in LENGTHS):
        assert [(f.severity, f.condition) for f in found] == [("error", None)], [f.message for f in found]
        assert "for every value of T" in found[0].message
        return
    [f] = found
    assert f.severity == "info", f.message  # a table bounding the length: the model's longest input, by design
    for length in LENGTHS:
        assert eval(f.condition, {}, {"T": length}) == runs(length), (f.condition, length)
        assert eager_runs(model, length) == runs(length)


def test_the_issue_example_speaks_in_the_users_names():
    model = build("arange")
    [note] = findings(model, "N,T,8")
    assert note.condition == "T <= 100"
    assert note.message == ("Embedding 'table' looks up indices 0…T-1 (torch.arange(T)) in 'table.weight' "
                            "(100, 8), a table of 100 rows: valid only when T <= 100, so that is the longest input "
                            "the model takes")
    assert note.hint == ("if longer inputs must work, give 'table.weight' more rows (max_position_embeddings in a "
                         "Hugging Face config); else keep to T <= 100")
    [error] = findings(model, "2,120,8")
    assert error.message == ("Embedding 'table' looks up indices 0…119 (torch.arange(120)) in 'table.weight' "
                             "(100, 8), a table of 100 rows: index 119 is past the last row, 99")
    assert "at least 120 rows" in error.hint


def test_an_error_is_confirmed_on_the_indices_the_model_makes():
    """Replayed on the indices the model makes (0..119), PyTorch refuses the lookup, and onnxruntime its export."""
    [error] = [f for f in convlint.lint(build("expand"), input_shape="2,120,8").findings if f.rule == CODE]
    assert error.severity == "error"
    assert error.verification.status == "confirmed", error.verification
    assert error.verification.message == "index out of range in self"
    assert error.verification.export.status == "confirmed"
    assert "out of data bounds" in error.verification.export.message


def test_a_lower_bound_that_is_not_a_length_is_a_warning():
    # indices T-50..2T-51: negative for T < 50, a condition that bounds the length from below too
    model = Indexed(lambda m, x: torch.arange(x.shape[1] - 50, 2 * x.shape[1] - 50), 200).eval()
    [f] = findings(model, "N,T,8")
    assert (f.severity, f.condition) == ("warning", "50 <= T <= 125")
    assert "(smallest: T = 50)" in f.message
    assert "make the indices start at 0 or above" in f.hint
    for length in (49, 50, 51, 125, 126):
        assert eager_runs(model, length) == (50 <= length <= 125)


class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(100, 8)

    def forward(self, ids):
        return self.tok(ids) + self.tok(ids.cumsum(-1))


def test_indices_from_the_data_stay_unknown():
    for shape in ("N,T", "2,120"):
        report = convlint.lint(Tokens(), input_shape=shape, input_dtype="int64", verify=False)
        assert [f for f in report.findings if f.rule == CODE] == []


def test_a_buffer_on_the_meta_device_has_no_known_values():
    with torch.device("meta"):
        model = Indexed(CASES["buffer"][0], 200, buffer_len=300)
    assert findings(model, "N,T,8") == []
    assert findings(model, "2,250,8") == []


def test_ranges_in_the_users_dims():
    model = build("buffer-offset")
    graph = load_graph(model, input_shapes.coerce("N,T,8"), input_dtypes.coerce([]))
    [gather] = [n for n in graph.nodes if n.op == "Gather"]
    r = gather.inputs[1].range
    assert (dims.pretty(r.lo), dims.pretty(r.hi), r.axis, r.source) == ("2", "min(512, T+2)-1", 1,
                                                                        "buffer 'position_ids'")


class Both(nn.Module):
    def __init__(self):
        super().__init__()
        self.table = nn.Embedding(100, 8)

    def forward(self, x):
        return self.table(torch.arange(-1, x.shape[1] + 100))


def test_an_index_past_both_ends_names_both():
    [f] = findings(Both(), "N,T,8")
    assert f.severity == "error"
    assert f.message.endswith("index T+99 is past the last row, 99 and index -1 is negative, which PyTorch refuses "
                              "for every value of T"), f.message
    assert not eager_runs(Both(), 1)
