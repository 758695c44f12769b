"""The ONNX front end: a model file becomes a :class:`~convlint.core.ir.Graph`, without reading weights.

Initializer shapes come from the tensor headers; external data is checked to stay inside the model's folder and
to exist (with ``os.stat``), and is never opened. Small embedded integer tensors are read lazily, only when a shape
function asks for their contents (the ``shape`` input of a ``Reshape``, say).
"""

from __future__ import annotations

import functools
import os

import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from convlint.core import dims
from convlint.core.dtypes import dtype_name
from convlint.core.errors import InputError, UsageError
from convlint.core.ir import Graph, Node, Origin, Value, text
from convlint.core.words import first_line
from convlint.core.onnx_tensors import MAX_FOLD_ELEMENTS

_PROTOBUF_LIMIT = 2**31

_A = onnx.AttributeProto


def read_model(path: str) -> onnx.ModelProto:
    """Read and parse ``path``; anything that is not a usable ONNX model raises :class:`InputError` with one line."""
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a model file")
    try:
        size = os.path.getsize(path)
        if size == 0:
            raise InputError(f"{path}: empty file, not an ONNX model")
        if size >= _PROTOBUF_LIMIT:
            raise InputError(f"{path}: {size} bytes is over protobuf's 2 GB limit; such models keep weights in external data")
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
    if data[:4] == b"PK\x03\x04":
        raise InputError(f"{path}: is a zip archive (a PyTorch checkpoint or .pt2 file?), not an ONNX model")
    if data[:2] == b"\x80\x02" or data[:1] == b"\x80" and data[1:2] in (b"\x03", b"\x04", b"\x05"):
        raise InputError(f"{path}: is a Python pickle, not an ONNX model; convlint does not unpickle files")
    if _looks_like_text(data):
        return _parse_text(path, data)
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        _refuse_deep_nesting(path, e)
        raise InputError(f"{path}: not a valid ONNX model: the protobuf does not parse ({first_line(e)})") from None
    _require_model(path, model)
    return model


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in text)


def _parse_text(path: str, data: bytes) -> onnx.ModelProto:
    """ONNX's text format (``onnx.parser``) is accepted; any other text file is an error."""
    text = data.decode("utf-8", errors="replace")
    if not text.lstrip().startswith("<"):
        raise InputError(f"{path}: is a text file, not an ONNX model")
    try:
        model = onnx.parser.parse_model(text)
    except Exception as e:  # the parser raises its own error types
        _refuse_deep_nesting(path, e)
        raise InputError(f"{path}: ONNX text format does not parse: {first_line(e)}") from None
    _require_model(path, model)
    return model


def _require_model(path: str, model: onnx.ModelProto) -> None:
    if not model.HasField("graph") or (not model.opset_import and model.ir_version == 0):
        raise InputError(f"{path}: not an ONNX model (no graph or opset)")
    if not model.opset_import and model.ir_version >= 3:  # before IR version 3 there were no opset imports
        raise InputError(f"{path}: the model imports no opset, which ONNX requires since IR version 3; "
                         f"is the file truncated?")


def _refuse_deep_nesting(path: str, e: BaseException) -> None:
    if "MaxDepth" in str(e):  # upb's message for protobuf's nesting limit (100 levels)
        raise InputError(f"{path}: the model nests subgraphs deeper than protobuf can parse") from None


def check_tensors(model: onnx.ModelProto, path: str) -> None:
    """Every tensor header must be sane, and nothing is opened to check it: dims are not negative, an embedded
    tensor holds at least the data its dims claim, and external data names an existing file, inside the model's
    folder, long enough for the bytes it claims."""
    base = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    sizes = {}  # location -> size of that external file: resolve and stat each file once, not once per tensor
    for tensor in _all_tensors(model):
        where = f"{path}: tensor {tensor.name!r}" if tensor.name else f"{path}: an unnamed tensor"
        numel = 1
        for d in tensor.dims:
            if d < 0:
                raise InputError(f"{where} has a negative dim {d} in its shape {tuple(tensor.dims)}")
            numel *= d
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            _check_external(tensor, base, where, sizes)
        elif numel > 2 * tensor.ByteSize() + 16:  # no element type takes less than half a byte
            raise InputError(f"{where} claims shape {tuple(tensor.dims)} but holds far less data than that; "
                             f"the file is corrupt or truncated")


def _check_external(tensor, base: str, where: str, sizes: dict) -> None:
    """External data must name an existing file inside the model's folder (``base``); it is stat-ed, never opened."""
    info = {text(e.key) if type(e.key) is bytes else e.key: text(e.value) if type(e.value) is bytes else e.value
            for e in tensor.external_data}
    location = info.get("location", "")
    if not location:
        raise InputError(f"{where} is stored externally but names no file")
    size = sizes.get(location)
    if size is None:
        if os.path.isabs(location) or "\x00" in location:
            raise InputError(f"{where}: external data {location!r} is an absolute path; "
                             f"it must lie in the model's folder")
        target = os.path.realpath(os.path.join(base, location))
        if os.path.commonpath([base, target]) != base:
            raise InputError(f"{where}: external data {location!r} points outside the model's folder; refusing it")
        try:
            st = os.stat(target)
        except OSError:
            raise InputError(f"{where}: external data file {location!r} is missing") from None
        if not os.path.isfile(target):
            raise InputError(f"{where}: external data {location!r} is not a file")
        size = sizes[location] = st.st_size
    try:
        offset, length = int(info.get("offset", 0) or 0), int(info.get("length", 0) or 0)
    except ValueError:
        raise InputError(f"{where}: external data offset or length is not a number") from None
    if offset < 0 or length < 0:
        raise InputError(f"{where}: external data offset or length is negative")
    if offset + length > size:
        raise InputError(f"{where}: external data {location!r} is {size} bytes, shorter than the "
                         f"{offset + length} it claims")


def _all_tensors(model: onnx.ModelProto):
    stack = [model.graph]
    while stack:
        g = stack.pop()
        yield from g.initializer
        for node in g.node:
            for a in node.attribute:
                if a.type == _A.TENSOR:
                    yield a.t
                elif a.type == _A.GRAPH:
                    stack.append(a.g)
                elif a.type == _A.GRAPHS:
                    stack.extend(a.graphs)
    for f in model.functions:
        for node in f.node:
            for a in node.attribute:
                if a.type == _A.TENSOR:
                    yield a.t


def load(path: str, input_shapes=()) -> Graph:
    """Read ``path`` into a Graph (shapes not yet propagated). ``input_shapes`` pin or rename the inputs' dims."""
    model = read_model(path)
    check_tensors(model, path)
    return load_proto(model, path, input_shapes)


def load_proto(model: onnx.ModelProto, path: str, input_shapes=()) -> Graph:
    """A Graph for a model already in memory; ``path`` is the name findings give for it."""
    opset = {}
    for imp in model.opset_import:
        opset[imp.domain or ""] = imp.version
    if "" not in opset and "ai.onnx" in opset:
        opset[""] = opset["ai.onnx"]
    builder = GraphBuilder(path, opset)
    graph = builder.build(model.graph)
    graph.ir_version = model.ir_version
    graph.tensor_data = builder.embedded.get
    apply_input_shapes(graph, input_shapes)
    return graph


def shape_of_type(type_proto, value_name: str):
    """(shape, dtype) of a tensor TypeProto; dims without value or name get a symbol named after the value and axis."""
    if not type_proto.HasField("tensor_type"):
        return None, None
    tt = type_proto.tensor_type
    dtype = dtype_name(tt.elem_type)
    if not tt.HasField("shape"):
        return None, dtype
    shape = []
    for axis, d in enumerate(tt.shape.dim):
        if d.HasField("dim_value"):
            shape.append(d.dim_value if d.dim_value >= 0 else None)
        elif d.dim_param:
            shape.append(dims.symbol(d.dim_param if type(d.dim_param) is str else text(d.dim_param)))
        else:
            shape.append(dims.symbol(f"{value_name}_d{axis}"))
    return tuple(shape), dtype


def _tensor_loader(tensor):
    def load():
        try:
            arr = numpy_helper.to_array(tensor)
        except Exception:
            return None
        return arr if arr.size <= MAX_FOLD_ELEMENTS else None
    return load


def tensor_value(tensor, name: str = None) -> Value:
    """A Value for an initializer or attribute tensor: its shape from the header, its data only on demand."""
    shape = tuple(int(d) if d >= 0 else None for d in tensor.dims)
    v = Value(name if name is not None else tensor.name, shape, dtype_name(tensor.data_type), is_param=True)
    numel = 1
    for d in shape:
        numel = numel * d if d is not None else MAX_FOLD_ELEMENTS + 1
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        v.external = True
    elif numel <= MAX_FOLD_ELEMENTS:
        v.set_loader(_tensor_loader(tensor))
    return v


class GraphBuilder:
    """Turns a GraphProto (and its subgraphs) into Graphs; names nodes the way the model does."""

    def __init__(self, path: str, opset: dict):
        self.path = path
        self.opset = opset
        self.embedded = {}  # initializer Value -> TensorProto, for those whose bytes are in the file

    def build(self, gp: onnx.GraphProto, parent: Graph = None, owner: Node = None) -> Graph:
        g = Graph(opset=self.opset, file=self.path, parent=parent, owner=owner)
        scope = g.values
        for t in gp.initializer:
            scope[t.name] = tensor_value(t)
            if t.data_location != onnx.TensorProto.EXTERNAL:
                self.embedded[scope[t.name]] = t
        for sp in gp.sparse_initializer:
            shape = tuple(int(d) if d >= 0 else None for d in sp.dims)
            v = Value(sp.values.name, shape, dtype_name(sp.values.data_type), is_param=True)
            scope[v.name] = v
        for vi in gp.input:
            if vi.name in scope:  # an initializer listed as an input (IR < 4): a default, not a user input
                continue
            shape, dtype = shape_of_type(vi.type, vi.name)
            v = Value(vi.name, shape, dtype)
            scope[vi.name] = v
            g.inputs.append(v)
        declared = {vi.name: vi for vi in gp.output}
        order, cyclic = self._order(gp, g)
        for idx in cyclic:
            for name in gp.node[idx].output:
                if name:
                    scope[name] = Value(name)
        for idx in order:
            g.nodes.append(self._node(gp.node[idx], g, idx in cyclic))
        for name, vi in declared.items():
            v = self._lookup(g, name)
            if v is None:
                v = Value(name)
                g.undefined.append((None, name))
                scope[name] = v
            g.outputs.append(v)
        return g

    def _lookup(self, g: Graph, name: str):
        while g is not None:
            v = g.values.get(name)
            if v is not None:
                return v
            g = g.parent
        return None

    def _order(self, gp, g: Graph) -> tuple:
        """(node indices in an order where every value is defined before use, the indices of the nodes on or
        behind a cycle, which go last)."""
        known = set(g.values)
        nodes = gp.node
        produced_by = {}
        for i, n in enumerate(nodes):
            for o in n.output:
                if o:
                    produced_by.setdefault(o, i)
        ready = True
        seen = set(known)
        for n in nodes:
            for name in n.input:
                if name and name not in seen and name in produced_by:
                    ready = False
                    break
            if not ready:
                break
            seen.update(n.output)
        if ready:
            return list(range(len(nodes))), set()
        # Kahn's algorithm over the dependencies inside this graph.
        waiting = [0] * len(nodes)
        users = {}
        for i, n in enumerate(nodes):
            deps = {produced_by[x] for x in n.input if x and x not in known and x in produced_by}
            waiting[i] = len(deps)
            for d in deps:
                users.setdefault(d, []).append(i)
        order = [i for i, w in enumerate(waiting) if w == 0]
        head = 0
        while head < len(order):
            i = order[head]
            head += 1
            for u in users.get(i, ()):
                waiting[u] -= 1
                if waiting[u] == 0:
                    order.append(u)
        placed = set(order)
        rest = [i for i in range(len(nodes)) if i not in placed]
        return order + rest, set(rest)

    def _node(self, np_, g: Graph, cyclic: bool) -> Node:
        inputs = []
        missing = []
        for name in np_.input:
            if not name:
                inputs.append(None)
                continue
            v = self._lookup(g, name)
            if v is None:
                v = g.values[name] = Value(name)
                missing.append(name)
            inputs.append(v)
        outputs = []
        for name in np_.output:
            v = g.values.get(name) if cyclic and name else None
            if v is None:
                v = Value(name) if name else Value(f"<unused output of {np_.op_type}>")
            if name:
                g.values[name] = v
            outputs.append(v)
        name = np_.name or _unnamed(np_)
        node = Node(np_.op_type, name, inputs, outputs, domain=np_.domain if np_.domain != "ai.onnx" else "",
                    origin=Origin("onnx", file=self.path), proto=np_)
        g.undefined.extend((node, m) for m in missing)
        if np_.attribute:
            _check_attribute_types(np_, node.domain, self.opset, self.path, name)
        node.attrs, subgraph_protos = _attributes(np_)
        for key, sub in subgraph_protos.items():
            node.subgraphs[key] = self.build(sub, parent=g, owner=node)
        if cyclic:
            g.cyclic.append(node)
        return node


def _unnamed(np_) -> str:
    first = next((o for o in np_.output if o), "")
    return f"{np_.op_type} -> {first}" if first else f"{np_.op_type} (unnamed)"


@functools.lru_cache(maxsize=None)
def _schema_attribute_types(op: str, domain: str, version):
    """name -> AttributeProto type of the op's attributes in the schema for ``version`` (else its latest one);
    None for an op without a schema."""
    schema = None
    for args in ((op, version, domain), (op, domain)):
        try:
            schema = onnx.defs.get_schema(*args)
            break
        except Exception:  # no schema for that version, or an unknown op
            continue
    if schema is None:
        return None
    return {name: int(a.type) for name, a in schema.attributes.items()}


@functools.lru_cache(maxsize=1)
def _attribute_types_in_history() -> dict:
    """(domain, op) -> name -> the types any version of the op declares for the attribute."""
    out = {}
    for schema in onnx.defs.get_all_schemas_with_history():
        attrs = out.setdefault((schema.domain, schema.name), {})
        for name, a in schema.attributes.items():
            attrs.setdefault(name, set()).add(int(a.type))
    return out


def _check_attribute_types(np_, domain: str, opset: dict, path: str, node_name: str) -> None:
    """An attribute whose type is not the one its op's schema declares makes the model malformed (onnxruntime
    refuses it); shape functions and rules can then rely on ``group`` being an int and ``pads`` a list of ints."""
    version = opset.get(domain)
    if not isinstance(version, int) or not 1 <= version < 2**31:
        version = 2**31 - 1
    expected = _schema_attribute_types(np_.op_type, domain, version)
    if expected is None:  # an op no schema knows (a custom domain's): nothing to check against
        return
    for a in np_.attribute:
        want = expected.get(a.name)
        if want is None:  # not an attribute of this version: check it against the op's other versions
            allowed = _attribute_types_in_history().get((domain, np_.op_type), {}).get(a.name, ())
            want = next(iter(allowed)) if allowed and a.type not in allowed else None
        if want is not None and a.type != want:
            raise InputError(f"{path}: node {node_name!r} ({np_.op_type}): attribute {a.name!r} is "
                             f"{_type_name(a.type)}, but {np_.op_type} takes {_type_name(want)}; "
                             f"the model is malformed")


def _type_name(t: int) -> str:
    try:
        return _A.AttributeType.Name(t)
    except ValueError:
        return f"of unknown type {t}"


def _attributes(np_):
    attrs = {}
    graphs = {}
    for a in np_.attribute:
        t = a.type
        if t == _A.INT:
            attrs[a.name] = a.i
        elif t == _A.INTS:
            attrs[a.name] = list(a.ints)
        elif t == _A.FLOAT:
            attrs[a.name] = a.f
        elif t == _A.FLOATS:
            attrs[a.name] = list(a.floats)
        elif t == _A.STRING:
            attrs[a.name] = a.s.decode("utf-8", errors="replace")
        elif t == _A.STRINGS:
            attrs[a.name] = [s.decode("utf-8", errors="replace") for s in a.strings]
        elif t == _A.TENSOR:
            attrs[a.name] = a.t
        elif t == _A.GRAPH:
            graphs[a.name] = a.g
        elif t == _A.GRAPHS:
            for i, sub in enumerate(a.graphs):
                graphs[f"{a.name}[{i}]"] = sub
        else:
            attrs[a.name] = a
    return attrs, graphs


def apply_input_shapes(graph: Graph, specs) -> None:
    """Pin or rename the dims of the graph's inputs: positional specs in input order, named ones by name."""
    positional = [s for s in specs if s.name is None]
    named = [s for s in specs if s.name is not None]
    if len(positional) > len(graph.inputs):
        raise UsageError(f"{len(positional)} --input-shape values given, but the model has {len(graph.inputs)} "
                         f"input(s): {', '.join(v.name for v in graph.inputs) or 'none'}")
    for spec, v in zip(positional, graph.inputs):
        _pin(v, spec)
    by_name = {v.name: v for v in graph.inputs}
    for spec in named:
        v = by_name.get(spec.name)
        if v is None:
            raise UsageError(f"--input-shape {spec.name}=...: the model has no input {spec.name!r}; its inputs are: "
                             f"{', '.join(by_name) or 'none'}")
        _pin(v, spec)


def _pin(v: Value, spec) -> None:
    """Give input ``v`` the dims of ``spec``: they pin or rename its dims, and cannot change its rank."""
    if v.shape is not None and len(spec.dims) != len(v.shape):
        raise UsageError(f"--input-shape {spec}: input {v.name!r} has rank {len(v.shape)} {dims.fmt_shape(v.shape)}, "
                         f"but {len(spec.dims)} dims were given")
    v.shape = spec.dims
