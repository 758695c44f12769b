from convlint.core import dims
from convlint.examples import TorchExample
from convlint.rule import Rule

from ._constraints import MATMUL_OPS, matmul_operands, matmul_shapes
from ._sizes import broadcast_verdict, condition_clause, judged, layer, named


def _scores():
    from torch import nn

    class Scores(nn.Module):
        def forward(self, q, k):
            return q @ k

    return Scores()


class MatmulBatchBroadcast(Rule):
    """## What it does
    Checks that the batch dimensions of a `MatMul` (all but the last two of each operand) broadcast numpy-style:
    aligned from the right, each pair is equal or one of them is 1.

    ## Why is this bad?
    The product cannot run: PyTorch fails with "The size of tensor a (12) must match the size of tensor b (16) at
    non-singleton dimension 1", onnxruntime in `run()`. In attention it usually means the queries and keys were
    split into different numbers of heads, or one of them kept a sequence axis where the other has heads.

    ## Example
    `MatMul(q[2, 12, 5, 64], k[2, 16, 64, 5])`: 12 heads against 16.

    ## Fix
    Give both operands the same leading dims (the same number of heads, the same batch), or a 1 where one of them
    should be shared (`k.unsqueeze(1)`).
    """

    code = "CL221"
    name = "matmul-batch-broadcast"
    brief = "a MatMul's batch dims broadcast"
    ops = MATMUL_OPS

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[2, 12, 5, 64] q, float[2, 12, 64, 5] k) => (float[2, 12, 5, 5] y)
        { y = MatMul(q, k) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[B, 8, S, 32] q, float[B, 1, 32, S] k) => (float[B, 8, S, S] y)
        { y = MatMul(q, k) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[2, 12, 5, 64] q, float[2, 16, 64, 5] k) => (float[2, 12, 5, 5] y)
        { y = MatMul(q, k) }""",
    ]
    TORCH_VALID = [TorchExample(_scores, ("N,12,5,64", "N,12,64,5"))]
    TORCH_INVALID = [TorchExample(_scores, ("2,12,5,64", "2,16,64,5"))]

    def check(self, node, ctx):
        x, y = matmul_operands(node)
        a, b = matmul_shapes(node)
        if a is None or b is None or len(a) < 3 or len(b) < 3:
            return
        verdict, axes = broadcast_verdict([a[:-2], b[:-2]])
        if not (verdict.never or verdict.some):
            return
        rank = max(len(a), len(b))
        pairs = ", ".join(f"axis {rank - i - 2}: {' vs '.join(dims.pretty(d) for d in ds)}" for i, ds in axes)
        message = (f"{layer(node)} multiplies {named(x)} by {named(y)}, whose batch "
                   f"dimensions do not broadcast ({pairs})")
        message += condition_clause(verdict, "they broadcast")
        hint = "give both operands the same leading dims (same batch, same number of heads), or 1 where one is shared"
        yield self.finding(node, message, hint, **judged(verdict))
