from convlint.examples import TorchExample
from convlint.rule import ERROR

from ._declared import DeclaredRule, declared_text, listed, module_node, replaced, wrong_shapes


def _attention():
    from torch import nn

    return nn.MultiheadAttention(32, 4, batch_first=True)


def _narrower_projection():
    import torch
    from torch import nn

    mha = nn.MultiheadAttention(32, 4)
    mha.in_proj_weight = nn.Parameter(torch.zeros(96, 24))
    return mha


class AttentionDeclaredMismatch(DeclaredRule):
    """## What it does
    Checks that a PyTorch `nn.MultiheadAttention` has the projections it declares: `in_proj_weight` of shape
    `(3 * embed_dim, embed_dim)` and `in_proj_bias` of `(3 * embed_dim,)`, or, when `kdim`/`vdim` differ from
    `embed_dim`, `q_proj_weight` `(embed_dim, embed_dim)`, `k_proj_weight` `(embed_dim, kdim)`, `v_proj_weight`
    `(embed_dim, vdim)`. (The output projection `out_proj` is an `nn.Linear`, checked as one.) It needs no input
    shape.

    ## Why is this bad?
    The layer cannot run, whatever it is fed: `F.multi_head_attention_forward` checks the query against the declared
    `embed_dim` and then multiplies it by these tensors, so one replaced with another width (a checkpoint from a
    model with another `embed_dim`) fails on the first forward pass.

    ## Example
    `mha = nn.MultiheadAttention(32, 4)` then `mha.in_proj_weight = nn.Parameter(torch.zeros(96, 24))`.

    ## Fix
    Rebuild the layer with the `embed_dim` (and `kdim`, `vdim`) of its weights, or give it weights of the declared
    shapes.
    """

    code = "CL411"
    name = "attention-declared-mismatch"
    brief = "a PyTorch MultiheadAttention's projections match `embed_dim`/`kdim`/`vdim`"
    severity = ERROR
    ops = ("MultiHeadAttention",)

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[1, 3] x) => (float[1, 3] y) { y = Relu(x) }""",
    ]
    INVALID = []
    TORCH_VALID = [TorchExample(_attention, ("N,L,32", "N,S,32", "N,S,32")), TorchExample(_attention)]
    TORCH_INVALID = [TorchExample(_narrower_projection, ("L,N,32", "S,N,32", "S,N,32"))]

    def check(self, node, ctx):
        if not module_node(node) or "embed_dim" not in node.declared:
            return
        d = node.declared
        e, kdim, vdim = d["embed_dim"], d.get("kdim") or d["embed_dim"], d.get("vdim") or d["embed_dim"]
        if d.get("_qkv_same_embed_dim", True):
            expected = {"in_proj_weight": (3 * e, e)}
        else:
            expected = {"q_proj_weight": (e, e), "k_proj_weight": (e, kdim), "v_proj_weight": (e, vdim)}
        expected["in_proj_bias"] = (3 * e,)
        expected["bias_k"] = expected["bias_v"] = (1, 1, e)
        wrong = wrong_shapes(node, expected)
        if wrong:
            said = ["embed_dim"] + [k for k in ("kdim", "vdim") if d.get(k) not in (None, e)] + ["num_heads"]
            yield self.finding(node, f"{replaced(w[0] for w in wrong)} — declared {declared_text(node, *said)}, "
                                     f"but {listed(wrong)}",
                               "rebuild the layer with the embed_dim of its weights, or give it weights of the "
                               "declared shapes")
