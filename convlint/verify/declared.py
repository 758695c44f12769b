"""A PyTorch convolution replayed from its declaration, for a layer PyTorch refuses to construct.

``nn.Conv2d(1, 4, 3, groups=2)`` never becomes a module: there is no weight and no traced call, only the declared
arguments (``node.declared``). Its ONNX equivalent is still a witness of the fault: a ``Conv`` (or
``ConvTranspose``) with ``group`` as declared, the weight the declaration implies, ``(out_channels, in_channels //
groups, *kernel_size)`` (``(in_channels, out_channels // groups, *kernel_size)`` when transposed), with at least one
channel per group, and an input of the declared channels just large enough for the kernel. onnxruntime then refuses
it for the same reason PyTorch does ("Input channels C is not equal to kernel channels * group. C: 1 kernel
channels: 1 group: 2"). The verdict names what was replayed, since it is not a module of the model.

A declaration ONNX cannot express is ``unverifiable``: a ``ConvTranspose`` makes ``W.shape[1] * group`` output
channels, always a multiple of ``group``, so a declared ``out_channels`` that ``groups`` does not divide has no
ONNX equivalent.
"""

from __future__ import annotations

from convlint.core import dims
from convlint.core.ir import Graph, Node, Value
from convlint.verify.replay import Unverifiable

OPSET = {"": 21}


def declared_layer(node) -> tuple:
    """``(layer, graph, description)``: a one-node graph standing for ``node``'s declaration, and what it is in
    words; raises Unverifiable when the declaration has no ONNX equivalent."""
    d = node.declared
    kernel = d.get("kernel_size")
    ints = [d.get("in_channels"), d.get("out_channels"), d.get("groups")]
    if node.op not in ("Conv", "ConvTranspose") or not isinstance(kernel, tuple) or \
            not all(type(n) is int and n >= 1 for n in ints + list(kernel)):
        raise Unverifiable("the layer was declared with arguments convlint cannot replay")
    c, m, groups = ints
    if node.op == "Conv":
        weight = (m, max(1, c // groups)) + kernel
    else:
        if c % groups == 0:
            raise Unverifiable(f"ONNX's ConvTranspose makes W.shape[1] × group output channels, always a multiple of "
                               f"group, so the declared out_channels={m} with groups={groups} has no ONNX equivalent")
        weight = (c, max(1, m // groups)) + kernel
    x = Value("x", (1, c) + kernel, "float32")
    w = Value("weight", weight, "float32", is_param=True)
    y = Value("y")
    layer = Node(node.op, node.name, [x, w], [y], {"group": groups, "kernel_shape": list(kernel)},
                 origin=node.origin)
    graph = Graph(nodes=[layer], inputs=[x], outputs=[y], values={v.name: v for v in (x, w, y)}, opset=dict(OPSET))
    return layer, graph, f"an ONNX {node.op} with group={groups} and weight {dims.pretty_shape(weight)}"
