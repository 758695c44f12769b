"""Multiply-accumulates of one node (see :mod:`convlint.cost`).

Each counter reads the node's ONNX form (the PyTorch front end describes a module call as its ONNX node) or, for a
torch function convlint records by name (``torch.einsum``, ``torch.scaled_dot_product_attention``), the call's own
arguments.
"""

from __future__ import annotations

from math import prod
from typing import Optional

from convlint.core import dims


def _numel(shape):
    if shape is None or any(d is None for d in shape):
        return None
    return prod(shape) if shape else 1


def _output(node, i=0):
    return node.outputs[i].shape if len(node.outputs) > i else None


def _conv(node):
    """Every output position takes one product per weight element: batch × positions × |W| (W holds the groups)."""
    w, y = node.input_shape(1), _output(node)
    if y is None or len(y) < 2:
        return None
    positions, weights = _numel(y[2:]), _numel(w)
    return None if positions is None or weights is None else y[0] * positions * weights


def _conv_transpose(node):
    """Every *input* position spreads one product per weight element: batch × input positions × |W|."""
    x, w = node.input_shape(0), node.input_shape(1)
    if x is None or len(x) < 2:
        return None
    positions, weights = _numel(x[2:]), _numel(w)
    return None if positions is None or weights is None else x[0] * positions * weights


def _matmul(node):
    """One product per output element and reduced element: |Y| × K."""
    a, y = node.input_shape(0), _output(node)
    if a is None or not a:
        return None
    out = _numel(y)
    k = a[0] if node.op == "Gemm" and node.attr("transA", 0) else a[-1]
    return None if out is None or k is None else out * k


def _per_element(node):
    """A normalization: one scale-and-shift per output element."""
    return _numel(_output(node))


def _recurrent(node):
    """Each step of each sequence item multiplies the input and the hidden state by every weight matrix once:
    items × steps × (|W| + |R|), over every layer and direction (a PyTorch layer's own ``weight_*`` tensors)."""
    x = node.input_shape(0)
    if x is None or len(x) not in (2, 3):
        return None
    steps = _numel(x[:2]) if len(x) == 3 else x[0]
    params = node.facts.params
    if params:
        shapes = [v.shape for name, v in params.items() if name.startswith("weight_") and v is not None]
    else:
        shapes = [node.input_shape(1), node.input_shape(2)]
    weights = [_numel(s) for s in shapes]
    if steps is None or any(w is None for w in weights):
        return None
    return steps * sum(weights)


def _attention_products(q, k, v):
    """``softmax(Q Kᵀ) V`` on (…, L, E), (…, S, E), (…, S, Ev): |Q| / E × S × (E + Ev)."""
    if q is None or k is None or v is None or len(q) < 2 or len(k) < 2 or len(v) < 2:
        return None
    rows = _numel(q[:-1])
    return None if rows is None else rows * k[-2] * (q[-1] + v[-1])


def _sdpa(node):
    return _attention_products(node.input_shape(0), node.input_shape(1), node.input_shape(2))


def _onnx_attention(node):
    """ONNX ``Attention`` (opset 23): 4-D (B, heads, L, E), or 3-D (B, L, heads·E) with the heads as attributes."""
    q, k, v = node.input_shape(0), node.input_shape(1), node.input_shape(2)
    if q is None or k is None or v is None:
        return None
    if len(q) == 4:
        return _attention_products(q, k, v)
    q_heads, kv_heads = node.attr("q_num_heads"), node.attr("kv_num_heads")
    if len(q) != 3 or not q_heads or not kv_heads:
        return None
    per_head_v = dims.floordiv(v[-1], kv_heads)
    return q[0] * q[1] * k[1] * (q[-1] + per_head_v * q_heads)


def _multi_head_attention(node):
    """``nn.MultiheadAttention``: the query, key and value projections, the two attention products over all heads,
    and the output projection, as PyTorch's ``multi_head_attention_forward`` computes them."""
    q, k, v = node.input_shape(0), node.input_shape(1), node.input_shape(2)
    if q is None or k is None or v is None or len(q) not in (2, 3) or len(k) != len(q) or len(v) != len(q):
        return None
    if node.domain:  # com.microsoft's MultiHeadAttention: projected (B, L, D) inputs, no projections of its own
        return q[0] * q[1] * k[1] * (q[-1] + v[-1]) if len(q) == 3 else None
    e = q[-1]
    if len(q) == 2:
        batch, length, source = 1, q[0], k[0]
    elif node.declared.get("batch_first"):
        batch, length, source = q[0], q[1], k[1]
    else:
        batch, length, source = q[1], q[0], k[0]
    projections = batch * (length * e * e + source * e * k[-1] + source * e * v[-1] + length * e * e)
    return projections + batch * length * source * 2 * e


def _einsum_operands(node):
    call = node.torch_call
    if node.op == "Einsum":
        return node.attr("equation"), [v.shape if v is not None else None for v in node.inputs]
    if call is None or not call.args or not isinstance(call.args[0], str):
        return None, []
    return call.args[0], [v.shape if v is not None else None for v in node.inputs]


def _einsum(node):
    """Operands contracted left to right, as ``torch.einsum`` does without opt_einsum: each pair costs the product
    of the sizes of every letter either holds (a letter only one operand holds and nothing later needs is summed
    away first, with no product)."""
    equation, shapes = _einsum_operands(node)
    if not equation or "..." in equation or "->" not in equation or any(s is None for s in shapes):
        return None
    lhs, out = equation.replace(" ", "").split("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes) or any(len(t) != len(s) for t, s in zip(terms, shapes)):
        return None
    size = {}
    for term, shape in zip(terms, shapes):
        for letter, d in zip(term, shape):
            if letter not in size or size[letter] == 1:
                size[letter] = d
    if len(terms) == 1:
        return 0
    needed = [set(out).union(*terms[i + 1:]) for i in range(len(terms))]
    held, total = set(terms[0]) & (needed[0] | set(terms[1])), 0
    for i, term in enumerate(terms[1:], start=1):
        mine = set(term) & (needed[i] | held)
        total = total + prod(size[c] for c in held | mine)
        held = (held | mine) & needed[i]
    return total


_NORMS = ("BatchNormalization", "LayerNormalization", "GroupNormalization", "InstanceNormalization",
          "RMSNormalization", "SimplifiedLayerNormalization", "torch.batch_norm", "torch.layer_norm",
          "torch.group_norm", "torch.instance_norm", "torch.rms_norm")

_BY_OP = {"Conv": _conv, "ConvTranspose": _conv_transpose, "MatMul": _matmul, "Gemm": _matmul,
          "Einsum": _einsum, "torch.einsum": _einsum,
          "LSTM": _recurrent, "GRU": _recurrent, "RNN": _recurrent,
          "torch.scaled_dot_product_attention": _sdpa, "Attention": _onnx_attention,
          "MultiHeadAttention": _multi_head_attention,
          **{op: _per_element for op in _NORMS}}


def node_macs(node) -> Optional[object]:
    """The node's multiply-accumulates: 0 for an op that costs none, an int or a sympy expression, or None when
    its shapes are unknown."""
    fn = _BY_OP.get(node.op)
    return 0 if fn is None else fn(node)
