"""PyTorch modules read as ONNX nodes: the op a module class stands for, its attributes in ONNX terms, its parameters
in ONNX input order, and what it declares (``in_channels``, ``kernel_size``...), so the rules written for ONNX nodes
apply to PyTorch modules unchanged and the declared-versus-actual rules can compare the two.

A module is a *leaf* (described here, its output computed by convlint's shape functions when PyTorch refuses it)
when its class, or a base class whose ``forward`` it keeps, is in :data:`KINDS`. A subclass that overrides
``forward`` is traced through instead, but its declared attributes are still checked. A kind with a ``fits`` test
(Linear, BatchNorm) is not run by PyTorch at all when the test proves the call fits, which saves the fake kernel's
cost on large models; in any doubt PyTorch runs and judges. A recurrent layer always runs PyTorch's own ``forward``,
with every check it makes (input rank and size, the initial state's shape), on shape-only kernels (``kernels``):
the fake kernel would step through the sequence one item at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import contextlib

import torch
from torch import nn

from convlint.core import compare, dims
from convlint.frontends.torch_layout import conv_attrs, pool_attrs


@dataclass(frozen=True)
class ModuleKind:
    """How one family of modules reads as an ONNX node."""

    op: str
    declared: tuple  # the module's declared attributes, as its constructor set them
    params: tuple = ()  # parameter/buffer names fed after the data inputs, in ONNX input order
    attrs: Optional[Callable] = None  # module -> ONNX attributes
    spatial: int = 0  # spatial rank for convolutions and pooling (an input one rank short is unbatched)
    outputs: Optional[Callable] = None  # (module, input shapes, kwargs) -> output shapes in PyTorch's layout
    pack: Optional[Callable] = None  # (module, output tensors, kwargs) -> what the module's forward returns
    data_inputs: int = 1  # how many positional tensor inputs the node takes
    weight_first: bool = False  # Gather: the weight is ONNX input 0 and the data input 1
    kernels: Optional[Callable] = None  # module -> a context in which PyTorch's forward runs on shape-only kernels
    refuses: Optional[Callable] = None  # (module, args) -> what PyTorch's CPU kernel says that its meta kernel misses
    fits: Optional[Callable] = None  # (module, input shape, {param: shape}) -> True when PyTorch surely accepts them
    any_strides: bool = False  # its output is contiguous whatever its input's strides (Linear): fits needs no more


def _conv_attrs(m) -> dict:
    return conv_attrs(m.groups, m.stride, m.padding, m.dilation, list(m.kernel_size),
                      m.output_padding if getattr(m, "transposed", False) else None)


def _pool_attrs(n):
    def attrs(m) -> dict:
        return pool_attrs(n, m.kernel_size, m.stride, m.padding, m.ceil_mode, getattr(m, "dilation", None))
    return attrs


def _layer_norm_attrs(m) -> dict:
    return {"axis": -len(m.normalized_shape), "epsilon": m.eps}


# -- recurrent layers and attention: PyTorch's layout differs from ONNX's, so their outputs are computed here ------

def rnn_outputs(m, shapes, kwargs):
    x = shapes[0]
    d = 2 if m.bidirectional else 1
    h_out = m.proj_size if getattr(m, "proj_size", 0) else m.hidden_size
    if x is None or len(x) not in (2, 3):
        return None
    if len(x) == 2:
        seq, batch = x[0], None
    else:
        seq, batch = (x[1], x[0]) if m.batch_first else (x[0], x[1])
    if len(x) == 2:
        out = (seq, d * h_out)
        h, c = (d * m.num_layers, h_out), (d * m.num_layers, m.hidden_size)
    else:
        out = (batch, seq, d * h_out) if m.batch_first else (seq, batch, d * h_out)
        h, c = (d * m.num_layers, batch, h_out), (d * m.num_layers, batch, m.hidden_size)
    return [out, h, c] if m.mode == "LSTM" else [out, h]


def rnn_weights(m, params: dict, value) -> list:
    """ONNX's ``W`` and ``R`` for a recurrent layer's first layer: ``weight_ih_l0`` and ``weight_hh_l0`` stacked over
    directions, ``(directions, gates * hidden, input_size)`` and ``(directions, gates * hidden, hidden)``."""
    out = []
    for name in ("weight_ih_l0", "weight_hh_l0"):
        v = params.get(name)
        if v is None or v.shape is None or len(v.shape) != 2:
            out.append(None)
            continue
        directions = 2 if m.bidirectional else 1
        out.append(value(v.name, (directions,) + tuple(v.shape), v.dtype))
    return out


class _ShapeOnlyVF:
    """torch's ``_VF`` with the recurrent kernels (``lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu``) computing only their
    outputs' shapes: by then the module's ``forward`` has checked the input and the initial state, as PyTorch does.
    A packed sequence, or a first layer whose weight does not take the input's features, goes to the real kernel,
    which judges it."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def _run(self, name, input, hx, *rest):
        state = hx if isinstance(hx, (tuple, list)) else (hx,)
        weights = rest[0] if rest else None
        if not all(isinstance(t, torch.Tensor) for t in (input, *state)) or not weights \
                or weights[0].dim() != 2 or input.dim() != 3 or weights[0].shape[1] != input.shape[-1]:
            return getattr(self._real, name)(input, hx, *rest)
        bidirectional = rest[5]
        out = input.new_empty(tuple(input.shape[:-1]) + ((2 if bidirectional else 1) * state[0].shape[-1],))
        return (out,) + tuple(s.new_empty(s.shape) for s in state)

    def lstm(self, *args):
        return self._run("lstm", *args)

    def gru(self, *args):
        return self._run("gru", *args)

    def rnn_tanh(self, *args):
        return self._run("rnn_tanh", *args)

    def rnn_relu(self, *args):
        return self._run("rnn_relu", *args)


@contextlib.contextmanager
def _rnn_kernels(module):
    from torch.nn.modules import rnn

    real = rnn._VF
    rnn._VF = _ShapeOnlyVF(real)
    try:
        yield
    finally:
        rnn._VF = real


def _rnn_pack(m, outs, kwargs):
    if m.mode == "LSTM":
        return outs[0], (outs[1], outs[2])
    return outs[0], outs[1]


def _mha_outputs(m, shapes, kwargs):
    q, k = shapes[0], shapes[1] if len(shapes) > 1 else shapes[0]
    if q is None or k is None or len(q) not in (2, 3):
        return None
    e = m.out_proj.weight.shape[0] if m.out_proj.weight is not None else m.embed_dim
    if len(q) == 2:
        length, src, batch = q[0], k[0], None
    elif m.batch_first:
        batch, length, src = q[0], q[1], k[1]
    else:
        length, batch, src = q[0], q[1], k[0]
    out = q[:-1] + (int(e),)
    if not kwargs.get("need_weights", True):
        return [out]
    per_head = () if kwargs.get("average_attn_weights", True) else (m.num_heads,)
    weights = per_head + (length, src) if batch is None else (batch,) + per_head + (length, src)
    return [out, weights]


def _mha_pack(m, outs, kwargs):
    return (outs[0], outs[1] if len(outs) > 1 else None)


# -- layers whose fit is cheap to decide: when it is certain, their output comes from convlint's shape functions
# and PyTorch's fake kernel (most of a trace's time) is skipped; in any doubt PyTorch runs and judges.

def _linear_fits(m, x, params) -> bool:
    w, b = params.get("weight"), params.get("bias")
    return (len(x) >= 1 and w is not None and len(w) == 2 and compare.equal(x[-1], w[1]) is True
            and (b is None or len(b) == 1 and compare.equal(b[0], w[0]) is True))


class _Rank:
    """A stand-in for a tensor that answers ``dim()`` only, for a layer's own rank check."""

    def __init__(self, rank: int):
        self.rank = rank

    def dim(self) -> int:
        return self.rank


_SCALAR_TYPE = {torch.float64: "Double", torch.float32: "Float", torch.float16: "Half", torch.bfloat16: "BFloat16"}


def _linear_refuses(m, args) -> Optional[str]:
    """Mixed floating types (a float64 batch from NumPy into a float32 layer): the CPU kernel refuses them, the meta
    kernel does not look."""
    x, w = args[0] if args else None, m.weight
    if isinstance(x, torch.Tensor) and isinstance(w, torch.Tensor) and x.dtype != w.dtype \
            and x.dtype in _SCALAR_TYPE and w.dtype in _SCALAR_TYPE:
        return f"mat1 and mat2 must have the same dtype, but got {_SCALAR_TYPE[x.dtype]} and {_SCALAR_TYPE[w.dtype]}"
    return None


def _batch_norm_fits(m, x, params) -> bool:
    try:
        m._check_input_dim(_Rank(len(x)))  # the layer's own check (BatchNorm2d: 4-D only)
    except Exception:
        return False
    if len(x) < 2 or any(s is None or len(s) != 1 or compare.equal(s[0], x[1]) is not True for s in params.values()):
        return False
    if m.training:  # training statistics need more than one value per channel
        rest = 1
        for d in (x[0],) + tuple(x[2:]):
            rest = rest * d
        return compare.at_least(rest, 2) is True
    return True


_CONV = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "padding_mode")
_POOL = ("kernel_size", "stride", "padding", "ceil_mode")
_BN = ("num_features", "eps", "momentum", "affine", "track_running_stats")
_RNN = ("mode", "input_size", "hidden_size", "num_layers", "bias", "batch_first", "bidirectional", "proj_size")
_MHA = ("embed_dim", "kdim", "vdim", "num_heads", "batch_first", "_qkv_same_embed_dim")


def _table() -> dict:
    t = {}
    for n, cls in ((1, nn.Conv1d), (2, nn.Conv2d), (3, nn.Conv3d)):
        t[cls] = ModuleKind("Conv", _CONV, ("weight", "bias"), _conv_attrs, spatial=n)
    for n, cls in ((1, nn.ConvTranspose1d), (2, nn.ConvTranspose2d), (3, nn.ConvTranspose3d)):
        t[cls] = ModuleKind("ConvTranspose", _CONV + ("output_padding",), ("weight", "bias"), _conv_attrs, spatial=n)
    for n, cls in ((1, nn.MaxPool1d), (2, nn.MaxPool2d), (3, nn.MaxPool3d)):
        t[cls] = ModuleKind("MaxPool", _POOL + ("dilation",), (), _pool_attrs(n), spatial=n)
    for n, cls in ((1, nn.AvgPool1d), (2, nn.AvgPool2d), (3, nn.AvgPool3d)):
        t[cls] = ModuleKind("AveragePool", _POOL, (), _pool_attrs(n), spatial=n)
    t[nn.Linear] = ModuleKind("Gemm", ("in_features", "out_features"), ("weight", "bias"), fits=_linear_fits,
                               any_strides=True, refuses=_linear_refuses)
    for cls in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm):
        t[cls] = ModuleKind("BatchNormalization", _BN, ("weight", "bias", "running_mean", "running_var"),
                            lambda m: {"epsilon": m.eps}, fits=_batch_norm_fits)
    for cls in (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d):
        t[cls] = ModuleKind("InstanceNormalization", _BN, ("weight", "bias"), lambda m: {"epsilon": m.eps})
    t[nn.GroupNorm] = ModuleKind("GroupNormalization", ("num_groups", "num_channels", "eps", "affine"),
                                 ("weight", "bias"), lambda m: {"num_groups": m.num_groups, "epsilon": m.eps})
    t[nn.LayerNorm] = ModuleKind("LayerNormalization", ("normalized_shape", "eps", "elementwise_affine"),
                                 ("weight", "bias"), _layer_norm_attrs)
    if hasattr(nn, "RMSNorm"):
        t[nn.RMSNorm] = ModuleKind("RMSNormalization", ("normalized_shape", "eps", "elementwise_affine"),
                                   ("weight",), lambda m: {"axis": -len(m.normalized_shape)})
    t[nn.Embedding] = ModuleKind("Gather", ("num_embeddings", "embedding_dim", "padding_idx"), ("weight",),
                                 lambda m: {"axis": 0}, weight_first=True)
    for cls in (nn.LSTM, nn.GRU, nn.RNN):
        t[cls] = ModuleKind(cls.__name__, _RNN, (),
                            lambda m: {"hidden_size": m.hidden_size,
                                       "direction": "bidirectional" if m.bidirectional else "forward",
                                       "layout": int(m.batch_first)},
                            outputs=rnn_outputs, pack=_rnn_pack, kernels=_rnn_kernels)
    t[nn.MultiheadAttention] = ModuleKind("MultiHeadAttention", _MHA, ("in_proj_weight", "in_proj_bias"),
                                          lambda m: {"num_heads": m.num_heads}, outputs=_mha_outputs,
                                          pack=_mha_pack, data_inputs=3)
    return t


KINDS = _table()


def declared_kind(module) -> Optional[tuple]:
    """(kind, base class) for a module of a known family, whatever its forward does; None otherwise."""
    for cls in type(module).__mro__:
        kind = KINDS.get(cls)
        if kind is not None:
            return kind, cls
    return None


def leaf_kind(module) -> Optional[ModuleKind]:
    """The kind of a module convlint describes itself: a known class whose ``forward`` is the library's own."""
    found = declared_kind(module)
    if found is None:
        return None
    kind, cls = found
    return kind if type(module).forward is cls.forward else None


def declared(module, kind: ModuleKind) -> dict:
    """The module's declared attributes, as plain Python values."""
    out = {}
    for name in kind.declared:
        if hasattr(module, name):
            v = getattr(module, name)
            out[name] = tuple(v) if isinstance(v, list) else v
    return out


def own_tensors(module) -> dict:
    """The module's own parameters and buffers by name (not its children's), None for those set to None."""
    out = dict(module._parameters)
    out.update(module._buffers)
    return out


def tensor_attributes(module) -> list:
    """Tensors kept as plain attributes of a module (not registered as parameters or buffers)."""
    return [(k, v) for k, v in module.__dict__.items() if isinstance(v, torch.Tensor)]


def param_shape(t):
    """A parameter's shape without touching its data; None for an uninitialized (lazy) parameter."""
    if t is None:
        return None
    try:
        from torch.nn.parameter import is_lazy

        if is_lazy(t):
            return None
    except ImportError:
        pass
    return tuple(int(d) if type(d) is int else dims.norm(d) for d in t.shape)
