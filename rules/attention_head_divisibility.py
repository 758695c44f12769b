from convlint.core import dims
from convlint.examples import TorchExample
from convlint.rule import Rule

from ._sizes import condition_clause, divides_verdict, every_size, judged, layer, named


def _attention(heads):
    from torch import nn

    mha = nn.MultiheadAttention(12, 3, batch_first=True)
    mha.num_heads = heads  # after construction: nothing checks it until the forward pass
    return mha


def _three_heads():
    return _attention(3)


def _five_heads():
    return _attention(5)


QKV = ("N,L,12", "N,S,12", "N,S,12")


class AttentionHeadDivisibility(Rule):
    """## What it does
    Checks that an `Attention` node (opset 23) can split its inputs into heads: with 3-D inputs
    `(batch, sequence, hidden)`, `q_num_heads` must divide the query's hidden size and `kv_num_heads` the key's and
    value's, and `kv_num_heads` must divide `q_num_heads` (grouped-query attention shares each key head among
    `q_num_heads / kv_num_heads` query heads).

    For a PyTorch `nn.MultiheadAttention` it checks that `num_heads` divides the query's width, `embed_dim`. The
    constructor checks that too, but not a `num_heads` set afterwards (a configuration edited in place, a module
    rebuilt by hand). Exported to ONNX, the layer becomes `MatMul`/`Reshape` chains: a split into heads that does
    not divide shows up as `reshape-element-count` (CL504), a wrong `kdim`/`vdim` as a matrix product whose inner
    dimensions differ (CL220).

    ## Why is this bad?
    The layer cannot run: onnxruntime fails in `run()` with "inconsistent q_hidden_size, it should be a multiple of
    q_num_heads", PyTorch with "embed_dim 12 not divisible by num_heads 5". A hidden size of 100 cannot be split
    into 8 heads.

    ## Example
    `Attention<q_num_heads = 5, kv_num_heads = 5>(q[2, 5, 12], k[2, 5, 12], v[2, 5, 12])`: 12 is not divisible by 5.

    ## Fix
    Pick a number of heads that divides the hidden size, or project to a hidden size that the heads divide.
    """

    code = "CL421"
    name = "attention-head-divisibility"
    brief = "`Attention`'s heads divide the hidden sizes"
    ops = ("Attention", "MultiHeadAttention")

    VALID = [
        """<ir_version: 10, opset_import: ["": 23]>
        g (float[2, S, 12] q, float[2, S, 12] k, float[2, S, 12] v) => (float[2, S, 12] y)
        { y = Attention<q_num_heads = 3, kv_num_heads = 3>(q, k, v) }""",
        """<ir_version: 10, opset_import: ["": 23]>
        g (float[2, 5, 16] q, float[2, 5, 8] k, float[2, 5, 8] v) => (float[2, 5, 16] y)
        { y = Attention<q_num_heads = 4, kv_num_heads = 2>(q, k, v) }""",
    ]
    INVALID = [
        """<ir_version: 10, opset_import: ["": 23]>
        g (float[2, 5, 12] q, float[2, 5, 12] k, float[2, 5, 12] v) => (float[2, 5, 12] y)
        { y = Attention<q_num_heads = 5, kv_num_heads = 5>(q, k, v) }""",
        """<ir_version: 10, opset_import: ["": 23]>
        g (float[2, 5, 12] q, float[2, 5, 8] k, float[2, 5, 8] v) => (float[2, 5, 12] y)
        { y = Attention<q_num_heads = 3, kv_num_heads = 2>(q, k, v) }""",
    ]

    TORCH_VALID = [TorchExample(_three_heads, QKV)]
    TORCH_INVALID = [TorchExample(_five_heads, QKV)]

    def check(self, node, ctx):
        if node.op == "MultiHeadAttention":  # PyTorch's: the query's width is embed_dim, split into num_heads
            splits = ((0, "query", node.attrs.get("num_heads"), "num_heads"),)
        else:
            qh, kvh = node.attrs.get("q_num_heads"), node.attrs.get("kv_num_heads")
            splits = ((0, "query", qh, "q_num_heads"), (1, "key", kvh, "kv_num_heads"),
                      (2, "value", kvh, "kv_num_heads"))
        for i, role, heads, attr in splits:
            v = node.input(i)
            ranks = (2, 3) if node.op == "MultiHeadAttention" else (3,)  # PyTorch's takes an unbatched query too
            if v is None or v.shape is None or len(v.shape) not in ranks or type(heads) is not int or heads < 1:
                continue
            hidden = v.shape[-1]
            if hidden is None:
                continue
            verdict = divides_verdict(heads, hidden)
            if verdict.never or verdict.some:
                message = (f"{layer(node)} splits the {role} {named(v)} into {attr}={heads} heads, but "
                           f"{heads} does not divide its hidden size {dims.pretty(hidden)}")
                message += every_size(hidden) if verdict.never else condition_clause(verdict)
                hint = (f"pick {attr} dividing {dims.pretty(hidden)}, or project the {role} to a multiple of {heads}")
                yield self.finding(node, message, hint, **judged(verdict))
                return
        if node.op == "MultiHeadAttention":
            return
        if type(qh) is int and type(kvh) is int and kvh >= 1 and qh % kvh:
            message = (f"{layer(node)} has q_num_heads={qh} and kv_num_heads={kvh}: grouped-query "
                       f"attention needs kv_num_heads to divide q_num_heads")
            yield self.finding(node, message, f"use kv_num_heads dividing {qh}, or q_num_heads a multiple of {kvh}")
