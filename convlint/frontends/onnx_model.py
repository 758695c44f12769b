"""The ONNX front end: a model file becomes a :class:`~convlint.core.ir.Graph`, without reading weights.

The file is read and checked by :mod:`~convlint.frontends.onnx_file`; this module builds the Graph. Initializer
shapes come from the tensor headers. Small embedded integer tensors are read lazily, only when a shape function
asks for their contents (the ``shape`` input of a ``Reshape``, say).
"""

from __future__ import annotations

from convlint.core import dims
from convlint.core.dtypes import dtype_name
from convlint.core.errors import UsageError
from convlint.core.ir import Graph, Node, Origin, Value, text
from convlint.core.onnx_parts import proto
from convlint.core.onnx_tensors import EXTERNAL, MAX_FOLD_ELEMENTS, to_array
from convlint.frontends.onnx_file import check_attribute_types, check_tensors, read_model

_A = proto().AttributeProto


def load(path: str, input_shapes=()) -> Graph:
    """Read ``path`` into a Graph (shapes not yet propagated). ``input_shapes`` pin or rename the inputs' dims."""
    model = read_model(path)
    check_tensors(model, path)
    return load_proto(model, path, input_shapes)


def load_proto(model, path: str, input_shapes=()) -> Graph:
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
            arr = to_array(tensor)
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
    if tensor.data_location == EXTERNAL:
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

    def build(self, gp, parent: Graph = None, owner: Node = None) -> Graph:
        g = Graph(opset=self.opset, file=self.path, parent=parent, owner=owner)
        scope = g.values
        for t in gp.initializer:
            scope[t.name] = tensor_value(t)
            if t.data_location != EXTERNAL:
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
        for vi in gp.value_info:  # what the file says of intermediate values: their declared element type
            dtype = shape_of_type(vi.type, vi.name)[1]
            if dtype:
                g.declared_types[vi.name] = dtype
        order, cyclic = self._order(gp, g)
        for idx in cyclic:
            for name in gp.node[idx].output:
                if name:
                    scope[name] = Value(name)
        for idx in order:
            g.nodes.append(self._node(gp.node[idx], g, idx in cyclic))
        for name, vi in declared.items():
            g.declared_types[name] = shape_of_type(vi.type, name)[1]
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
            check_attribute_types(np_, node.domain, self.opset, self.path, name)
        node.attrs, subgraph_protos = _attributes(np_)
        for key, sub in subgraph_protos.items():
            node.subgraphs[key] = self.build(sub, parent=g, owner=node)
        if cyclic:
            g.cyclic.append(node)
        return node


def _unnamed(np_) -> str:
    first = next((o for o in np_.output if o), "")
    return f"{np_.op_type} -> {first}" if first else f"{np_.op_type} (unnamed)"


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
        raise UsageError(f"--input-shape {spec}: input {v.name!r} has rank {len(v.shape)} {dims.pretty_shape(v.shape)}, "
                         f"but {len(spec.dims)} dims were given")
    v.shape = spec.dims
