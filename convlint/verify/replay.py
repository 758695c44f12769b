"""The one-node model: a flagged layer alone, with its attributes, its own tensors and a witness input.

The node is taken from the IR, so a layer replays the same way whichever front end described it: an ONNX node
keeps its NodeProto (attributes exactly as written), any other node is written from ``op`` and ``attrs``, which are
in ONNX terms. Each input of the layer becomes:

- an initializer with known contents when the analysis has them (``Value.data``: a ``Reshape``'s shape, say, with
  the witness values in place of symbols);
- an initializer holding the layer's own tensor when the front end has it: the root graph's ``tensor_data`` maps a
  Value to a numpy array or an ``onnx.TensorProto`` (the ONNX front end gives the initializers embedded in the file,
  never external data; a PyTorch front end gives the module's tensors, or None for those on the meta device);
- an initializer of seeded random data of the value's shape for any other constant (an external weight, a weight
  computed by ``ConstantOfShape``): only shapes matter to the verdict;
- a graph input, fed random data of the witness shape, for anything that depends on the model's inputs; an index
  tensor whose values the front end knows (``Value.range``: ``torch.arange(T)``) is fed those values instead.

Nothing else of the model is read, and nothing large is made: the replay is refused (``Unverifiable``) rather than
allocating more than ``MAX_ELEMENTS`` elements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convlint.core import dims
from convlint.core.dtypes import onnx_elem_type
from convlint.core.onnx_parts import defs, package, proto
from convlint.core.onnx_tensors import EXTERNAL
from convlint.verify import protos
from convlint.verify import witness as witness_mod
from convlint.verify.verdict import Witness

REPLAYED_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")
DEFAULT_OPSET = 17  # for graphs whose front end states none
MAX_ELEMENTS = 1 << 24  # elements a replay may generate or copy, inputs, weights and outputs together


class Unverifiable(Exception):
    """The layer cannot be replayed; the message is the reason, in the verdict's words."""


@dataclass
class Replay:
    model: object  # onnx.ModelProto
    feeds: dict  # graph input name -> numpy array
    witness: Witness
    layers: int = 1  # nodes in the model


# How each input reaches the one-node model.
DATA, TENSOR, RANDOM, FED = "data", "tensor", "random", "fed"


def build(node, graph, together=(), undefined=(), upstream=None, shapes_for=None, floor: int = 1,
          types_for=None) -> Replay:
    """The model replaying ``node`` (a node of ``graph`` or of one of its subgraphs) alone, or with the nodes
    ``together`` when the fault spans several (a cycle); values named in ``undefined`` stay undefined, as in the
    model, when their absence is the fault. ``shapes_for`` maps input names to the shapes to replay them with instead
    of their own, so that a finding is replayed free of the node's other faults; ``types_for`` maps output names to
    the element type the replay declares for them, as the model does. ``upstream`` (a
    :class:`~.witness.Upstream`) shares what is learnt about the graph between replays of its nodes; the model's
    symbols are given values of at least ``floor`` where they can be."""
    shapes_for = shapes_for or {}
    root = graph.root
    opset = dict(root.opset) or {"": DEFAULT_OPSET}
    nodes = [node] + [n for n in together if n is not node]
    schemas = [_schema(n, opset) for n in nodes]
    produced = {id(o) for n in nodes for o in n.outputs}
    absent = set(undefined)

    source = root.tensor_data
    read, roles, tensors, shapes = [], {}, {}, {}
    fresh = set()
    upstream = upstream or witness_mod.Upstream()
    for v in (v for n in nodes for v in _reads(n)):
        if v is None or id(v) in produced or v.name in absent or id(v) in roles:
            continue
        read.append(v)
        if v.data is not None and v.name not in shapes_for:
            roles[id(v)] = DATA
            continue
        t = source(v) if source is not None and v.producer is None and v.is_param and v.name not in shapes_for \
            else None
        if t is not None:
            roles[id(v)], tensors[id(v)] = TENSOR, t
            continue
        own = shapes_for.get(v.name, v.shape)
        if own is None:
            raise Unverifiable(f"the rank of input {v.name!r} is unknown")
        roles[id(v)] = RANDOM if upstream.constant(v) and v.range is None else FED
        shape = []
        for axis, d in enumerate(own):
            if d is None:
                d = dims.symbol(f"{v.name}[{axis}]")
                fresh.add(d)
            shape.append(d)
        shapes[v] = tuple(shape)

    data_symbols = set()
    for v in read:
        if roles[id(v)] == DATA and v.data.dtype == object:
            data_symbols |= set(dims.symbols_of(*v.data.reshape(-1).tolist()))
    values, outputs = witness_mod.choose(nodes, shapes, data_symbols, opset, root.ir_version, upstream, floor)
    if values is None:
        raise Unverifiable(f"no sizes of the model's symbols up to {witness_mod.MAX_SIZE} let an input reach this "
                           f"layer")

    budget = Budget()
    for shape in outputs:
        if shape is not None and all(type(d) is int for d in shape):
            budget.spend(shape, "its output")
    initializers, inputs, feeds, witness_inputs = [], [], {}, {}
    rng = np.random.default_rng(0)
    for v in read:
        role = roles[id(v)]
        if role == DATA:
            initializers.append(_data_tensor(v, values))
        elif role == TENSOR:
            t = tensors[id(v)]
            budget.spend(tuple(t.dims) if isinstance(t, proto().TensorProto) else np.shape(t), f"tensor {v.name!r}")
            initializers.append(_named_tensor(t, v.name))
        else:
            shape = tuple(witness_mod.evaluate(d, values) for d in shapes[v])
            if any(d is None or d < 0 for d in shape):
                raise Unverifiable(f"no concrete shape for input {v.name!r} {dims.pretty_shape(shapes[v])}")
            budget.spend(shape, f"input {v.name!r}")
            array = _random(rng, shape, v.dtype or _first_dtype(node), v.name)
            if v.range is not None:
                array = in_range(array, v.range, values)
            if role == RANDOM or array.dtype.name in _FED_AS_TENSORS:
                initializers.append(protos.tensor(array, v.name))
            elif v.name not in feeds:
                feeds[v.name] = array
                inputs.append(protos.value_info(v.name, onnx_elem_type(array.dtype.name), shape))
                witness_inputs[v.name] = shape

    outs = [_output(o.name, (types_for or {}).get(o.name)) for n in nodes for o in n.outputs
            if o.name and not o.name.startswith("<")]
    written = [_node_proto(n, schema) for n, schema in zip(nodes, schemas)]
    model = protos.model(written, inputs, outs, initializers, opset, root.ir_version)
    shown = {s.name: values[s] for s in _appearance(shapes, values) if s not in fresh}
    return Replay(model, feeds, Witness(witness_inputs, shown), len(nodes))


def _reads(node) -> list:
    """The values ``node`` reads: its inputs, and the outer values its subgraphs (an If's branches) read."""
    if not node.subgraphs:
        return node.inputs
    return list(node.inputs) + _free(node)


def _free(node) -> list:
    out = []
    for sub in node.subgraphs.values():
        own = {id(v) for v in sub.values.values()}
        for n in sub.nodes:
            out.extend(v for v in _reads(n) if v is not None and id(v) not in own)
    return out


def _output(name: str, dtype):
    """A replay's output, undeclared unless the model's declaration of its element type is what is replayed."""
    if dtype is None:
        return proto().ValueInfoProto(name=name)
    return protos.value_info(name, onnx_elem_type(dtype))


def _schema(node, opset: dict):
    """The operator schema of ``node`` at the model's opset; Unverifiable when onnxruntime cannot run such a node."""
    domain = node.domain or ""
    if domain not in REPLAYED_DOMAINS:
        raise Unverifiable(f"{node.op} is an operator of the custom domain {domain!r}, which onnxruntime's standard "
                           f"build does not run" if "training" not in domain else
                           f"{node.op} is a training operator ({domain}), which onnxruntime's inference build does "
                           f"not run")
    if node.subgraphs and node.proto is None:
        raise Unverifiable(f"{node.op} runs subgraphs, which a one-node replay cannot isolate")
    version = opset.get(domain, opset.get("ai.onnx") if domain == "" else None)
    try:
        schema = defs().get_schema(node.op, version or DEFAULT_OPSET, domain)
    except Exception:
        family = domain or "ONNX"
        raise Unverifiable(f"{node.op} is not an operator of {family} opset {version}") from None
    single = defs().OpSchema.FormalParameterOption.Single
    missing = [p.name for i, p in enumerate(schema.inputs) if p.option == single and node.input(i) is None]
    if missing:  # a PyTorch layer that was never called, or never built: no input to replay it on
        raise Unverifiable(f"the layer has no input {', '.join(missing)} here (it was not called), so there is "
                           f"nothing to replay")
    return schema


def _appearance(shapes: dict, values: dict) -> list:
    """The symbols of ``values`` in the order they appear in the inputs' shapes (N before H before W), then the rest."""
    seen = []
    for shape in shapes.values():
        for d in shape:
            seen.extend(s for s in dims.symbols_of(d) if s not in seen)
    return seen + sorted((s for s in values if s not in seen), key=lambda s: s.name)


class Budget:
    """The elements a replay may make, all tensors together; past it, ``error`` says which tensor was too many."""

    def __init__(self, error=None):
        self.left = MAX_ELEMENTS
        self.error = error or Unverifiable

    def spend(self, shape, what: str) -> None:
        n = 1
        for d in shape:
            n *= int(d)
        self.left -= n
        if self.left < 0:
            raise self.error(f"{what} {tuple(int(d) for d in shape)} holds {n} elements; convlint replays layers "
                             f"of up to {MAX_ELEMENTS} elements")


def _first_dtype(node) -> str:
    return next((v.dtype for v in node.inputs if v is not None and v.dtype), "float32")


_FED_AS_TENSORS = ("bfloat16",)  # ml_dtypes' types, which onnxruntime's Python API cannot feed: made initializers


def _random(rng, shape, dtype_name, name):
    try:
        dtype = np.dtype(dtype_name)
    except TypeError:
        raise Unverifiable(f"input {name!r} has element type {dtype_name}, for which convlint makes no test "
                           f"data") from None
    if dtype.kind == "f" or dtype.name in _FED_AS_TENSORS:
        return rng.random(shape, dtype=np.float32).astype(dtype, copy=False)
    if dtype.kind in "iub":
        return np.zeros(shape, dtype)  # valid as indices and counts alike
    raise Unverifiable(f"input {name!r} has element type {dtype_name}, for which convlint makes no test data")


def in_range(array, r, values):
    """Test data with the values the front end knows an index tensor holds (``Value.range``): the progression itself
    (``torch.arange(T)`` expanded) at the witness sizes, else its smallest value everywhere and its largest in the
    last element, so that the replay meets the same indices as the model."""
    if array.size == 0 or array.dtype.kind not in "iu":
        return array
    lo, hi = witness_mod.evaluate(r.lo, values), witness_mod.evaluate(r.hi, values)
    if lo is None or hi is None:
        return array
    first = witness_mod.evaluate(r.first, values) if r.axis is not None and r.first is not None else None
    if first is not None and r.axis < array.ndim:
        line = first + r.step * np.arange(array.shape[r.axis])
        view = [1] * array.ndim
        view[r.axis] = array.shape[r.axis]
        return np.broadcast_to(line.reshape(view), array.shape).astype(array.dtype)
    out = np.full(array.shape, lo, dtype=array.dtype)
    out.reshape(-1)[-1] = hi
    return out


def _data_tensor(v, values):
    data = v.data
    if data.dtype == object:
        flat = [witness_mod.evaluate(d, values) for d in data.reshape(-1).tolist()]
        if any(d is None for d in flat):
            raise Unverifiable(f"the contents of {v.name!r} are not known")
        data = np.array(flat, dtype=np.dtype(v.dtype or "int64")).reshape(data.shape)
    return protos.tensor(data, v.name)


def _named_tensor(t, name):
    if isinstance(t, proto().TensorProto):
        if t.data_location == EXTERNAL:
            raise Unverifiable(f"tensor {name!r} lives in external data, which convlint does not read")
        if t.name == name:
            return t
        copy = proto().TensorProto()
        copy.CopyFrom(t)
        copy.name = name
        return copy
    return protos.tensor(t, name)


def _node_proto(node, schema):
    """The node as written in the model, or written from its op and attrs (those the operator defines)."""
    if node.proto is not None:
        return node.proto
    attrs = {}
    for key, value in node.attrs.items():
        if key not in schema.attributes or value is None:
            continue
        if isinstance(value, proto().AttributeProto):
            attrs[key] = package().helper.get_attribute_value(value)
        elif isinstance(value, bool):
            attrs[key] = int(value)
        elif isinstance(value, tuple):
            attrs[key] = list(value)
        else:
            attrs[key] = value
    outputs = [o.name if o.name and not o.name.startswith("<") else "" for o in node.outputs]
    inputs = [v.name if v is not None else "" for v in node.inputs]
    return package().helper.make_node(node.op, inputs, outputs, name=node.name, domain=node.domain or None, **attrs)
