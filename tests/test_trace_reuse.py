"""A repeated block's trace copied (:mod:`convlint.frontends.torch_reuse`) is the trace PyTorch's own run of that block
gives: over real architectures (Hugging Face Llama, Mistral with sliding windows, Gemma 2 and 3 alternating sliding
and global attention, Qwen2, GPT-2, T5, BERT, Swin's shifted windows) and the benchmark's Llama and ResNet, each
traced with reuse and without, static and symbolic, every node, value, name, origin, call and finding is the same,
and reuse did happen. Blocks that must not be copied (a forward that keeps state, a hook, a pruned layer, an
attribute read that differs) are traced each time, and the model is left as it was."""

from __future__ import annotations

import os
import sys

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
torch = pytest.importorskip("torch")

import convlint  # noqa: E402
from convlint.app.input_dtypes import parse as parse_dtype  # noqa: E402
from convlint.app.input_shapes import parse as parse_shape  # noqa: E402
from convlint.frontends import load_graph, torch_reuse  # noqa: E402
from torch import nn  # noqa: E402

from model_state import same, snapshot  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
import torch_bench  # noqa: E402


@pytest.fixture
def copies(monkeypatch):
    """How many blocks were copied instead of traced, per lint."""
    count = [0]
    copy = torch_reuse.BlockReuse._copy

    def counted(self, *args):
        count[0] += 1
        return copy(self, *args)

    monkeypatch.setattr(torch_reuse.BlockReuse, "_copy", counted)
    return count


def _value(v):
    if v is None:
        return None
    return (v.name, v.shape, v.dtype, v.is_param, v.range, v.from_checkpoint,
            None if v._data is None else repr(v._data))


def _described(graph) -> tuple:
    """Everything the rules, the summary and verification read of a traced graph."""
    nodes = []
    for n in graph.nodes:
        call = n.torch_call
        nodes.append((n.op, n.name, [_value(v) for v in n.inputs], [_value(v) for v in n.outputs], repr(n.attrs),
                      repr(n.declared), n.origin, None if n.facts.params is None else
                      [(k, _value(v)) for k, v in n.facts.params.items()], n.facts.repeat_call, n.facts.refusal,
                      None if call is None else (id(call.target), repr(call.args), repr(call.kwargs))))
    trace = graph.trace
    return (nodes, [_value(v) for v in graph.values.values()], list(graph.values), [_value(v) for v in graph.outputs],
            trace.stop, repr(trace.checks), repr(trace.requirements), repr(trace.branches), repr(trace.specialized),
            repr(trace.followed))


def _graph(model, shape, dtype, reuse: bool, monkeypatch):
    monkeypatch.setattr(torch_reuse, "ENABLED", reuse)
    return load_graph(model, [parse_shape(shape)], [parse_dtype(dtype)] if dtype else ())


def _findings(model, shape, dtype, reuse: bool, monkeypatch):
    monkeypatch.setattr(torch_reuse, "ENABLED", reuse)
    report = convlint.lint(model, input_shape=shape, input_dtype=dtype, verify=False)
    return [(f.severity, f.rule, f.message, f.node, f.condition) for f in report.findings]


def assert_same_with_and_without_reuse(model, shape, dtype, monkeypatch, copies) -> int:
    """The graph and the findings are the same with reuse and without; returns how many blocks were copied."""
    plain = _described(_graph(model, shape, dtype, False, monkeypatch))
    copies[0] = 0
    reused = _described(_graph(model, shape, dtype, True, monkeypatch))
    copied = copies[0]
    for a, b in zip(plain[0], reused[0]):
        assert a == b  # the first node that differs
    assert plain == reused
    assert _findings(model, shape, dtype, False, monkeypatch) == _findings(model, shape, dtype, True, monkeypatch)
    return copied


# --- real architectures ---------------------------------------------------------------------------------------------

def _hf(name):
    T = pytest.importorskip("transformers")
    decoder = dict(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
                   num_key_value_heads=2)
    build = {
        "llama": lambda: T.LlamaModel(T.LlamaConfig(**decoder)),
        "mistral": lambda: T.MistralModel(T.MistralConfig(sliding_window=8, **decoder)),
        "gemma2": lambda: T.Gemma2Model(T.Gemma2Config(sliding_window=8, head_dim=8, **decoder)),
        "gemma3": lambda: T.Gemma3TextModel(T.Gemma3TextConfig(sliding_window=8, head_dim=8, **decoder)),
        "qwen2": lambda: T.Qwen2Model(T.Qwen2Config(**decoder)),
        "gpt2": lambda: T.GPT2Model(T.GPT2Config(vocab_size=100, n_embd=32, n_layer=4, n_head=4, bos_token_id=0,
                                                 eos_token_id=0, pad_token_id=0)),
        "t5": lambda: T.T5EncoderModel(T.T5Config(vocab_size=100, d_model=32, d_kv=8, d_ff=64, num_layers=4,
                                                  num_heads=4)),
        "bert": lambda: T.BertModel(T.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=4,
                                                 num_attention_heads=4, intermediate_size=64)),
        "swin": lambda: T.SwinModel(T.SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[2, 4],
                                                 num_heads=[2, 4], window_size=4)),
    }[name]
    return build().eval()


TEXT = [("N,S", "int64"), ("2,12", "int64")]
ARCHITECTURES = {name: TEXT for name in ("llama", "mistral", "gemma2", "gemma3", "qwen2", "gpt2", "t5", "bert")}
ARCHITECTURES["swin"] = [("N,3,64,64", None), ("2,3,64,64", None)]


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_hugging_face_architectures_trace_the_same_with_reuse(name, monkeypatch, copies):
    model = _hf(name)
    before = snapshot(model)
    for shape, dtype in ARCHITECTURES[name]:
        assert assert_same_with_and_without_reuse(model, shape, dtype, monkeypatch, copies) > 0, shape
    same(before, snapshot(model))


@pytest.mark.parametrize("name", torch_bench.MODELS)
def test_the_benchmark_models_trace_the_same_with_reuse(name, monkeypatch, copies):
    spec = torch_bench.SPECS[name]
    small = dict(spec["smoke"], blocks=(1, 3, 2, 1)) if name == "resnet152" else spec["smoke"]  # blocks that repeat
    with torch.device("meta"):
        model = (torch_bench._resnet_classes() if name == "resnet152" else torch_bench._llama_classes())(**small)
    model.eval()
    for dims in (spec["symbolic"], spec["smoke_static"]):
        shape = ",".join(map(str, dims))
        assert assert_same_with_and_without_reuse(model, shape, spec["dtype"], monkeypatch, copies) > 0, shape


# --- blocks that must be traced each time ---------------------------------------------------------------------------

class Block(nn.Module):
    def __init__(self, d, shift=0, hidden=None):
        super().__init__()
        self.shift = shift
        self.up = nn.Linear(d, hidden or 2 * d)
        self.down = nn.Linear(2 * d, d)

    def forward(self, x):
        if self.shift:
            x = torch.roll(x, self.shift, dims=1)
        return x + self.down(torch.relu(self.up(x)))


class Stack(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


def test_a_block_reading_a_different_attribute_is_traced_for_each_value(monkeypatch, copies):
    # shifted and unshifted blocks alternate, as in Swin: two recorded traces, each copied for its kind
    model = Stack([Block(8, shift=s) for s in (0, 2, 0, 2, 0, 3)]).eval()
    assert assert_same_with_and_without_reuse(model, "N,T,8", None, monkeypatch, copies) == 3
    rolls = [n for n in _graph(model, "N,T,8", None, True, monkeypatch).nodes if n.name.endswith("roll")]
    assert [n.origin.module for n in rolls] == ["blocks.1", "blocks.3", "blocks.5"]
    assert [n.torch_call.args[1] for n in rolls] == [2, 2, 3]


def test_a_pruned_block_is_traced_and_its_error_found_where_it_is(monkeypatch, copies):
    model = Stack([Block(8), Block(8), Block(8, hidden=12), Block(8)]).eval()
    assert assert_same_with_and_without_reuse(model, "N,T,8", None, monkeypatch, copies) == 2
    [error] = convlint.lint(model, input_shape="N,T,8", verify=False).errors
    assert error.location["module"] == "blocks.2.down"


def test_every_faulty_block_is_reported_not_only_the_first(monkeypatch, copies):
    model = Stack([Block(8, hidden=12) for _ in range(3)]).eval()
    assert assert_same_with_and_without_reuse(model, "N,T,8", None, monkeypatch, copies) == 0
    errors = convlint.lint(model, input_shape="N,T,8", verify=False).errors
    assert sorted(e.location["module"] for e in errors) == ["blocks.0.down", "blocks.1.down", "blocks.2.down"]


class Counting(Block):
    def forward(self, x):
        self.calls = getattr(self, "calls", 0) + 1
        return super().forward(x)


def test_a_block_that_keeps_state_or_has_a_hook_is_traced_each_time(monkeypatch, copies):
    stateful = Stack([Counting(8) for _ in range(3)]).eval()
    assert assert_same_with_and_without_reuse(stateful, "N,T,8", None, monkeypatch, copies) == 0
    hooked = Stack([Block(8) for _ in range(3)]).eval()
    seen = []
    hooked.blocks[1].register_forward_hook(lambda m, args, out: seen.append(tuple(out.shape)))
    copied = assert_same_with_and_without_reuse(hooked, "N,T,8", None, monkeypatch, copies)
    assert copied == 1 and seen  # blocks.2 copied from blocks.0; blocks.1 traced, its hook run


def test_reuse_leaves_the_model_as_it_was(monkeypatch, copies):
    model = Stack([Block(8, shift=s) for s in (0, 1, 0, 1)]).eval()
    before = snapshot(model)
    assert assert_same_with_and_without_reuse(model, "N,T,8", None, monkeypatch, copies) == 2
    same(before, snapshot(model))
    assert [b.shift for b in model.blocks] == [0, 1, 0, 1] and all("shift" in b.__dict__ for b in model.blocks)
    assert nn.Module.__getattr__ is torch_reuse._ORIGINAL_GETATTR and not torch_reuse._HIDDEN


class Checked(Block):
    def forward(self, x):
        torch._assert(x.shape[1] % 4 == 0, "T must be a multiple of 4")
        if x.shape[1] > 16:
            x = 2 * x
        return super().forward(x)


def test_a_check_on_the_sizes_in_a_block_stays_with_the_first_as_in_a_full_trace(monkeypatch, copies):
    model = Stack([Checked(8) for _ in range(4)]).eval()
    assert assert_same_with_and_without_reuse(model, "N,T,8", None, monkeypatch, copies) == 3
    graph = _graph(model, "N,T,8", None, True, monkeypatch)
    required = graph.trace.checks + graph.trace.requirements
    assert [(r.module, str(r.relation)) for r in required] == [("blocks.0", "Eq(Mod(T, 4), 0)")]
    assert len(graph.trace.branches) == 1
