from convlint.core import dims
from convlint.examples import TorchExample
from convlint.rule import Rule

from ._layout import channels_last_hint
from ._sizes import condition_clause, equal_verdict, every_size, judged, layer, named, plural

PARAMS = {
    "BatchNormalization": ("scale", "bias", "running mean", "running var"),
    "InstanceNormalization": ("scale", "bias"),
    "GroupNormalization": ("scale", "bias"),
}


def _conv_bn(features):
    from torch import nn

    return nn.Sequential(nn.Conv2d(3, 64, 3), nn.BatchNorm2d(features))


def _conv_bn_64():
    return _conv_bn(64)


def _conv_bn_32():
    return _conv_bn(32)


def _linear_bn1d():
    from torch import nn

    return nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16))


class NormNumFeatures(Rule):
    """## What it does
    Checks that a per-channel normalization has one scale, bias (and, for `BatchNormalization`, running mean and
    variance) per channel of its input, `x.shape[1]`: `BatchNormalization`, `InstanceNormalization`, and
    `GroupNormalization` from opset 21. Before opset 21, `GroupNormalization` scales per group: its parameters
    must have `num_groups` values.

    ## Why is this bad?
    The layer cannot run: PyTorch fails with "running_mean should contain 32 elements not 64", onnxruntime in
    `run()`. Typical causes: `BatchNorm2d(num_features)` copied from the previous block, a `BatchNorm1d` after a
    `Linear` applied to `(N, L, C)` (it normalizes axis 1, which holds `L`), or an NHWC tensor.

    ## Example
    A `Conv` with 64 output channels followed by `BatchNormalization` whose parameters have 32 values.

    ## Fix
    Set `num_features` to the input's channel count (the message gives it), or move the channels to axis 1
    (`x.permute(0, 2, 1)` for `(N, L, C)`).
    """

    code = "CL320"
    name = "norm-num-features"
    brief = "BatchNorm/InstanceNorm/GroupNorm parameters have one value per channel"
    ops = tuple(PARAMS)

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 64, H, W] x) => (float[N, 64, H, W] y)
        <float[64] s, float[64] b, float[64] m, float[64] v>
        { y = BatchNormalization(x, s, b, m, v) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[2, 8, 10] x) => (float[2, 8, 10] y)
        <float[8] s, float[8] b> { y = InstanceNormalization(x, s, b) }""",
        """<ir_version: 8, opset_import: ["": 18]>
        g (float[2, 8, 4, 4] x) => (float[2, 8, 4, 4] y)
        <float[2] s, float[2] b> { y = GroupNormalization<num_groups = 2>(x, s, b) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 64, 7, 7] x) => (float[N, 64, 7, 7] y)
        <float[32] s, float[32] b, float[32] m, float[32] v>
        { y = BatchNormalization(x, s, b, m, v) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[2, 10, 16] x) => (float[2, 10, 16] y)
        <float[16] s, float[16] b, float[16] m, float[16] v>
        { y = BatchNormalization(x, s, b, m, v) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[2, 8, 10] x) => (float[2, 8, 10] y)
        <float[8] s, float[6] b> { y = InstanceNormalization(x, s, b) }""",
        """<ir_version: 8, opset_import: ["": 18]>
        g (float[2, 8, 4, 4] x) => (float[2, 8, 4, 4] y)
        <float[8] s, float[8] b> { y = GroupNormalization<num_groups = 2>(x, s, b) }""",
    ]
    TORCH_VALID = [TorchExample(_conv_bn_64, "N,3,H,W")]
    TORCH_INVALID = [TorchExample(_conv_bn_32, "N,3,H,W"), TorchExample(_linear_bn1d, "2,10,8")]

    def check(self, node, ctx):
        x = node.input_shape(0)
        if x is None or len(x) < 2:
            return
        channels = expected = x[1]
        names = PARAMS[node.op]
        grouped = node.op == "GroupNormalization" and _opset(ctx) < 21
        if grouped:
            expected = node.attrs.get("num_groups")  # before opset 21 the parameters are per group
            if type(expected) is not int:
                return
        present = [(role, v) for role, v in zip(names, node.inputs[1:]) if v is not None and v.shape is not None]
        want = (expected,)
        if all(v.shape == want for _, v in present):
            return
        per = (f"num_groups={expected} (opset {_opset(ctx)} scales per group)" if grouped
               else f"{plural(channels, 'channel')} on axis 1")
        flat = [(role, v) for role, v in present if len(v.shape) != 1]
        wrong = []
        verdicts = []
        if flat:
            params = ", ".join(f"{role} {named(v)}" for role, v in flat)
            message = (f"{layer(node)} needs 1-D parameters, one value per {per.split(' on ')[0]}, but its "
                       f"{params} {'has' if len(flat) == 1 else 'have'} rank {len(flat[0][1].shape)}")
            yield self.finding(node, message, f"give them the shape ({dims.pretty(expected)},)")
            return
        for role, v in present:
            verdict = equal_verdict(v.shape[0], expected)
            if verdict.never or verdict.some:
                wrong.append((role, v))
                verdicts.append(verdict)
        if not wrong:
            return
        verdict = next((v for v in verdicts if v.never), verdicts[0])
        params = ", ".join(f"{role} {v.name!r}" for role, v in wrong)
        sizes = {dims.pretty(v.shape[0]) for _, v in wrong}
        has = plural(wrong[0][1].shape[0], "value") if len(sizes) == 1 else "(" + ", ".join(sorted(sizes)) + ") values"
        message = (f"{layer(node)} normalizes {named(node.input(0))} with {per}, but its {params} "
                   f"{'has' if len(wrong) == 1 else 'have'} {has}")
        message += every_size(expected) if verdict.never else condition_clause(verdict)
        if expected is channels:
            hint = channels_last_hint(x, wrong[0][1].shape[0], "normalizes axis 1") or (
                f"set num_features={dims.pretty(channels)} (parameters of shape ({dims.pretty(channels)},)), or "
                f"check the layer before it")
        else:
            hint = f"give the scale and bias num_groups={expected} values, or use opset 21, where they are per channel"
        yield self.finding(node, message, hint, **judged(verdict))


def _opset(ctx) -> int:
    graph = getattr(ctx, "graph", None)
    opset = getattr(graph, "opset", None) or {}
    return opset.get("", opset.get("ai.onnx", 0)) or 0
