from convlint.examples import TorchExample
from convlint.rule import Rule

from ._dtypes import is_float, is_integer
from ._sizes import layer, named

WEIGHTED = {  # op -> index of the weight whose element type the input must share
    "Conv": 1, "ConvTranspose": 1, "Gemm": 1, "MatMul": 1, "LSTM": 1, "GRU": 1, "RNN": 1,
    "BatchNormalization": 1, "InstanceNormalization": 1, "LayerNormalization": 1, "GroupNormalization": 1,
    "RMSNormalization": 1,
}


def _conv():
    from torch import nn

    return nn.Conv2d(1, 4, 3)


class IntegerInputToFloatLayer(Rule):
    """## What it does
    Checks that a layer with floating-point weights (`Conv`, `Gemm`, `MatMul`, `LSTM`/`GRU`/`RNN`, the
    normalizations) is not fed an integer or boolean tensor: token ids, labels or masks reaching a layer meant for
    features.

    ## Why is this bad?
    The layer cannot run: PyTorch fails with "expected scalar type Long but found Float" (or "Input type
    (torch.LongTensor) and weight type (torch.FloatTensor) should be the same"), onnxruntime refuses the model when
    the session is created. Usually the ids were meant to go through an embedding first, or the data was loaded
    without converting it to float.

    ## Example
    `Conv(ids: int64[1, 1, 28, 28], W: float[8, 1, 3, 3])`.

    ## Fix
    Embed ids first (`nn.Embedding`, ONNX `Gather` on an embedding table); if the tensor holds real-valued data,
    cast it (`x.float()`, ONNX `Cast<to = 1>`).
    """

    code = "CL601"
    name = "integer-input-to-float-layer"
    brief = "integer ids or masks do not reach a float layer"
    ops = tuple(WEIGHTED)

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (uint8[1, 1, 8, 8] img) => (float[1, 4, 6, 6] y)
        <float[4, 1, 3, 3] w> { x = Cast<to = 1>(img)  y = Conv(x, w) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (int64[2, 3] a, int64[3, 4] b) => (int64[2, 4] y)
        { y = MatMul(a, b) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (int64[1, 1, 8, 8] ids) => (float[1, 4, 6, 6] y)
        <float[4, 1, 3, 3] w> { y = Conv(ids, w) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (int64[2, 16] ids) => (float[2, 8] y)
        <float[8, 16] w> { y = Gemm<transB = 1>(ids, w) }""",
    ]
    TORCH_VALID = [TorchExample(_conv, "N,1,8,8")]
    TORCH_INVALID = [TorchExample(_conv, "N,1,8,8", "int64")]

    def check(self, node, ctx):
        x, w = node.input(0), node.input(WEIGHTED[node.op])
        if x is None or w is None or not is_integer(x.dtype) or not is_float(w.dtype):
            return
        what = "a boolean mask" if x.dtype == "bool" else "integers (token ids or labels?)"
        message = (f"{layer(node)} receives {x.dtype} {named(x)}, {what}, but its weight {w.name!r} is "
                   f"{w.dtype}")
        hint = (f"embed ids first (nn.Embedding / ONNX Gather on an embedding table); if {x.name!r} holds "
                f"real-valued data, cast it to {w.dtype} (x.float() / ONNX Cast)")
        yield self.finding(node, message, hint)
