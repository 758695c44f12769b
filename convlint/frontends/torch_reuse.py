"""Reusing the trace of a repeated block: a decoder layer traced once stands for the 31 like it.

Most of a deep network is a few blocks repeated (``layers.0`` ... ``layers.31``). A block's trace is a function of
what its forward pass reads: its code, its submodules and their parameters' shapes, the attributes it reads, and its
arguments (their shapes as expressions in the user's symbols, dtypes, strides, and any plain values). When a block
is called with all of these equal to those of one traced before, the nodes and values of that trace are copied under
the block's own names (``layers.0.mlp.up_proj`` becomes ``layers.5.mlp.up_proj``), its parameters and arguments in
place of the first's, and fake tensors of the recorded shapes are handed back, instead of running the forward again.
The copy is what a trace of the block would record, name for name (:mod:`tests.test_trace_reuse` holds the two
to each other over real architectures).

Which attributes a block reads is seen, not guessed: while the first block of its kind is traced, its submodules'
public attributes (``layer_idx``, ``shift_size``, ``config``) are moved out of their ``__dict__`` into a side table
that ``nn.Module.__getattr__`` answers from, noting each read. Attributes read must be equal in a block reused for
it (plain values by value, other objects by identity); those never read may differ (``layer_idx`` for a cache the
trace does not pass). A block is not reused when anything about it is not plainly a function of these keys: forward
hooks, a submodule shared with another block or reached twice, an argument that is not a tensor, a plain value or a
tuple, list or dict of them (a key-value cache object, say), a forward that sets attributes, or a first trace that
met a refusal or called a module outside the block; those are traced every time.

What the first trace learnt of the user's sizes (a check that passed, ``assert H % 7 == 0``; a symbol torch fixed;
a branch taken) stays with the first block only, as in a full trace: the same comparisons on the same sizes are
decided already when the next block makes them, so torch takes no new guard there, and nothing is recorded again.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections import Counter

import torch
from torch import nn

from convlint.core.ir import Node, TorchCall, Value
from convlint.frontends import torch_modules

ENABLED = True  # tests switch it off to compare a trace with reuse against one without
_MAX_VARIANTS = 4  # recorded traces per key (blocks alternating in an attribute they read: sliding or global)
_INTERNALS = frozenset(nn.Module().__dict__) - {"training"}
_ORIGINAL_GETATTR = nn.Module.__getattr__
_HIDDEN: dict = {}  # id(module) -> {attribute: value} moved out of its __dict__ while a first block is traced
_READS: list = []  # (id(module), attribute) read from _HIDDEN, in order
_MISSING = object()


class _NotReusable(Exception):
    pass


def _getattr(module, name):
    hidden = _HIDDEN.get(id(module))
    if hidden is not None and name in hidden:
        _READS.append((id(module), name))
        return hidden[name]
    return _ORIGINAL_GETATTR(module, name)


def _plain(x, depth=0):
    """A hashable key for a plain value (numbers, strings, dtypes, symbolic sizes, tuples of them); None if not."""
    if x is None or type(x) in (bool, int, float, str, complex) or isinstance(x, (torch.dtype, torch.device)):
        return (type(x), x)
    if isinstance(x, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return (type(x), x.node.expr)
    if depth < 4 and type(x) in (tuple, list, torch.Size):
        parts = tuple(_plain(y, depth + 1) for y in x)
        return None if None in parts else (type(x), parts)
    return None


def _value_key(x):
    """What makes two attribute values the same for a trace: plain values by value, a ``functools.partial`` of
    plain arguments by its function and arguments, other objects by identity."""
    key = _plain(x)
    if key is None and type(x) is functools.partial:
        args = _plain(x.args), _plain(tuple(sorted(x.keywords.items())))
        key = (functools.partial, id(x.func), *args) if None not in args else None
    return key if key is not None else ("id", id(x))


def _dims(sizes) -> tuple:
    return tuple(d.node.expr if isinstance(d, torch.SymInt) else int(d) for d in sizes)


def _hooked(m) -> bool:
    return bool(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks)


def _global_hooks() -> bool:
    from torch.nn.modules import module as mod

    return any(getattr(mod, name, None) for name in ("_global_forward_hooks", "_global_forward_pre_hooks",
                                                      "_global_backward_hooks", "_global_backward_pre_hooks"))


def _hideable(m, name, value) -> bool:
    """A public attribute that can be moved out of ``m.__dict__`` without changing what reading it gives."""
    return not (name in _INTERNALS or name.startswith("_") or isinstance(value, torch.Tensor)
                or hasattr(type(m), name) or type(m).__getattr__ is not _ORIGINAL_GETATTR)


def _attribute(m, name):
    hidden = _HIDDEN.get(id(m))
    if hidden is not None and name in hidden:
        return hidden[name]
    return m.__dict__.get(name, _MISSING)


@dataclasses.dataclass
class _Record:
    """One block's trace, as recorded, to copy for a block with the same keys."""

    path: str
    subs: dict  # relative path -> submodule of the first block
    reads: list  # (relative path, attribute, value key) of the attributes its trace read
    names: list  # (base, name) of every name the trace took, in order
    nodes: list
    values: list  # the Values the trace added to the graph, in order
    inputs: list  # the Values of the tensor arguments, in order
    rebound: list  # (i, Value): the i-th argument tensor stands for the Value a node of the block made (in place)
    local: set  # ids of the Values the trace made (node outputs, numbers, constants), to be copied
    params: dict  # id(Value) -> (relative path, tensor name) of the block's parameters, buffers, tensor attributes
    calls: dict  # relative path -> leaf calls the trace recorded
    out: object  # the output, tensors replaced by ("in", i) or ("new", tensor, Value)


class BlockReuse:
    """The reuse of block traces for one :class:`~convlint.frontends.torch_trace.Tracer`."""

    def __init__(self, tracer, model):
        self.tracer = tracer
        self.names_log = None  # (base, name) taken while a first block is traced
        self.records: dict = {}
        self.refused: set = set()  # keys whose first trace could not be recorded
        self.keys = {} if not ENABLED or _global_hooks() else self._structure_keys(model)

    # -- keys ---------------------------------------------------------------------------------------------------

    def _structure_keys(self, model) -> dict:
        """id(module) -> a key equal for modules of the same class, submodules, parameter shapes, construction sites
        and fixed attributes, for the modules that share their key with another (the only ones worth recording)."""
        counts = Counter(id(m) for _, m in model.named_modules(remove_duplicate=False))
        sites = self.tracer.sites
        interned, memo = {}, {}

        def key(m):
            if id(m) in memo:
                return memo[id(m)]
            children = [(name, key(c) if c is not None else 0, sites.get(c)) for name, c in m._modules.items()]
            k = None
            if counts[id(m)] == 1 and not _hooked(m) and all(c[1] is not None for c in children):
                own = [(n, tuple(t.shape), t.dtype) for n, t in torch_modules.own_tensors(m).items() if t is not None]
                fixed = [(n, ("T", tuple(v.shape), v.dtype) if isinstance(v, torch.Tensor) else _value_key(v))
                         for n, v in m.__dict__.items() if n not in _INTERNALS and not _hideable(m, n, v)]
                k = interned.setdefault((type(m), tuple(own), tuple(fixed), tuple(children)), len(interned) + 1)
            memo[id(m)] = k
            return k

        key(model)
        shared = Counter(k for k in memo.values() if k is not None)
        return {i: k for i, k in memo.items() if k is not None and shared[k] > 1 and i != id(model)}

    def _known(self, x) -> bool:
        hit = self.tracer.values.get(id(x))
        return (hit is not None and hit[0] is x) or id(x) in self.tracer.params

    def _arguments(self, args, kwargs, flat: list):
        """A key for the call's arguments, with their tensors appended to ``flat``; _NotReusable for an argument
        that is not a tensor already traced, a plain value, or a tuple, list or dict of them."""
        def walk(x, depth=0):
            if isinstance(x, torch.Tensor):
                if not self._known(x):
                    raise _NotReusable
                first = next((i for i, y in enumerate(flat) if y is x), None)
                if first is None:
                    flat.append(x)
                return ("T", first, _dims(x.shape), _dims(x.stride()), x.dtype, x.device.type)
            if depth < 4 and type(x) in (tuple, list):
                return (type(x), tuple(walk(y, depth + 1) for y in x))
            if depth < 4 and type(x) is dict and all(type(k) is str for k in x):
                return (dict, tuple((k, walk(y, depth + 1)) for k, y in x.items()))
            key = _plain(x)
            if key is None:
                raise _NotReusable
            return key

        return walk(tuple(args)), walk(dict(kwargs))

    def _key(self, module, args, kwargs, flat):
        structure = self.keys.get(id(module))
        if structure is None:
            return None
        try:
            arguments = self._arguments(args, kwargs, flat)
        except Exception:  # _NotReusable, or a tensor without strides
            return None
        from convlint.frontends.torch_sources import user_frame

        return structure, arguments, user_frame(None, self.tracer.base_frame)

    # -- calls --------------------------------------------------------------------------------------------------

    def call(self, module, path, args, kwargs, run):
        """Call ``module`` (``run()`` traces it): by copying a recorded trace when one fits, else by tracing it,
        recording the trace when it may fit a later block."""
        if id(module) not in self.keys:
            return run()
        flat = []
        key = self._key(module, args, kwargs, flat)
        if key is None:
            return run()
        subs = dict(module.named_modules())
        if any(self.tracer.calls[id(m)] for m in subs.values()):
            return run()
        for record in self.records.get(key, ()):
            if all(_value_key(_attribute(subs.get(rel), name)) == value for rel, name, value in record.reads
                   if rel in subs):
                return self._copy(record, module, path, subs, flat)
        if key in self.refused or len(self.records.get(key, ())) >= _MAX_VARIANTS:
            return run()
        return self._record(key, module, path, subs, flat, run)

    def _record(self, key, module, path, subs, flat, run):
        t = self.tracer
        graph = t.graph
        hidden = []
        for m in subs.values():
            table = _HIDDEN.setdefault(id(m), {})
            for name, value in list(m.__dict__.items()):
                if _hideable(m, name, value):
                    table[name] = m.__dict__.pop(name)
                    hidden.append((m, name))
        before = {id(m): set(m.__dict__) for m in subs.values()}
        nodes0, values0, reads0 = len(graph.nodes), len(graph.values), len(_READS)
        inputs = [t.value_of(x) for x in flat]
        outer = self.names_log
        self.names_log = names = []
        nn.Module.__getattr__ = _getattr
        changed = True
        try:
            out = run()
            changed = any(set(m.__dict__) != before[id(m)] for m in subs.values())  # the forward set attributes
        finally:
            self.names_log = outer
            if outer is not None:
                outer.extend(names)
            for m, name in hidden:
                value = _HIDDEN[id(m)].pop(name)
                m.__dict__.setdefault(name, value)
            for m in subs.values():
                if not _HIDDEN.get(id(m), True):
                    del _HIDDEN[id(m)]
            if not _HIDDEN:
                nn.Module.__getattr__ = _ORIGINAL_GETATTR
        nodes = graph.nodes[nodes0:]
        rel_of = {id(m): rel for rel, m in subs.items()}
        template = self._template(out, flat, nodes0)
        after = [t.value_of(x) for x in flat]
        rebound = [(i, v) for i, (v, was) in enumerate(zip(after, inputs)) if v is not was]
        if (template is None or changed or t.doubt is not None or any(v.producer not in nodes for _, v in rebound)
                or any(n.facts.refusal is not None or not _within(n.origin.module, path) for n in nodes)):
            self.refused.add(key)
            return out
        reads = sorted({(rel_of[i], name) for i, name in _READS[reads0:] if i in rel_of})
        if not _HIDDEN:
            del _READS[:]
        added = list(itertools.islice(graph.values.values(), values0, None))
        local = {id(v) for v in added}
        for n in nodes:
            for v in itertools.chain(n.inputs, n.outputs, (n.facts.params or {}).values()):
                if v is not None and graph.values.get(v.name) is not v:
                    local.add(id(v))
        params = {}
        for rel, m in subs.items():
            for name, tensor in _own_tensors(m):
                v = t.params.get(id(tensor))
                if v is not None:
                    params[id(v)] = (rel, name)
        record = _Record(path, subs, [(rel, name, _value_key(_attribute(subs[rel], name)))
                                              for rel, name in reads],
                         names, nodes, added, inputs, rebound, local, params,
                         {rel: t.calls[id(m)] for rel, m in subs.items() if t.calls[id(m)]}, template)
        self.records.setdefault(key, []).append(record)
        return out

    def _template(self, out, flat, nodes0):
        """``out`` with each tensor replaced by ("in", i) for the i-th argument tensor, or ("new", tensor, Value) for
        one a node of the block made; None if a tensor is neither or a container is not a tuple, list or dict."""
        t = self.tracer
        try:
            def walk(x, depth=0):
                if isinstance(x, torch.Tensor):
                    i = next((i for i, y in enumerate(flat) if y is x), None)
                    if i is not None:
                        return ("in", i)
                    hit = t.values.get(id(x))
                    if hit is None or hit[0] is not x or id(hit[1].producer) not in made:
                        raise _NotReusable  # not made by the block (a parameter, a tensor from before it)
                    return ("new", x, hit[1])
                if depth < 4 and type(x) in (tuple, list):
                    return (type(x), [walk(y, depth + 1) for y in x])
                if depth < 4 and type(x) is dict:
                    return (dict, {k: walk(y, depth + 1) for k, y in x.items()})
                if _plain(x) is None:
                    raise _NotReusable
                return ("plain", x)

            made = {id(n) for n in t.graph.nodes[nodes0:]}
            return walk(out)
        except _NotReusable:
            return None

    # -- copying ------------------------------------------------------------------------------------------------

    def _copy(self, record, module, path, subs, flat):
        t = self.tracer
        moved = _Mover(record.path, path)
        names = {name: t.name(moved(base)) for base, name in record.names}
        for rel, name, _ in record.reads:
            if rel in subs:
                _READS.append((id(subs[rel]), name))
        values = dict(zip(map(id, record.inputs), (t.value_of(x) for x in flat)))
        own = {(rel, name): tensor for rel, m in subs.items() for name, tensor in _own_tensors(m)}
        for i, where in record.params.items():
            v = t.params.get(id(own.get(where)))
            if v is not None:
                values[i] = v

        def rename(name):
            if name in names:
                return names[name]
            head, sep, tail = name.rpartition(":")
            if sep and head in names:
                return f"{names[head]}:{tail}"
            return moved(name)

        def value(v):
            if v is None:
                return None
            new = values.get(id(v))
            if new is None:
                if id(v) not in record.local:
                    return v  # made before the block: the same for every block
                new = values[id(v)] = _copied(v, rename(v.name), moved)
            return new

        for v in record.values:
            new = value(v)
            t.graph.values[new.name] = new
        for node in record.nodes:
            copy = Node(node.op, rename(node.name), [value(v) for v in node.inputs],
                        [value(v) for v in node.outputs], dict(node.attrs), domain=node.domain,
                        origin=dataclasses.replace(node.origin, module=moved(node.origin.module)),
                        declared=dict(node.declared))
            if node.facts.params is not None:
                copy.facts = dataclasses.replace(node.facts, params={k: value(v)
                                                                     for k, v in node.facts.params.items()})
            else:
                copy.facts = node.facts
            if node.torch_call is not None:
                copy.torch_call = _call_copied(node.torch_call, record, subs, value)
            t.graph.nodes.append(copy)
        for rel, n in record.calls.items():
            t.calls[id(subs[rel])] += n
        for i, v in record.rebound:
            t.values[id(flat[i])] = (flat[i], values[id(v)])
        return self._output(record.out, flat, values)

    def _output(self, template, flat, values):
        t = self.tracer
        kind = template[0]
        if kind == "in":
            return flat[template[1]]
        if kind == "new":
            old, v = template[1], values[id(template[2])]
            with t.quiet():
                x = torch.empty_strided(old.size(), old.stride(), dtype=old.dtype, device=old.device)
            t.values[id(x)] = (x, v)
            return x
        if kind == "plain":
            return template[1]
        if kind is dict:
            return {k: self._output(y, flat, values) for k, y in template[1].items()}
        return kind(self._output(y, flat, values) for y in template[1])


def _within(module_path, path) -> bool:
    return module_path is not None and (module_path == path or module_path.startswith(path + "."))


def _own_tensors(m):
    """A module's own parameters, buffers and tensor attributes, as the trace swaps them for fakes."""
    yield from ((n, x) for n, x in torch_modules.own_tensors(m).items() if x is not None)
    yield from torch_modules.tensor_attributes(m)


class _Mover:
    """A name of the first block's, moved under the block being copied: ``layers.0.mlp`` -> ``layers.5.mlp``."""

    def __init__(self, old: str, new: str):
        self.old, self.new = old, new

    def __call__(self, name):
        if name is None or not name.startswith(self.old):
            return name
        rest = name[len(self.old):]
        return self.new + rest if not rest or rest[0] in ".:#" else name


def _copied(v: Value, name: str, moved) -> Value:
    new = Value(name, v.shape, v.dtype, is_param=v.is_param)
    new._data, new._load, new.external, new.from_checkpoint = v._data, v._load, v.external, v.from_checkpoint
    r = v.range
    if r is not None and moved.old in r.source:
        r = dataclasses.replace(r, source=r.source.replace(f"'{moved.old}", f"'{moved.new}"))
    new.range = r
    return new


def _call_copied(call: TorchCall, record: _Record, subs: dict, value) -> TorchCall:
    target = call.target
    if isinstance(target, nn.Module):
        rel = next((rel for rel, m in record.subs.items() if m is target), None)
        target = subs[rel] if rel is not None else target

    def walk(x, depth=0):
        if isinstance(x, Value):
            return value(x) if x.name != "<argument>" else x
        if depth < 4 and type(x) in (tuple, list):
            return type(x)(walk(y, depth + 1) for y in x)
        if depth < 4 and type(x) is dict:
            return {k: walk(y, depth + 1) for k, y in x.items()}
        return x

    return TorchCall(target, walk(call.args), walk(call.kwargs))
