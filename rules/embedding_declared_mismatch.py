from convlint.core import compare, dims
from convlint.examples import TorchExample
from convlint.rule import ERROR, WARNING

from ._declared import DeclaredRule, declared_text, module_node, replaced, shape_of


def _embedding():
    from torch import nn

    return nn.Embedding(100, 8, padding_idx=0)


def _resized_vocabulary():
    import torch
    from torch import nn

    emb = nn.Embedding(100, 8)
    emb.weight = nn.Parameter(torch.zeros(120, 8))
    return emb


class EmbeddingDeclaredMismatch(DeclaredRule):
    """## What it does
    Checks that a PyTorch `nn.Embedding` still has the table it declares: a weight of shape
    `(num_embeddings, embedding_dim)`, with `padding_idx` one of its rows. It needs no input shape.

    ## Why is this bad?
    A vocabulary resized by assigning a new table (`emb.weight = nn.Parameter(...)`, a checkpoint loaded with
    `assign=True`) leaves `num_embeddings` and `embedding_dim` stating the old sizes: code that sizes the output
    layer or the tokenizer from them is wrong, and a `padding_idx` past the table indexes out of range.

    ## Example
    `emb = nn.Embedding(100, 8)` then `emb.weight = nn.Parameter(torch.zeros(120, 8))`: declared
    `num_embeddings=100`, but the table has 120 rows.

    ## Fix
    Resize with the attributes too (`nn.Embedding(120, 8)`, or `model.resize_token_embeddings` in Hugging Face
    models), or give the layer a table of the declared shape.
    """

    code = "CL211"
    name = "embedding-declared-mismatch"
    brief = "a PyTorch Embedding's table matches `num_embeddings`/`embedding_dim`"
    severity = WARNING
    ops = ("Gather",)

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (int64[2, 5] ids) => (float[2, 5, 8] y)
        <float[100, 8] w> { y = Gather(w, ids) }""",
    ]
    INVALID = []
    TORCH_VALID = [TorchExample(_embedding, "N,L", "int64"), TorchExample(_embedding)]
    TORCH_INVALID = [TorchExample(_resized_vocabulary, "N,L", "int64")]

    def check(self, node, ctx):
        if not module_node(node) or "num_embeddings" not in node.declared:
            return
        d = node.declared
        w = shape_of(node, "weight")
        if w is None:
            return
        if len(w) != 2:
            yield self.finding(node, f"{replaced(['weight'])} — an embedding table is a matrix "
                                     f"(num_embeddings, embedding_dim), but weight is {dims.pretty_shape(w)}",
                               "give the layer a 2-D weight")
            return
        wrong = [k for k, have in (("num_embeddings", w[0]), ("embedding_dim", w[1]))
                 if compare.equal(have, d[k]) is False]
        if wrong:
            yield self.finding(node, f"{replaced(['weight'])} — declared {declared_text(node, *wrong)}, but weight "
                                     f"{dims.pretty_shape(w)} holds {dims.pretty(w[0])} embeddings of size "
                                     f"{dims.pretty(w[1])}",
                               f"build the layer as nn.Embedding({dims.pretty(w[0])}, {dims.pretty(w[1])}), or give "
                               f"it a table of the declared shape")
        pad = d.get("padding_idx")
        if type(pad) is int and type(w[0]) is int and not -w[0] <= pad < w[0]:
            yield self.finding(node, f"padding_idx={pad} is not a row of weight {dims.pretty_shape(w)}, so the "
                                     f"forward pass fails", f"use a padding_idx below {w[0]}", ERROR)
