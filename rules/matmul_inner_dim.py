from convlint.core import dims
from convlint.examples import TorchExample
from convlint.rule import Rule

from ._constraints import MATMUL_OPS, inner_dims, matmul_operands
from ._sizes import condition_clause, equal_verdict, every_size, is_torch, judged, layer, named

WEIGHT_PRODUCERS = ("Transpose", "Identity", "Cast", "DequantizeLinear")


def _classifier_for_28():
    from torch import nn

    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(9216, 10))


def _adaptive_classifier():
    from torch import nn

    return nn.Sequential(nn.Conv2d(1, 64, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


class MatmulInnerDim(Rule):
    """## What it does
    Checks that the inner dimensions of a matrix product agree: `A.shape[-1] == B.shape[-2]` for `MatMul`, and for
    `Gemm` the same after `transA`/`transB` (a PyTorch `nn.Linear` exports as `Gemm` with `transB=1` and a weight
    `(out_features, in_features)`). When the features come from a flatten of an input of symbolic size, it states
    exactly for which sizes `in_features` holds: an error if for none, a warning with the condition if for some.

    ## Why is this bad?
    The product cannot run: PyTorch fails with "mat1 and mat2 shapes cannot be multiplied (1x9216 and 4096x128)",
    onnxruntime in `run()`. The usual cause is a `Linear` after a flatten whose `in_features` was computed for
    another input size, or for one pooling more or less: a model built for 28×28 images receives
    `64·⌊(H-4)/2⌋·⌊(W-4)/2⌋` features, which is 9216 only when `⌊(H-4)/2⌋·⌊(W-4)/2⌋ = 144`.

    ## Example
    `Flatten` turns `(N, 64, 12, 12)` into 9216 features; the next `Gemm` has weight `(128, 4096)` with `transB=1`.

    ## Fix
    Set `in_features` to what arrives (the message gives it), feed the input size the layer was built for, or make
    the feature count independent of the input size with an adaptive pooling (`nn.AdaptiveAvgPool2d`, ONNX
    `GlobalAveragePool`) before the flatten.
    """

    code = "CL220"
    name = "matmul-inner-dim"
    brief = "a Linear/Gemm/MatMul's inner dims agree (`in_features` after a flatten: for which sizes)"
    ops = ("Gemm",) + MATMUL_OPS

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[2, 64] x) => (float[2, 10] y)
        <float[10, 64] w, float[10] b> { y = Gemm<transB = 1>(x, w, b) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[B, S, 64] q, float[B, S, 64] k) => (float[B, S, S] y)
        { kt = Transpose<perm = [0, 2, 1]>(k)  y = MatMul(q, kt) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 16, 8, 8] x) => (float[N, 10] y)
        <float[16, 10] w> { p = GlobalAveragePool(x)  f = Flatten(p)  y = MatMul(f, w) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[2, 64, 12, 12] x) => (float[2, 128] y)
        <float[128, 4096] w> { f = Flatten(x)  y = Gemm<transB = 1>(f, w) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[B, 5, 64] q, float[B, 5, 64] k) => (float[B, 5, 5] y)
        { y = MatMul(q, k) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 3, H, W] x) => (float[N, 10] y)
        <float[8, 3, 3, 3] w1, float[10, 1001] w2>
        { c = Conv<strides = [2, 2]>(x, w1)  f = Flatten(c)  y = Gemm<transB = 1>(f, w2) }""",
    ]
    TORCH_VALID = [TorchExample(_classifier_for_28, "N,1,28,28"), TorchExample(_adaptive_classifier, "N,1,H,W")]
    TORCH_INVALID = [TorchExample(_classifier_for_28, "N,1,32,32")]

    def check(self, node, ctx):
        a, b = matmul_operands(node)
        inner = inner_dims(node)
        if inner is None:
            return
        ka, kb = inner
        verdict = equal_verdict(ka, kb)
        if not (verdict.never or verdict.some):
            return
        judgement = judged(verdict)
        weight = _weight(b)
        if weight is not None:
            yield self._linear(node, a, b, ka, kb, verdict, judgement)
            return
        message = (f"{layer(node)} multiplies {named(a)} by {named(b)}{_trans(node)}, but the inner "
                   f"dimensions {dims.pretty(ka)} and {dims.pretty(kb)} differ")
        message += every_size(ka, kb) if verdict.never else condition_clause(verdict, "they agree")
        hint = ("transpose one operand so that A's last dim meets B's second-to-last (attention scores are "
                "q @ k.transpose(-2, -1)), or check the sizes of the projections that produce them")
        yield self.finding(node, message, hint, **judgement)

    def _linear(self, node, a, b, ka, kb, verdict, judgement):
        source = ""
        producer = a.producer if a is not None else None
        if producer is not None and producer.op in ("Flatten", "Reshape") and producer.input(0) is not None:
            kind = "flatten" if producer.op == "Flatten" or (
                is_torch(producer) and producer.origin.module_class == "Flatten") else "reshape"
            source = f" from the {kind} of {named(producer.input(0))}"
        trans = f" with transB={node.attrs.get('transB', 0)}" if node.op == "Gemm" and not is_torch(node) else ""
        message = (f"{layer(node)} receives {dims.pretty(ka)} features{source}, but its weight "
                   f"{named(b)}{trans} takes in_features={dims.pretty(kb)}")
        fixed = _fixed_weight(node, b.shape, ka)
        if verdict.never and not dims.symbols_of(ka):
            hint = f"set in_features={ka} (weight shape {dims.pretty_shape(fixed)}), or change the layers before it"
        elif verdict.never:
            message += ", which no input size gives"
            hint = (f"in_features must be {dims.pretty(ka)} for the size you feed; or add an adaptive pooling "
                    f"(nn.AdaptiveAvgPool2d / GlobalAveragePool) before the flatten so it no longer depends on it")
        else:
            message += f"; in_features={dims.pretty(kb)} holds only when {verdict.condition} " \
                       f"(for example {verdict.example_text()})"
            hint = (f"feed inputs with {verdict.example_text()} (or others meeting the condition), or make the "
                    f"feature count independent of the input size with an adaptive pooling "
                    f"(nn.AdaptiveAvgPool2d / GlobalAveragePool) before the flatten")
        return self.finding(node, message, hint, **judgement)


def _weight(v):
    """``v`` if it holds a layer's weight (an initializer, perhaps transposed or dequantized), else None."""
    if v is None:
        return None
    if v.is_param:
        return v
    p = v.producer
    if p is not None and p.op in WEIGHT_PRODUCERS and p.input(0) is not None and p.input(0).is_param:
        return v
    return None


def _trans(node) -> str:
    if node.op != "Gemm":
        return ""
    flags = [f"{k}=1" for k in ("transA", "transB") if node.attrs.get(k, 0)]
    return f" with {', '.join(flags)}" if flags else ""


def _fixed_weight(node, w, features):
    w = tuple(w)
    if node.op == "Gemm" and node.attrs.get("transB", 0):
        return w[:1] + (features,)
    if len(w) == 1:
        return (features,)
    return w[:-2] + (features, w[-1])
