"""The PyTorch front end: a target (``net.py:build``, an ``nn.Module``, a pickled module) becomes a Graph.

Every module of a known family becomes a node with its declared attributes and its actual parameter shapes (the
declared-versus-actual rules need nothing more, so they run even without an input shape or when the forward cannot
be followed); with ``--input-shape`` the forward pass is traced on fake tensors (:mod:`.torch_trace`), or first on
plain meta tensors when every size is fixed (see :func:`describe`), recording each module call and tensor operation
with its shapes. Shapes are final when the front end is done: the graph is marked ``propagated`` so convlint's
propagation leaves PyTorch's own answers alone.

``graph.trace`` (:class:`~convlint.core.ir.Trace`) says how far the trace went (``stop``: None when the forward ran
to its end), and what the model's own size checks require.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import sys

import sympy
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from convlint.core import conditions, dims
from convlint.core.errors import UsageError
from convlint.core.ir import Graph, ModuleInfo, Node, NodeFacts, Origin, Refusal, Stop, TorchCall, Trace, Value
from convlint.frontends import torch_modules, torch_target, torch_values, torch_weights
from convlint.frontends.torch_dims import SymbolTable, default_hint
from convlint.frontends.torch_trace import Doubt, Tracer

OPSET = {"": 21}
MAX_REQUIREMENTS = 8  # size checks in the model's own code followed before the trace gives up
_SIGNATURE = ("in_channels", "out_channels", "kernel_size", "groups", "in_features", "out_features", "num_features",
              "num_groups", "num_channels", "normalized_shape", "num_embeddings", "embedding_dim", "input_size",
              "hidden_size", "embed_dim", "num_heads")


def load(target, input_shapes=(), input_dtypes=(), weights=None, trust_pickle=False) -> Graph:
    """The Graph for a PyTorch target; an unusable target raises InputError with one line."""
    loaded = torch_target.load(target, trust_pickle)
    if isinstance(loaded, torch_target.ConstructionFailure):
        return construction_graph(loaded)
    if weights:
        from convlint.frontends.checkpoint import read_checkpoint

        loaded.checkpoint, loaded.reshaped = torch_weights.compare(loaded.module, read_checkpoint(weights))
    return describe(loaded, input_shapes, input_dtypes)


def _new_graph(file) -> Graph:
    return Graph(opset=dict(OPSET), file=file, propagated=True, trace=Trace())


def construction_graph(failure) -> Graph:
    """A one-node graph for a layer PyTorch refused to construct, so a rule can say why."""
    graph = _new_graph(failure.file or failure.name)
    shown = ", ".join(f"{k}={failure.declared[k]}" for k in _SIGNATURE if k in failure.declared)
    name = f"{failure.module_class}({shown})"
    op = failure.kind.op if failure.kind is not None else f"torch.{failure.module_class}"
    node = Node(op, name, [], [], {}, origin=Origin("torch", failure.file, failure.line, failure.module_path, failure.module_class),
                declared=failure.declared)
    node.facts = NodeFacts(refusal=Refusal(failure.error, construction=True))
    if failure.kind is not None and failure.module_type is not None:  # PyTorch constructs it again to judge it
        node.torch_call = TorchCall(failure.module_type, (), dict(failure.declared))
    graph.nodes.append(node)
    graph.trace.stop = Stop("not-built", f"PyTorch refused to construct {failure.module_class} ({failure.error})",
                            name, failure.module_path, failure.file, failure.line)
    return graph


def describe(loaded, input_shapes=(), input_dtypes=()) -> Graph:
    """The model's Graph. With inputs of fixed sizes the forward pass is first followed on plain meta tensors, which
    costs a fraction of fake tensors' dispatch; at the first thing that pass cannot vouch for (a refusal, a stop,
    a tensor off the meta device) it is given up and the trace done again on fake tensors, so the result is the
    same either way."""
    if input_shapes and all(type(d) is int for spec in input_shapes for d in spec.dims):
        out, err = io.StringIO(), io.StringIO()  # what the forward prints shows once, from the pass that is kept
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                graph = _describe(loaded, input_shapes, input_dtypes, on_meta=True)
        except Doubt:
            pass
        else:
            sys.stdout.write(out.getvalue())
            sys.stderr.write(err.getvalue())
            return graph
    return _describe_meeting_requirements(loaded, input_shapes, input_dtypes)


def _describe_meeting_requirements(loaded, input_shapes, input_dtypes, hints=None) -> Graph:
    """The fake-tensor trace, done again while the model's own code refuses the example sizes torch tried
    (``assert H == 224``, a divisibility check): each time with example values that meet every requirement found so
    far, so that the trace goes past them. The requirements, each with its verdict, go in
    ``graph.trace.requirements``; the trace kept is the last one."""
    requirements, hints = [], dict(hints or {})
    user = [d for spec in input_shapes for d in spec.dims if type(d) is not int]
    while True:
        graph = _describe(loaded, input_shapes, input_dtypes, on_meta=False, hints=hints)
        stop = graph.trace.stop
        if stop is None or stop.kind != "assumed":
            break
        # the same check at the same place (``assert h == 224 and w == 224`` raises for W once H meets it: another)
        again = [r for r in requirements if (r.file, r.line) == (stop.file, stop.line)
                 and r.relation == stop.requirement.relation]
        if again or len(requirements) >= MAX_REQUIREMENTS:
            # the same raise on sizes that met what it seemed to need: it does not follow from the sizes after all
            if again:  # and what was found on the sizes chosen to meet it; the raise is then a plain one
                requirements = requirements[:requirements.index(again[0])]
                graph = _describe(loaded, input_shapes, input_dtypes, on_meta=False, hints=again[0].hints,
                                  no_assume=frozenset({(stop.file, stop.line)}))
            break
        required = stop.requirement
        atoms = conditions.relation_atoms(required.relation)
        every = [a for r in requirements for a in r.atoms] + (atoms or [])
        domain = conditions.sizes(*user)
        required.atoms = atoms or []
        required.hints = hints
        required.verdict = _verdict(atoms, domain)
        requirements.append(required)
        together = _verdict(every if atoms is not None else None, domain)
        if not together.some and not together.always:
            required.together = together
            break
        hints = _hints_meeting(together, hints, user)
    trace = graph.trace
    for check in trace.checks:
        if any((r.file, r.line) == (check.file, check.line) for r in requirements):
            continue  # the check that failed on the first example sizes, and passed on sizes that meet it
        atoms = conditions.relation_atoms(check.relation)
        check.atoms = atoms or []
        check.verdict = _verdict(atoms, conditions.sizes(*user))
        if not check.verdict.always:
            requirements.append(check)
    trace.checks = []
    trace.requirements = requirements
    if trace.branches:  # to trace the other way: the trace again, on sizes meeting a verdict
        trace.retrace = lambda verdict: _describe_meeting_requirements(
            loaded, input_shapes, input_dtypes, _hints_meeting(verdict, {}, user))
    pinned = {n for r in requirements for n, s in r.verdict.sets.items() if s.finite and len(s.below) == 1}
    for name in pinned:  # torch fixed it because the model requires that one value, which the requirement says
        trace.specialized.pop(name, None)
    return graph


def _verdict(atoms, domain) -> conditions.Verdict:
    """The verdict on a requirement's atoms; unknown when the requirement has none (atoms cannot say it)."""
    return conditions.solve(atoms, domain) if atoms is not None else conditions.Verdict("unknown")


def _hints_meeting(verdict, hints: dict, user: list) -> dict:
    """Example values for the user's symbols that meet ``verdict``: each symbol's current value when it does, else
    the nearest size above it that does."""
    names = list(dict.fromkeys(str(d) for d in user))
    out = {}
    for i, name in enumerate(names):
        current = hints.get(name, default_hint(i))
        size_set = verdict.sets.get(name)
        if size_set is not None:
            out[name] = conditions.near(size_set, current) or current
        elif name in verdict.example:
            out[name] = verdict.example[name]
        else:
            out[name] = current
    return out


def _describe(loaded, input_shapes, input_dtypes, on_meta: bool, hints=None, no_assume=frozenset()) -> Graph:
    model = loaded.module
    graph = _new_graph(loaded.file or loaded.name)
    graph.trace.notes = list(loaded.notes)
    device = torch.device("meta") if on_meta else _common_device(model)
    table = SymbolTable(hints)
    mode = None if on_meta else FakeTensorMode(shape_env=table.env, allow_non_fake_inputs=True)
    with preserved(model):
        params = _swap_in(model, graph, _meta_twin if on_meta else
                          lambda t: mode.from_tensor(t if t.device == device else t.to("meta"), static_shapes=True),
                          loaded.reshaped)
        if model not in loaded.sites and loaded.line:
            loaded.sites[model] = (loaded.file, loaded.line)
        tracer = Tracer(model, graph, table, mode, params, loaded.sites, device, on_meta=on_meta,
                        root_name=_root_name(loaded.name) if loaded.owned else "<root>", no_assume=no_assume)
        if input_shapes:
            with contextlib.nullcontext() if mode is None else mode:
                args, kwargs = _inputs(model, tracer, input_shapes, input_dtypes, device)
                stopped = tracer.run(args, kwargs)
        else:
            stopped = Stop("no-input", "no input shape given, so the forward pass was not followed")
        for path, m in model.named_modules():
            found = torch_modules.declared_kind(m)
            if found is None or tracer.calls[id(m)]:
                continue
            kind = found[0]
            node = tracer.module_node(m, kind, path, [None] * kind.data_inputs, walk=False)
            graph.nodes.append(node)
    if stopped is not None:
        stopped.model = type(model).__name__
    graph.trace.stop = stopped
    graph.trace.followed = _followed(table)
    graph.trace.checkpoint = loaded.checkpoint
    graph.trace.modules = module_infos(model, loaded.sites)
    return graph


def _followed(table) -> list:
    """The equalities torch decided on the user's sizes (see Trace.followed): an equality that held on the example
    sizes is what a check of torch's needed (``Min(512, T) == T``, ``H % 2 == 0``). Its other comparisons choose a
    kernel or a memory layout (``N >= 16``, ``H != 1``), not whether the sizes are refused."""
    out = []
    for g in table.env.guards:
        relation = table.condition(g.expr)
        if _equalities(relation) and relation not in out:
            out.append(relation)
    return out


def _equalities(relation) -> bool:
    if isinstance(relation, sympy.Eq):
        return True
    return isinstance(relation, (sympy.And, sympy.Or)) and all(_equalities(a) for a in relation.args)


def module_infos(model, sites=None) -> dict:
    """Every module of ``model`` by path, with its class, its own parameters' elements and where it was constructed
    (``sites``: module -> (file, line)) (see ModuleInfo)."""
    seen, out = set(), {}
    for path, m in model.named_modules():
        own = 0
        for p in m.parameters(recurse=False):
            if id(p) not in seen:
                seen.add(id(p))
                own += p.numel()
        file, line = sites.get(m, (None, None)) if sites is not None else (None, None)
        out[path] = ModuleInfo(type(m).__name__, own, file, line)
    return out


def _root_name(target: str) -> str:
    """What the user calls the model itself: the factory or class named in the target (``net.py:build`` gives
    ``build``), else ``<root>``."""
    name = target.rsplit(":", 1)[1] if ":" in target and not target.startswith("<") else target.strip("<>")
    return name if name.isidentifier() else "<root>"


def _common_device(model) -> torch.device:
    devices = {t.device for t in model.parameters()} | {t.device for t in model.buffers()}
    if not devices:
        return torch.device("cpu")
    if len(devices) == 1:
        return devices.pop()
    return torch.device("meta")  # a model half on meta (weights applied to a meta model, say): trace it all on meta


def _swap_in(model, graph, twin, reshaped=None) -> dict:
    """Replace every parameter, buffer and tensor attribute with ``twin(tensor)``, a fake or meta tensor of the same
    shape (or of the checkpoint's, for those in ``reshaped``: id -> shape), so that nothing the forward pass does in
    place reaches the model; returns id(twin) -> Value."""
    names = {}
    for mname, m in model.named_modules(remove_duplicate=False):
        for key, t in list(m._parameters.items()) + list(m._buffers.items()) + torch_modules.tensor_attributes(m):
            if t is not None:
                names.setdefault(id(t), f"{mname}.{key}" if mname else key)
    twins, out = {}, {}
    for m in model.modules():
        for store in (m._parameters, m._buffers, dict(torch_modules.tensor_attributes(m))):
            for key, t in list(store.items()):
                if t is None or torch_modules.param_shape(t) is None:
                    continue
                new = twins.get(id(t))
                if new is None:
                    source = _with_shape(t, reshaped[id(t)]) if reshaped and id(t) in reshaped else t
                    new = twin(source)
                    twins[id(t)] = new
                    v = Value(names.get(id(t), key), tuple(int(d) for d in source.shape),
                              str(t.dtype).replace("torch.", ""), is_param=True)
                    v.range = torch_values.of_buffer(t, v.name) if source is t else None
                    v.from_checkpoint = source is not t
                    graph.values[v.name] = v
                    out[id(new)] = v
                if store is m._parameters or store is m._buffers:
                    store[key] = new
                else:
                    m.__dict__[key] = new
    return out


def _with_shape(t, shape):
    """A meta tensor like ``t`` (a parameter stays a parameter) with the checkpoint's ``shape``."""
    empty = torch.empty(shape, dtype=t.dtype, device="meta")
    return nn.Parameter(empty, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else empty


def _meta_twin(t):
    """A meta tensor with ``t``'s sizes, strides and dtype (a parameter stays a parameter); Doubt for a tensor that
    is not a plain dense one."""
    if t.layout is not torch.strided or t.is_quantized or t.is_nested or type(t) not in (torch.Tensor, nn.Parameter):
        raise Doubt(f"a {type(t).__name__} with layout {t.layout}")
    twin = torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device="meta")
    return nn.Parameter(twin, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else twin


@contextlib.contextmanager
def preserved(model):
    """Restore every module's state afterwards: attributes, parameters, buffers, children, class."""
    saved = [(m, m.__class__, dict(m.__dict__), dict(m._parameters), dict(m._buffers), dict(m._modules))
             for m in model.modules()]
    try:
        yield
    finally:
        for m, cls, attrs, params, buffers, children in saved:
            if m.__class__ is not cls:
                m.__class__ = cls
            m.__dict__.clear()
            m.__dict__.update(attrs)
            for store, content in ((m._parameters, params), (m._buffers, buffers), (m._modules, children)):
                store.clear()
                store.update(content)


def _inputs(model, tracer, specs, dtypes, device):
    """Fake input tensors for ``model.forward`` from the ``--input-shape`` (and ``--input-dtype``) specs."""
    try:
        sig = inspect.signature(model.forward)
        params = list(sig.parameters.values())
    except (TypeError, ValueError):
        params = []
    P = inspect.Parameter
    positional = [p.name for p in params if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
    var_args = any(p.kind == P.VAR_POSITIONAL for p in params)
    var_kw = any(p.kind == P.VAR_KEYWORD for p in params)
    keywords = [p.name for p in params if p.kind in (P.POSITIONAL_OR_KEYWORD, P.KEYWORD_ONLY)]
    by_position = [s for s in specs if s.name is None]
    by_name = [s for s in specs if s.name is not None]
    if len(by_position) > len(positional) and not var_args:
        raise UsageError(f"{len(by_position)} --input-shape values given, but {type(model).__name__}.forward takes "
                         f"{len(positional)} positional input(s): {', '.join(positional) or 'none'}")
    for s in by_name:
        if s.name not in keywords and not var_kw:
            raise UsageError(f"--input-shape {s.name}=...: {type(model).__name__}.forward has no input {s.name!r}; "
                             f"its inputs are: {', '.join(keywords) or 'none'}")
    default = _default_dtype(model)
    pos_dtypes = [d for d in dtypes if d.name is None]
    named_dtypes = {d.name: d.dtype for d in dtypes if d.name is not None}
    args, kwargs = [], {}
    for i, spec in enumerate(by_position):
        name = positional[i] if i < len(positional) else f"input{i}"
        dt = named_dtypes.get(name) or (pos_dtypes[i].dtype if i < len(pos_dtypes) else None)
        args.append(_input(tracer, name, spec.dims, dt or default, device))
    for spec in by_name:
        kwargs[spec.name] = _input(tracer, spec.name, spec.dims, named_dtypes.get(spec.name) or default, device)
    return args, kwargs


def _default_dtype(model):
    for t in model.parameters():
        if t.is_floating_point():
            return str(t.dtype).replace("torch.", "")
    return "float32"


def _input(tracer, name, shape, dtype_name, device):
    sizes = [d if type(d) is int else tracer.table.user_symint(str(d)) for d in shape]
    dtype = getattr(torch, dtype_name)
    t = torch.empty(sizes, dtype=dtype, device=device)
    v = Value(name, tuple(d if type(d) is int else dims.symbol(str(d)) for d in shape), dtype_name)
    tracer.values[id(t)] = (t, v)
    tracer.graph.values[name] = v
    tracer.graph.inputs.append(v)
    return t
