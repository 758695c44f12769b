"""The summary of a model: per layer, its output shapes, parameters, multiply-accumulates and activations as exact
formulas in the user's symbols; the totals; and the input sizes for which the whole model runs.

A row is a layer as the user named it: a PyTorch module call (module path and class) or a functional call or tensor
operation inside a module's forward (``up4.cat``), or an ONNX node (its name and op). Operations that only move or
describe data (views, reshapes, transposes, shape arithmetic) and cost nothing get no row, though their cost (none)
is in the totals. ``depth`` folds the rows below that many levels of the module path (an ONNX name's ``/`` scopes)
into one row for their container, as torchinfo folds them.

Parameters are counted once, like ``model.parameters()``: a module called twice has them on its first row only, and
the total of a PyTorch model is that of every module it holds, called or not. A module's own parameters that no
layer of its own reads (a ViT's position table) get a row of their own, where the module's first layer is. An ONNX
model's parameters are its initializers, each on the first node that reads it.

A summary survives faults: the rows are the layers the lint saw, each with the codes of the findings on it, and the
rows after the first error say so (their shapes are those the tracer stepped over with).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import sympy

from convlint.checking.domain import Domain
from convlint.core import dims
from convlint.cost import node_macs
from convlint.rule import ERROR

# Operations that only move or describe data: no row of their own (their cost is none).
PLUMBING = frozenset({
    "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity", "Shape", "Size", "Constant",
    "ConstantOfShape", "Cast", "CastLike", "Expand", "Slice", "Gather", "Range", "Split", "SplitToSequence",
    "torch.__getitem__", "torch.t", "torch.size", "torch.view", "torch.contiguous", "torch.permute", "torch.to",
    "torch.type_as", "torch.chunk", "torch.unbind", "torch.expand_as", "torch.view_as", "torch.detach",
    "torch.clone", "torch.float", "torch.int", "torch.long", "torch.dim", "torch.numel", "torch.split",
    "torch.squeeze", "torch.unsqueeze", "torch.flatten", "torch.reshape", "torch.transpose", "torch.movedim",
    "torch.dropout", "torch.expand", "torch.repeat", "torch.narrow", "torch.select", "torch.unflatten",
})


@dataclass
class Layer:
    """One row of the summary."""

    name: str
    """The layer as the user named it: ``encoder.layers.3.conv1``, ``up4.cat``, an ONNX node name."""
    kind: str
    """The module's class (``Conv2d``), the function or operation (``cat``), or the ONNX op."""
    output_shapes: list = field(default_factory=list)
    """The shapes of its outputs, tuples of dims in the user's symbols (None: unknown)."""
    params: Optional[int] = None
    """Elements of the parameters it holds, each counted once; None when it holds none."""
    shared: bool = False
    """A later call of a module whose parameters are counted on its first row."""
    macs: Any = 0
    """Multiply-accumulates (:mod:`convlint.cost`), an int or a sympy expression; None when unknown."""
    activations: Any = 0
    """Elements of its outputs, an int or a sympy expression; None when unknown."""
    codes: list = field(default_factory=list)
    """The codes of the findings on it."""
    after: Optional[str] = None
    """The code of the first error before it in the model: its shapes are those the tracer stepped over with."""
    path: tuple = ()
    """Its name's parts (module path components, or ONNX ``/`` scopes), for folding."""
    dtype: Optional[str] = None
    """The element type of its first output."""
    node_id: int = field(default=0, repr=False, compare=False)  # id() of its node, to find the findings on it
    node_ids: list = field(default_factory=list, repr=False, compare=False)  # ids of its nodes, when several
    folded: bool = field(default=False, repr=False, compare=False)  # a container's row made by folding


@dataclass
class Summary:
    """The summary of one target, or why it could not be read (``error``, one line)."""

    target: str
    error: Optional[str] = None
    layers: list = field(default_factory=list)
    params: int = 0
    macs: Any = 0
    activations: Any = 0
    """Elements of every row's outputs together (an upper bound of what the forward pass holds at once)."""
    activation_bytes: Any = 0
    domain: Optional[Domain] = None
    findings: list = field(default_factory=list)
    symbols: tuple = ()
    """The names of the input dims that are symbols."""
    batch: Optional[str] = None
    """The batch symbol (the first input's first dim, left free): the counts are per sample, taken with it 1."""
    at: dict = field(default_factory=dict)
    """The sizes every formula was evaluated at (``--at``), symbol name -> int."""

    def to_json(self) -> dict:
        """The summary as ``--format json`` writes it (the README's "Summary" section describes it): counts are
        ints, formulas in sympy's syntax (``216*H*W + 1152*floor(H/2)*floor(W/2)``), or null when unknown."""
        if self.error:
            return {"target": self.target, "error": self.error}
        return {
            "target": self.target,
            "error": None,
            "layers": [{"name": la.name, "class": la.kind, "output_shapes": [_dims(s) for s in la.output_shapes],
                        "params": la.params, "shared": la.shared, "macs": _count(la.macs),
                        "activations": _count(la.activations), "findings": la.codes, "after_error": la.after}
                       for la in self.layers],
            "total": {"params": self.params, "macs": _count(self.macs), "activations": _count(self.activations),
                      "activation_bytes": _count(self.activation_bytes)},
            "domain": self.domain.text() if self.domain else None,
            "symbols": list(self.symbols),
            "per_sample": self.batch,
            "at": dict(self.at),
            "findings": [f.to_json() for f in sorted(self.findings, key=lambda f: f.sort_key())],
        }


def _count(x):
    """A count for JSON: an int, a formula in sympy's syntax, or null when unknown."""
    if x is None or type(x) is int:
        return x
    return str(x)


def _dims(shape):
    return None if shape is None else [_count(d) for d in shape]


def summarize(graph, findings, domain: Domain, depth: Optional[int] = None, at: Optional[dict] = None,
              target: str = "") -> Summary:
    """The summary of ``graph`` (propagated, its rules run) with its ``findings`` (their ``node_ref`` still set)."""
    layers, macs = (_torch_rows if graph.trace is not None else _onnx_rows)(graph)
    _mark(layers, findings)
    total_params = _total_params(graph)
    if depth is not None:
        layers = _folded(layers, depth, graph)
    if domain is not None and domain.classes:
        _within(layers, domain.classes)
        macs = _stated(macs, _class_substitution(domain.classes))
    symbols = tuple(s.name for s in dims.symbols_of(*[d for v in graph.inputs for d in (v.shape or ())]))
    summary = Summary(target, layers=layers, params=total_params, macs=macs, domain=domain, findings=findings,
                      symbols=symbols)
    summary.activations = _sum(layer.activations for layer in layers)
    summary.activation_bytes = _sum(_bytes(layer) for layer in layers)
    if at:
        _evaluate(summary, at)
    _per_sample(summary, graph)
    return summary


def _torch_rows(graph):
    trace = graph.trace
    leaves = _leaf_modules(trace.modules)
    rows, macs, seen_modules, placed = [], [], set(), set()
    for node in graph.nodes:
        if not node.outputs:
            continue  # a module never called, or one PyTorch refused to construct
        cost = _node_macs(node)
        macs.append(cost)
        origin = node.origin
        module = origin.module if origin is not None else None
        if origin is not None and origin.module_class:  # a module convlint knows, described as one node
            path = tuple(module.split(".")) if module else ()
            _place_own(rows, trace, path[:-1], placed)
            info = trace.modules.get(module or "")
            repeat = module in seen_modules
            seen_modules.add(module)
            placed.add(module or "")
            params = None if info is None or not info.params else (0 if repeat else info.params)
            rows.append(_row(node, node.name, origin.module_class, path, cost, params, repeat and params == 0))
        elif module and module in leaves:  # the code of a leaf module convlint steps into (nn.ReLU, nn.GELU)
            last = rows[-1] if rows else None
            if last is not None and last.name == module and last.node_id == -1:
                _extend(last, node, cost)
                continue
            path = tuple(module.split("."))
            _place_own(rows, trace, path[:-1], placed)
            info = trace.modules[module]
            repeat = module in seen_modules
            seen_modules.add(module)
            placed.add(module)
            row = _row(node, module, info.module_class, path, cost,
                       None if not info.params else (0 if repeat else info.params), repeat and bool(info.params))
            row.node_ids = [id(node)]
            row.node_id = -1
            rows.append(row)
        elif node.op not in PLUMBING and any(v is not None for v in node.inputs):  # not a tensor made from nothing
            owner = tuple(module.split(".")) if module else ()
            _place_own(rows, trace, owner, placed)
            kind = _function_name(node, module)
            rows.append(_row(node, node.name, kind, owner + (kind,), cost))
    return rows, _sum(macs)


def _leaf_modules(modules: dict) -> set:
    """The paths of the modules that hold no other module (the model itself excluded)."""
    parents = {p.rsplit(".", 1)[0] if "." in p else "" for p in modules if p}
    return {p for p in modules if p and p not in parents}


def _extend(row, node, cost) -> None:
    """``row`` (a leaf module's) with one more of its operations: its cost added, its outputs now the row's."""
    row.macs = _sum([row.macs, cost])
    row.output_shapes = [v.shape for v in node.outputs]
    row.activations = _sum(_elements(s) for s in row.output_shapes)
    row.dtype = node.outputs[0].dtype
    row.node_ids.append(id(node))


def _place_own(rows, trace, path: tuple, placed: set) -> None:
    """A row for the own parameters of ``path`` and of the modules above it that hold some no layer of theirs has
    shown (a position table, a class token), the first time one of their layers comes."""
    for i in range(len(path) + 1):
        name = ".".join(path[:i])
        if name in placed:
            continue
        placed.add(name)
        info = trace.modules.get(name)
        if info is not None and info.params:
            rows.append(Layer(name or "(model)", info.module_class, params=info.params, path=path[:i]))


def _function_name(node, module) -> str:
    """``cat`` for the node ``up4.cat`` (or ``up4.cat#2``) called in module ``up4``."""
    name = node.name
    if module and name.startswith(module + "."):
        name = name[len(module) + 1:]
    return name.split("#", 1)[0] or node.op


def _onnx_rows(graph):
    rows, macs, counted = [], [], set()
    for i, node in enumerate(graph.nodes):
        cost = _sum(_node_macs(n) for n in _with_subgraphs(node))
        macs.append(cost)
        params = 0
        for v in node.inputs:
            if v is not None and v.is_param and id(v) not in counted:
                counted.add(id(v))
                params += _elements(v.shape) or 0
        if node.op in PLUMBING and not params or _constant(node):
            continue
        name = node.name or f"{node.op}_{i}"
        path = tuple(p for p in name.split("/") if p) or (name,)
        rows.append(_row(node, name, node.op, path, cost, params or None))
    return rows, _sum(macs)


def _with_subgraphs(node):
    yield node
    for sub in node.subgraphs.values():
        yield from sub.walk()


def _constant(node) -> bool:
    """A node whose outputs are all known values (shape arithmetic folded by propagation)."""
    return bool(node.outputs) and all(v.data is not None for v in node.outputs)


def _node_macs(node):
    try:
        return node_macs(node)
    except Exception:  # a cost formula of ours that fails leaves the count unknown, never ends the summary
        return None


def _row(node, name, kind, path, cost, params=None, shared=False) -> Layer:
    shapes = [v.shape for v in node.outputs]
    acts = _sum(_elements(s) for s in shapes)
    dtype = node.outputs[0].dtype if node.outputs else None
    return Layer(name, kind, shapes, params, shared, cost, acts, path=path, dtype=dtype, node_id=id(node))


def _elements(shape):
    if shape is None:
        return None
    return dims.product(shape)


def _sum(values):
    """The sum of dims; None when one is unknown."""
    values = list(values)
    if any(v is None for v in values):
        return None
    ints = sum(v for v in values if type(v) is int)
    exprs = [v for v in values if type(v) is not int]
    if not exprs:
        return ints
    return dims.norm(sympy.Add(ints, *exprs))


_BYTES = {"float32": 4, "float": 4, "float16": 2, "bfloat16": 2, "float64": 8, "double": 8, "int64": 8, "int32": 4,
          "int16": 2, "int8": 1, "uint8": 1, "bool": 1, "complex64": 8, "complex128": 16}


def _bytes(layer):
    if layer.activations is None:
        return None
    return dims.mul(layer.activations, _BYTES.get(layer.dtype or "float32", 4))


def _mark(layers, findings) -> None:
    """Each row gets the codes of the findings on its node; the rows after the first error, that error's code."""
    on = {}
    for f in findings:
        if f.node_ref is not None:
            on.setdefault(id(f.node_ref), []).append(f)
    first_error = None
    for layer in layers:
        layer.after = first_error
        found = [f for i in (layer.node_ids or [layer.node_id]) for f in on.get(i, ())]
        layer.codes = sorted({f.rule for f in found})
        errors = sorted(f.rule for f in found if f.severity == ERROR)
        if first_error is None and errors:
            first_error = errors[0]


def _total_params(graph) -> int:
    if graph.trace is not None and graph.trace.modules:
        return sum(info.params for info in graph.trace.modules.values())
    seen, total = set(), 0
    for g in graph.graphs():
        for v in g.values.values():
            if v.is_param and id(v) not in seen:
                seen.add(id(v))
                total += _elements(v.shape) or 0
    if graph.trace is not None:  # a .pt2: its parameters are the module nodes' own
        for node in graph.nodes:
            for v in (node.facts.params or {}).values():
                if id(v) not in seen and v.is_param:
                    seen.add(id(v))
                    total += _elements(v.shape) or 0
    return total


def _folded(layers, depth: int, graph) -> list:
    """Rows below ``depth`` levels folded into one row per container (consecutive rows of one container)."""
    modules = graph.trace.modules if graph.trace is not None else {}
    sep = "." if graph.trace is not None else "/"
    out, counted = [], set()
    for layer in layers:
        if len(layer.path) <= depth:
            out.append(layer)
            continue
        key = layer.path[:depth]
        last = out[-1] if out else None
        if last is not None and last.path == key and last.folded:
            last.macs = _sum([last.macs, layer.macs])
            last.activations = _sum([last.activations, layer.activations])
            last.output_shapes, last.dtype = layer.output_shapes, layer.dtype
            last.codes = sorted(set(last.codes) | set(layer.codes))
            continue
        name = sep.join(key)
        info = modules.get(name)
        params = None
        if info is not None:
            params = sum(i.params for p, i in modules.items() if p == name or p.startswith(name + "."))
        elif layer.params:
            params = layer.params
        shared = name in counted
        counted.add(name)
        row = Layer(name, info.module_class if info is not None else "", layer.output_shapes,
                    0 if shared and params else (params or None), shared and bool(params), layer.macs,
                    layer.activations, list(layer.codes), layer.after, key, layer.dtype)
        row.folded = True
        out.append(row)
    return out


def _class_substitution(classes: dict) -> list:
    """For each symbol whose sizes form one residue class ``H = d·t + r``: (H, d·t + r, t, (H - r)/d)."""
    out = []
    for name, (d, r) in sorted(classes.items()):
        h, t = dims.symbol(name), sympy.Symbol(f"_{name}_class", integer=True, nonnegative=True)
        out.append((h, d * t + r, t, (h - r) / d))
    return out


def _stated(d, substitution):
    """``d`` for the sizes of the residue classes only: ``⌊H/16⌋`` is ``H/16`` when ``H % 16 == 0``."""
    if d is None or type(d) is int or not substitution:
        return d
    for h, inside, t, back in substitution:
        if h in d.free_symbols:
            d = d.subs(h, inside).subs(t, back)
    return dims.norm(sympy.expand(d)) if isinstance(d, sympy.Expr) else d


def _within(layers, classes: dict) -> None:
    """Every formula of ``layers`` stated for the sizes in the model's input domain, where that is one residue class
    per symbol: outside it the model does not run, and inside it the floors are exact fractions."""
    sub = _class_substitution(classes)
    for layer in layers:
        layer.macs = _stated(layer.macs, sub)
        layer.activations = _stated(layer.activations, sub)
        layer.output_shapes = [None if s is None else tuple(_stated(x, sub) for x in s) for s in layer.output_shapes]


def _evaluate(summary: Summary, at: dict) -> None:
    summary.at = dict(at)
    for layer in summary.layers:
        layer.macs = dims.substitute(layer.macs, at)
        layer.activations = dims.substitute(layer.activations, at)
        layer.output_shapes = [None if s is None else tuple(dims.substitute(d, at) for d in s)
                               for s in layer.output_shapes]
    for name in ("macs", "activations", "activation_bytes"):
        setattr(summary, name, dims.substitute(getattr(summary, name), at))


def _per_sample(summary: Summary, graph) -> None:
    """Counts per sample, as a user reads MACs: when the first input's first dim is a symbol (the batch) left free,
    every count is taken at batch 1."""
    first = graph.inputs[0].shape if graph.inputs and graph.inputs[0].shape else None
    if not first or not isinstance(first[0], sympy.Symbol) or first[0].name in summary.at:
        return
    one = {first[0].name: 1}
    for layer in summary.layers:
        layer.macs = dims.substitute(layer.macs, one)
        layer.activations = dims.substitute(layer.activations, one)
    for name in ("macs", "activations", "activation_bytes"):
        setattr(summary, name, dims.substitute(getattr(summary, name), one))
    summary.batch = first[0].name
