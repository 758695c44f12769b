"""The trace's cheaper paths must come out as the fake-tensor trace does.

- With inputs of fixed sizes the forward pass is first followed on plain meta tensors; at anything that pass cannot
  vouch for (a refusal, code that needs values, a tensor made off the meta device) it gives up with ``Doubt`` and
  the fake-tensor trace runs instead. Its graph must be the fake trace's, node for node.
- ``F.scaled_dot_product_attention`` on the meta device gets its output size from convlint when the call surely
  fits; a call that does not fit still goes to PyTorch, whose refusal is reported.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import convlint  # noqa: E402
from convlint.app import input_dtypes, input_shapes  # noqa: E402
from convlint.frontends import torch_model, torch_target  # noqa: E402
from convlint.frontends.torch_trace import Doubt  # noqa: E402

import torch_models  # noqa: E402


class Decoder(nn.Module):
    """Two pre-norm attention blocks on ``F.scaled_dot_product_attention``, as Llama-style decoders are written; the
    values are twice as wide as the queries and keys (8 per head against 4)."""

    def __init__(self, vocab=50, d=16, heads=4, key_width=16, layers=2):
        super().__init__()
        self.heads = heads
        self.embed = nn.Embedding(vocab, d)
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(layers))
        self.q = nn.ModuleList(nn.Linear(d, d, bias=False) for _ in range(layers))
        self.k = nn.ModuleList(nn.Linear(d, key_width, bias=False) for _ in range(layers))
        self.v = nn.ModuleList(nn.Linear(d, 2 * d, bias=False) for _ in range(layers))
        self.o = nn.ModuleList(nn.Linear(2 * d, d, bias=False) for _ in range(layers))
        self.out = nn.Linear(d, vocab, bias=False)

    def forward(self, tokens):
        x = self.embed(tokens)
        b, t, d = x.shape
        for norm, q_proj, k_proj, v_proj, o_proj in zip(self.norms, self.q, self.k, self.v, self.o):
            h = norm(x)
            q, k, v = (proj(h).view(b, t, self.heads, -1).transpose(1, 2) for proj in (q_proj, k_proj, v_proj))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + o_proj(y.transpose(1, 2).reshape(b, t, -1))
        return self.out(x)


def on_meta(make):
    with torch.device("meta"):
        return make()


def trace(model, shape, dtype=None, meta_pass=False):
    dtypes = input_dtypes.coerce(dtype) if dtype else ()
    return torch_model._describe(torch_target.load(model), input_shapes.coerce(shape), dtypes, on_meta=meta_pass)


def listing(graph) -> list:
    """Everything a rule can read of a traced graph, node by node."""
    def value(v):
        return None if v is None else (v.name, v.shape, v.dtype)

    nodes = [(n.op, n.name, [value(v) for v in n.inputs], [value(v) for v in n.outputs], n.attrs, n.declared,
              n.origin, n.facts.refusal, n.facts.repeat_call, n.facts.params is None) for n in graph.nodes]
    return [nodes, [value(v) for v in graph.inputs], [value(v) for v in graph.outputs], graph.trace]


SAME_ON_META = {
    "resnet": (torch_models.ResNet, "2,3,40,56", None),
    "mobilenet_v2": (torch_models.MobileNetV2, "1,3,48,32", None),
    "unet": (torch_models.UNet, "1,3,32,48", None),
    "recurrent": (torch_models.Recurrent, "2,9,6", None),
    "gpt": (torch_models.GPT, "2,9", "int64"),
    "decoder": (Decoder, "2,7", "int64"),
    "decoder on meta": (lambda: on_meta(Decoder), "2,7", "int64"),
}


@pytest.mark.parametrize("name", SAME_ON_META)
def test_meta_pass_gives_the_fake_trace(name):
    make, shape, dtype = SAME_ON_META[name]
    model = make().eval()
    fake, meta = trace(model, shape, dtype), trace(model, shape, dtype, meta_pass=True)
    assert fake.trace.stop is None and fake.nodes
    assert listing(meta) == listing(fake)


class ScalarFromTensor(nn.Module):
    """``.item()`` of a tensor built from Python numbers: fake tensors keep such constants, meta tensors do not."""

    def forward(self, x):
        return x * torch.tensor([2.0]).item()


class ConstantOnCpu(nn.Module):
    """A tensor made without a device: on the CPU, not the meta device."""

    def forward(self, x):
        return x + torch.ones(x.shape[-1])


@pytest.mark.parametrize("make, shape, expected", [
    (ScalarFromTensor, "2,3", []),
    (ConstantOnCpu, "2,3", []),
    (lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(10, 2)), "1,3,8,8", [("error", "CL220")]),
], ids=["item", "cpu-constant", "refusal"])
def test_meta_pass_gives_up_and_the_fake_trace_follows(make, shape, expected):
    model = make().eval()
    with pytest.raises(Doubt):
        trace(model, shape, meta_pass=True)
    report = convlint.lint(model, input_shape=shape, verify=False)
    assert [(f.severity, f.rule) for f in report.findings] == expected, report.findings


@pytest.mark.parametrize("shape, expected", [("2,7", (2, 4, 7, 8)), ("B,T", ("B", 4, "T", 8))])
def test_attention_on_meta_tensors_has_pytorchs_output(shape, expected):
    model = on_meta(Decoder).eval()
    graph = trace(model, shape, "int64")
    assert graph.trace.stop is None
    nodes = [n for n in graph.nodes if n.op == "torch.scaled_dot_product_attention"]
    assert len(nodes) == 2
    for node in nodes:
        assert tuple(str(d) for d in node.outputs[0].shape) == tuple(str(d) for d in expected)
    with torch.no_grad():  # eager PyTorch on the meta device: the same sizes, and the whole forward goes through
        q, v = torch.empty(2, 4, 7, 4, device="meta"), torch.empty(2, 4, 7, 8, device="meta")
        assert F.scaled_dot_product_attention(q, q, v, is_causal=True).shape == (2, 4, 7, 8)
        assert model(torch.zeros(2, 7, dtype=torch.int64, device="meta")).shape == (2, 7, 50)


def test_attention_that_does_not_fit_is_still_refused():
    model = on_meta(lambda: Decoder(key_width=32)).eval()  # keys 8 wide per head, queries 4
    with pytest.raises(RuntimeError, match="batch2"):
        model(torch.zeros(2, 7, dtype=torch.int64, device="meta"))
    report = convlint.lint(model, input_shape="2,7", input_dtype="int64", verify=False)
    [refusal] = [f for f in report.findings if f.rule == "CL010"]
    assert refusal.severity == "error" and "[8, 4] but got: [8, 8]" in refusal.message, report.findings


class Chatty(nn.Module):
    """Prints from its forward, then needs a tensor's value (so the meta pass gives up after the print) or not."""

    def __init__(self, needs_value):
        super().__init__()
        self.needs_value = needs_value

    def forward(self, x):
        print("shape", tuple(x.shape))
        return x * torch.tensor([2.0]).item() if self.needs_value else x * 2


@pytest.mark.parametrize("needs_value", [False, True])
def test_what_the_forward_prints_shows_once(needs_value, capsys):
    report = convlint.lint(Chatty(needs_value), input_shape="2,3", verify=False)
    assert report.findings == []
    assert capsys.readouterr().out == "shape (2, 3)\n"


class Swallows(nn.Module):
    """Catches everything, convlint's Doubt included: the meta pass must still be given up."""

    def forward(self, x):
        try:
            return x + torch.ones(3)  # made on the CPU: the meta pass cannot vouch for it
        except BaseException:
            return x


def test_meta_pass_given_up_even_when_the_model_catches_it():
    model = Swallows()
    kept = torch_model.describe(torch_target.load(model), input_shapes.coerce("2,3"))
    assert [n.op for n in kept.nodes] == ["torch.ones", "Add"]
    assert listing(kept) == listing(trace(model, "2,3"))
