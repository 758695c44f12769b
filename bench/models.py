"""Conv-net ONNX graphs for the benchmark, shaped like a ResNet, with a symbolic ``N, H, W`` input.

``build(nodes, width)`` makes a graph of about ``nodes`` nodes: a stem (7×7 stride-2 Conv, BatchNormalization,
Relu, MaxPool), four stages of residual blocks (Conv+BatchNormalization+Relu, Conv+BatchNormalization, Add, Relu)
whose widths are ``width, 2·width, 4·width, 8·width``, a stride-2 first block with a 1×1 projection shortcut in
stages 2 to 4, a Concat branch closing each stage, and a GlobalAveragePool+Flatten+Gemm head. The node count is
reached by the depth of the stages, as in deeper ResNets; the four stride-2 steps stay.

Weights are initializers holding zeros: inside the model file, or with ``external=True`` in a side file next to it
(``<model>.data``), written in chunks so that even a large one is never held in memory.
"""

from __future__ import annotations

import contextlib
import os

import onnx
from onnx import TensorProto, helper

OPSET = 17
STAGES = 4
CLASSES = 1000
_FIXED = 4 + STAGES * 5 + (STAGES - 1) * 2 + 3  # stem, a Concat branch per stage, projection shortcuts, head
_PER_BLOCK = 7
_CHUNK = 1 << 22


def blocks_per_stage(nodes: int) -> int:
    return max(1, round((nodes - _FIXED) / (STAGES * _PER_BLOCK)))


class _Builder:
    def __init__(self):
        self.nodes = []
        self.weights = []  # (name, dims), float32 zeros

    def weight(self, name: str, dims) -> str:
        self.weights.append((name, tuple(dims)))
        return name

    def node(self, op: str, name: str, inputs, **attrs) -> str:
        out = f"{name}_out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def conv(self, name: str, x: str, c_in: int, c_out: int, k: int, stride: int = 1) -> str:
        w = self.weight(f"{name}.weight", (c_out, c_in, k, k))
        return self.node("Conv", name, [x, w], kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4)

    def bn(self, name: str, x: str, c: int) -> str:
        params = [self.weight(f"{name}.{p}", (c,)) for p in ("weight", "bias", "running_mean", "running_var")]
        return self.node("BatchNormalization", name, [x, *params], epsilon=1e-5)

    def conv_bn(self, name: str, x: str, c_in: int, c_out: int, k: int, stride: int = 1, relu: bool = True) -> str:
        y = self.bn(f"{name}.bn", self.conv(f"{name}.conv", x, c_in, c_out, k, stride), c_out)
        return self.node("Relu", f"{name}.relu", [y]) if relu else y

    def block(self, name: str, x: str, c_in: int, c_out: int, stride: int) -> str:
        y = self.conv_bn(f"{name}.a", x, c_in, c_out, 3, stride)
        y = self.conv_bn(f"{name}.b", y, c_out, c_out, 3, relu=False)
        if stride != 1 or c_in != c_out:
            x = self.conv_bn(f"{name}.downsample", x, c_in, c_out, 1, stride, relu=False)
        return self.node("Relu", f"{name}.relu", [self.node("Add", f"{name}.add", [y, x])])

    def concat_branch(self, name: str, x: str, c: int) -> str:
        branch = self.conv_bn(f"{name}.branch", x, c, c, 1)
        both = self.node("Concat", f"{name}.concat", [x, branch], axis=1)
        return self.conv(f"{name}.fuse", both, 2 * c, c, 1)


def build(nodes: int, width: int) -> tuple:
    """The graph (a GraphProto without initializers) and its weights as ``(name, dims)`` in file order."""
    b = _Builder()
    x = b.conv_bn("stem", "image", 3, width, 7, 2)
    x = b.node("MaxPool", "stem.pool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    depth = blocks_per_stage(nodes)
    c_in = width
    for s in range(STAGES):
        c = width << s
        for i in range(depth):
            stride = 2 if s > 0 and i == 0 else 1
            x = b.block(f"layer{s + 1}.{i}", x, c_in, c, stride)
            c_in = c
        x = b.concat_branch(f"layer{s + 1}.mix", x, c)
    x = b.node("GlobalAveragePool", "head.pool", [x])
    x = b.node("Flatten", "head.flatten", [x], axis=1)
    fc_w, fc_b = b.weight("head.fc.weight", (CLASSES, c_in)), b.weight("head.fc.bias", (CLASSES,))
    b.nodes.append(helper.make_node("Gemm", [x, fc_w, fc_b], ["logits"], name="head.fc", transB=1))
    graph = helper.make_graph(
        b.nodes, f"cnn_{len(b.nodes)}",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])])
    return graph, b.weights


def _numel(dims) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def write(path: str, nodes: int, width: int, external: bool = False) -> str:
    """Write the model to ``path`` (and its weights to ``path + '.data'`` when external); returns ``path``."""
    graph, weights = build(nodes, width)
    data_path = path + ".data"
    offset = 0
    with open(data_path, "wb") if external else contextlib.nullcontext() as out:
        for name, dims in weights:
            size = 4 * _numel(dims)
            t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
            if external:
                t.data_location = TensorProto.EXTERNAL
                for key, value in (("location", os.path.basename(data_path)), ("offset", str(offset)),
                                   ("length", str(size))):
                    t.external_data.add(key=key, value=value)
                _write_zeros(out, size)
                offset += size
            else:
                t.raw_data = bytes(size)
            graph.initializer.append(t)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="convlint-bench")
    model.ir_version = 8
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(model.SerializeToString())
    os.replace(tmp, path)
    return path


def _write_zeros(f, size: int) -> None:
    chunk = bytes(min(size, _CHUNK))
    while size > 0:
        f.write(chunk[:size])
        size -= len(chunk)


def node_count(path: str) -> int:
    """Nodes in the model at ``path`` (its external data is not loaded)."""
    return len(onnx.load(path, load_external_data=False).graph.node)
