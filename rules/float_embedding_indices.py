from convlint.core import dims
from convlint.examples import TorchExample
from convlint.rule import Rule

from ._dtypes import is_float
from ._sizes import layer, named


def _embedding():
    from torch import nn

    return nn.Embedding(100, 8)


class FloatEmbeddingIndices(Rule):
    """## What it does
    Checks that the indices of a `Gather` are integers. A `Gather` on a 2-D weight is an embedding lookup
    (`nn.Embedding`), and floating-point "ids" there mean features were fed where token ids were expected.

    ## Why is this bad?
    The lookup cannot run: PyTorch fails with "Expected tensor for argument #1 'indices' to have one of the
    following scalar types: Long, Int; but got torch.FloatTensor", onnxruntime refuses the model when the session
    is created. Casting float ids to int silently truncates them, so the fix depends on what the tensor holds.

    ## Example
    `Gather(emb: float[1000, 64], x: float[2, 16])`.

    ## Fix
    If the tensor holds ids, make it int64 where it is produced (`x.long()`, ONNX `Cast<to = 7>`); if it holds
    features, use a `Linear` (a matrix product) instead of an embedding.
    """

    code = "CL602"
    name = "float-embedding-indices"
    brief = "embedding (Gather) indices are integers"
    ops = ("Gather",)

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (int64[2, 16] ids) => (float[2, 16, 8] y)
        <float[100, 8] emb> { y = Gather(emb, ids) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[2, 16] x) => (float[2, 16, 8] y)
        <float[100, 8] emb> { y = Gather(emb, x) }""",
    ]
    TORCH_VALID = [TorchExample(_embedding, "N,T", "int64")]
    TORCH_INVALID = [TorchExample(_embedding, "N,T", "float32")]

    def check(self, node, ctx):
        data, idx = node.input(0), node.input(1)
        if data is None or idx is None or not is_float(idx.dtype):
            return
        if data.is_param and data.rank == 2 and node.attrs.get("axis", 0) == 0:
            what = (f"looks up rows of the embedding {named(data)} ({dims.pretty(data.shape[0])} entries of dim "
                    f"{dims.pretty(data.shape[1])})")
        else:
            what = f"gathers from {named(data)}"
        message = f"{layer(node)} {what} with {idx.dtype} indices {named(idx)}: indices must be int64 or int32"
        hint = (f"if {idx.name!r} holds ids, make it int64 where it is produced (x.long() / ONNX Cast to=7); if it "
                f"holds features, use a Linear (MatMul) instead of an embedding lookup")
        yield self.finding(node, message, hint)
