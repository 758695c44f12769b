"""Tracing with recovery: follow a module's forward pass on fake tensors and record it as a Graph.

The forward runs under torch's ``FakeTensorMode`` with a ``ShapeEnv``, so sizes the user named (``N``, ``H``) stay
symbolic and no weight is read or allocated. Two interceptors record what happens, with the call site in the user's
code and the module path:

- ``nn.Module.__call__`` is patched for the duration: a module convlint knows (:mod:`.torch_modules`) becomes one
  node with ONNX semantics (``Conv``, ``Gemm``, ``BatchNormalization``...), its parameters as inputs and its declared
  attributes in ``node.declared``; any other module is stepped into.
- a ``TorchFunctionMode`` records tensor operations (``torch.cat``, ``x.view``, ``+``, ``F.conv2d``...) as nodes.

Recovery: when PyTorch refuses a call (a layer whose input does not fit its weight), the refusal is recorded on the
node (``node.facts.refusal``), the output shape the weight implies comes from convlint's shape functions, a
fake tensor of that shape is handed back, and the forward goes on: every fault comes out in one run, and the rules
judge. A call convlint cannot step over, or code that needs tensor values, stops the trace; what stopped it goes in
``graph.trace.stop``. Where torch fixes one of the user's symbols to its example value (a size computed in
floating point), ``graph.trace.specialized`` says where, so a note can say that later sizes hold for that
value only. The model is left as it was: parameters and buffers are swapped for fakes during the
trace and every module's state is restored afterwards.

With inputs of fixed sizes the forward is first followed on plain meta tensors, outside FakeTensorMode, whose
dispatch costs about as much again as the meta kernels themselves (``on_meta``). That pass recovers from nothing: at
the first refusal, stop or tensor made off the meta device it raises :class:`Doubt`, and the fake trace runs instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import sys
import warnings
from collections import Counter

import sympy
import torch
import torch._refs
from torch import nn
from torch.overrides import TorchFunctionMode

from convlint.core.ir import (Branch, Node, NodeFacts, Origin, Refusal, SizeRequirement, Specialized, Stop, TorchCall,
                              Value)
from convlint.core.words import display_path, first_line
from convlint.shapes import SHAPE_FUNCTIONS
from convlint.shapes.propagate import Propagation
from convlint.frontends import torch_modules, torch_ops, torch_values
from convlint.frontends.torch_reuse import BlockReuse
from convlint.frontends.torch_sources import (CONVLINT_DIR, code_at, decides, guard_clause, guard_site,
                                               innermost_user_frame, is_limitation, is_user_file, raised_by_torch_nn,
                                               user_frame)
from convlint.frontends.torch_symbolic import SYMBOLIC_IMPL, known_contiguous

_ORIGINAL_CALL = nn.Module.__call__
_ACTIVE = []  # the tracer whose trace is running (a stack, for safety)


_ASSERTS = frozenset({"_assert", "_check", "_check_with", "_check_value", "_check_index", "_check_type"})
_NEEDS_DATA = frozenset({"item", "tolist", "numpy", "__bool__", "__int__", "__float__", "__index__", "__array__",
                         "nonzero", "unique", "masked_select", "argwhere", "bincount", "repeat_interleave"})


class TraceStop(BaseException):
    """Ends a trace early, at ``stop``. A BaseException, so that a model's ``except Exception`` cannot swallow it."""

    def __init__(self, stop: Stop):
        super().__init__(stop.reason)
        self.stop = stop


class Doubt(BaseException):
    """Ends a trace on plain meta tensors at the first thing it cannot vouch for (PyTorch refusing a call, a stop, a
    tensor off the meta device), so that the trace is done again on fake tensors."""


def _tensors(obj, out=None, depth=0):
    """Every tensor in a (possibly nested) output, in order."""
    if out is None:
        out = []
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif depth < 4 and isinstance(obj, (tuple, list)):
        for x in obj:
            _tensors(x, out, depth + 1)
    elif depth < 4 and isinstance(obj, dict):
        for x in obj.values():
            _tensors(x, out, depth + 1)
    return out


def _dtype_name(t) -> str:
    return str(t.dtype).replace("torch.", "")


def op_name(func) -> str:
    name = getattr(func, "__name__", None)
    if name == "__get__":
        owner = getattr(func, "__self__", None)
        name = getattr(owner, "__name__", name)
    return name or type(func).__name__


class _Recorder(TorchFunctionMode):
    def __init__(self, tracer):
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        t = self.tracer
        if t.busy:
            return func(*args, **kwargs)
        return t.call_op(func, args, kwargs)


@contextlib.contextmanager
def _quiet_torch():
    """Silence what torch and the model log or warn while convlint traces it: refusals become findings instead."""
    loggers = [logging.getLogger(n) for n in ("torch._subclasses.fake_tensor", "torch.fx.experimental.symbolic_shapes",
                                              "torch._dynamo")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _patched_call(module, *args, **kwargs):
    if not _ACTIVE or _ACTIVE[-1].busy:
        return _ORIGINAL_CALL(module, *args, **kwargs)
    return _ACTIVE[-1].call_module(module, args, kwargs)


class Tracer:
    """One trace of one model into ``graph``."""

    def __init__(self, model, graph, table, mode, params: dict, sites, device, on_meta=False, root_name="<root>",
                 no_assume=frozenset()):
        self.model = model
        self.on_meta = on_meta  # plain meta tensors, no FakeTensorMode: any doubt raises Doubt
        self.doubt = None  # why the meta pass gave up (kept, should the model swallow the Doubt)
        self.graph = graph
        self.root_name = root_name  # what the user calls the model itself, for a layer that is the whole model
        self.no_assume = no_assume  # (file, line) of raises not to read as size requirements: tried, and wrong
        self.table = table
        self.mode = mode
        self.params = params  # id(fake parameter or buffer) -> Value
        self.sites = sites  # module -> (file, line) where it was constructed
        self.device = device
        self.paths = {}
        for path, m in model.named_modules(remove_duplicate=True):
            self.paths.setdefault(id(m), path)
        self.values = {}  # id(tensor) -> (tensor, Value)
        self.names = Counter()
        self.stack = []  # module paths being called, outermost first
        self.busy = 0
        self.calls = Counter()  # id(module) -> leaf calls recorded
        self.failed_in = None  # the innermost module an exception passed through
        self.base_frame = None  # the frame that runs the trace: call sites are looked for inside it only
        self.specialized = graph.trace.specialized  # symbol name -> where torch fixed it
        self.shapes = Propagation(graph)  # the context of the shape functions that compute a refused call's output
        self._call_guards = 0  # how many guards torch had taken when the call being recorded began
        self._replacements = self._guards = 0
        self.reuse = BlockReuse(self, model)  # copies the trace of a block for the blocks like it

    # -- running --------------------------------------------------------------------------------------------------

    def run(self, args, kwargs):
        """Run the forward; returns None, or the Stop saying where and why the trace stopped."""
        nn.Module.__call__ = _patched_call
        _ACTIVE.append(self)
        self.base_frame = sys._getframe()
        if hasattr(type(self.table.env), "guard_site"):
            self.table.env.guard_site = guard_site
        try:
            with _quiet_torch(), _Recorder(self), torch.no_grad():
                out = self.model(*args, **kwargs)
            if self.doubt is not None:
                raise Doubt(self.doubt)
            self.graph.outputs = [self.value_of(x) for x in _tensors(out)]
            self._asserts_passed(None)
            return None
        except TraceStop as s:
            if self.on_meta:
                self.give_up(s.stop.reason, s)
            self._asserts_passed((s.stop.file, s.stop.line))
            return s.stop
        except Exception as e:
            if self.on_meta:
                self.give_up(first_line(e), e)
            file, line, code, raised_here = self._raise_site(e)
            self._asserts_passed((file, line))
            if raised_here and not is_limitation(e):
                required = self._size_requirement(e, {"module": self.failed_in, "file": file, "line": line}, code)
                if required is not None:
                    return required
            return self._stopped_by(e)
        finally:
            _ACTIVE.pop()
            nn.Module.__call__ = _ORIGINAL_CALL

    @staticmethod
    def _raise_site(e: BaseException) -> tuple:
        """(file, line, code) of the innermost user frame ``e`` passed through, and whether it was raised there."""
        file = line = code = None
        innermost = False
        tb = e.__traceback__
        while tb is not None:
            innermost = is_user_file(tb.tb_frame.f_code.co_filename)
            if innermost:
                file, line = display_path(tb.tb_frame.f_code.co_filename), tb.tb_lineno
                code = code_at(tb.tb_frame.f_code.co_filename, tb.tb_lineno)
            tb = tb.tb_next
        return file, line, code, innermost

    def _size_requirement(self, e: BaseException, where: dict, code: str):
        """When the model's own code raised ``e`` (``assert H == 224``, ``torch._assert``, ``if W % 16: raise``)
        right after torch compared the user's sizes, since the last recorded call, a stop of kind ``assumed`` with
        the comparison that lets it pass, in the user's names (``Eq(H, 224)``); None when the raise does not follow
        from such a comparison."""
        guards = self.table.env.guards
        if self.on_meta or len(guards) <= self._guards or not decides(guards[-1], where, code):
            return None
        return self._requirement(guards[-1], e, dict(where, node=None), code)

    def _requirement(self, guard, e: BaseException, where: dict, code: str, by=None):
        """A stop of kind ``assumed``: ``guard`` (the comparison torch decided before the raise ``e``) negated, in
        the user's names, as the requirement that lets the call pass; None for a raise not to be read so (tried
        before and disproved) or a comparison in sizes nobody named."""
        if (where.get("file"), where.get("line")) in self.no_assume:
            return None
        required = self.table.condition(sympy.Not(guard.expr))
        if required is None or required is sympy.false:
            return None
        message = self.table.rename(first_line(e)) if str(e).strip() else None
        file, line, module = where.get("file"), where.get("line"), where.get("module")
        return Stop("assumed", f"{'`' + code + '` ' if code else 'the forward pass '}raised {type(e).__name__}"
                               f"{': ' + message if message else ''}",
                    where.get("node"), module, file, line,
                    requirement=SizeRequirement(required, code or "", message, file, line, module, by))

    def _asserts_passed(self, stopped_at) -> None:
        """The Python ``assert`` statements on the user's sizes that passed for the example sizes (all but one at
        ``stopped_at``, the (file, line) where the trace stopped): what each compared is a requirement of the model's
        (``assert H % 32 == 0``), kept with the ``torch._assert`` ones. (A passing assert leaves only its guard
        behind; the statement at the guard's site says it was one.)"""
        if self.on_meta:
            return
        by_site = {}
        for g in self.table.env.guards:
            site = getattr(g.sloc, "maybe_user_loc", None)
            if type(site) is tuple and (site[0], site[2]) != stopped_at:
                by_site.setdefault(site, []).append(g)
        for (file, _, line), guards in by_site.items():
            code = code_at(file, line)
            if code.startswith("assert ") or code.startswith("assert("):
                self._check_passed(guards, (file, line))
            elif guard_clause(file, line):
                self._check_passed(guards, (file, line))
            elif code.startswith(("if ", "if(", "elif ", "while ")):
                self._branch_followed(guards, file, line, code)

    def _branch_followed(self, guards, file, line, code) -> None:
        """A branch of the user's code decided on the user's sizes (``if pad_h:``): the way the trace went holds
        for the sizes that meet the comparison, kept in ``graph.trace.branches``, so that a condition found
        after it can be stated for the sizes that go the other way too (:mod:`convlint.checking.branches`)."""
        parts = [self.table.condition(g.expr) for g in guards]
        if parts and all(p is not None for p in parts):
            self.graph.trace.branches.append(Branch(sympy.And(*parts), file, line, code))

    def _check_passed(self, guards, site=None) -> None:
        """A ``torch._assert``/``torch._check`` that passed for the example sizes by comparing the user's sizes: what
        it compared is a requirement of the model's too (``W % 16 == 0``), kept in ``graph.trace.checks``."""
        parts = [self.table.condition(g.expr) for g in guards]
        if not parts or any(p is None for p in parts):
            return
        file, line = site or user_frame(sys._getframe(2), self.base_frame)
        self.graph.trace.checks.append(SizeRequirement(sympy.And(*parts), code_at(file, line) if file else "",
                                                       file=file, line=line,
                                                       module=self.stack[-1] if self.stack else None))

    def _stopped_by(self, e: BaseException) -> Stop:
        file, line, code, _ = self._raise_site(e)
        if is_limitation(e):
            reason = (f"{'`' + code + '` ' if code else 'the forward pass '}needs the values of a tensor, which a "
                      f"shape-only trace does not have ({type(e).__name__})")
            kind = "limit"
        else:
            reason = f"{'`' + code + '` ' if code else 'the forward pass '}raised {type(e).__name__}: " \
                     f"{self.table.rename(first_line(e))}"
            kind = "raised"
        return Stop(kind, reason, module=self.failed_in, file=file, line=line)

    def give_up(self, reason: str, cause=None):
        """End the meta pass: raise Doubt (and remember why, should the model's code catch it)."""
        self.doubt = self.doubt or reason
        raise Doubt(reason) from cause

    @contextlib.contextmanager
    def quiet(self):
        self.busy += 1
        try:
            yield
        finally:
            self.busy -= 1

    # -- values ---------------------------------------------------------------------------------------------------

    def name(self, base: str) -> str:
        self.names[base] += 1
        n = self.names[base]
        name = base if n == 1 else f"{base}#{n}"
        if self.reuse.names_log is not None:
            self.reuse.names_log.append((base, name))
        return name

    def value_of(self, t) -> Value:
        hit = self.values.get(id(t))
        if hit is not None and hit[0] is t:
            return hit[1]
        v = self.params.get(id(t))
        if v is None:
            v = Value(self.name("tensor"), self.table.shape(t.shape), _dtype_name(t))
            self.graph.values[v.name] = v
        self.values[id(t)] = (t, v)
        return v

    def operand(self, x):
        """The Value for a call argument: a tensor's, or a constant for a Python number."""
        if x is None:
            return None
        if isinstance(x, torch.Tensor):
            return self.value_of(x)
        if isinstance(x, (int, float, bool, torch.SymInt, torch.SymFloat)):
            v = Value(self.name("scalar"), (), "float32" if isinstance(x, (float, torch.SymFloat)) else "int64")
            return v
        return None

    def described(self, x):
        """A call argument as verification replays it (:class:`~convlint.core.ir.TorchCall`): a tensor as its Value (one
        not seen before gets a Value of its own, not added to the graph), a symbolic size as its dim."""
        try:
            if isinstance(x, torch.Tensor):
                hit = self.values.get(id(x))
                v = hit[1] if hit is not None and hit[0] is x else self.params.get(id(x))
                return v if v is not None else Value("<argument>", self.table.shape(x.shape), _dtype_name(x))
            if isinstance(x, torch.Size):
                return tuple(self.table.dim(d) for d in x)
            return self.table.dim(x) if isinstance(x, torch.SymInt) else x
        except Exception:  # never the trace's concern: the replay says it cannot make this argument
            return Value("<argument>")

    def const_value(self, data, shape, dtype) -> Value:
        v = Value(self.name("shape"), shape, dtype)
        v.data = data
        return v

    def linear_node_parts(self, x, w, b):
        """A Linear layer as ONNX: ``Gemm(transB=1)`` on a 2-D input, else ``MatMul`` by the transposed weight."""
        if x is not None and x.shape is not None and len(x.shape) != 2 and w is not None and w.shape is not None \
                and len(w.shape) == 2:
            wt = Value(f"{w.name}.T", (w.shape[1], w.shape[0]), w.dtype, is_param=True)
            return "MatMul", {}, [x, wt]
        return "Gemm", {"transB": 1}, [x, w, b]

    def set_outputs(self, node, tensors) -> None:
        outs = []
        for i, t in enumerate(tensors):
            if self.on_meta and not t.is_meta:
                self.give_up(f"{node.name} made a tensor on {t.device}")
            base = node.name.strip("<>")  # "<root>" names the layer; a value so named would read as a placeholder
            v = Value(base if i == 0 else f"{base}:{i}", self.table.shape(t.shape), _dtype_name(t))
            v.producer = node
            self.values[id(t)] = (t, v)
            self.graph.values[v.name] = v
            outs.append(v)
        node.outputs = outs
        env = self.table.env
        if len(env.replacements) != self._replacements or len(env.guards) != self._guards:
            self._note_specialized(node, env.guards[self._guards:])
            self._replacements, self._guards = len(env.replacements), len(env.guards)

    def _note_specialized(self, node, guards) -> None:
        """Note the symbols of the user's that torch has just fixed to their example values (it computed a size
        in floating point, say): the sizes after this node hold for those values only."""
        fixed = set()
        for sym in self.table.user:
            value = self.table.env.replacements.get(sym)
            if value is not None and value.is_Integer:
                fixed.add(sym)
        for g in guards:
            expr = g.expr
            if type(expr).__name__ == "Equality" and expr.rhs.is_Integer and "Mod" not in str(expr.lhs):
                fixed |= expr.lhs.free_symbols & set(self.table.user)
        o = node.origin
        for sym in fixed:
            name = self.table.user[sym].name
            if name not in self.specialized:
                self.specialized[name] = Specialized(self.table.hint(name), node.name, o.module, o.file, o.line)

    def materialize(self, shape, dtype, device):
        sizes = [self.table.symint(d) for d in shape]
        with self.quiet():
            return torch.empty(sizes, dtype=dtype, device=device)

    # -- where a call comes from ----------------------------------------------------------------------------------

    def origin(self, module_path, module_class, caller=None, module=None, walk=True) -> Origin:
        """Where a module call comes from: its call site in the user's code, else where the module was built
        (a layer called by ``nn.Sequential``), else the innermost user frame."""
        file = line = None
        if caller is not None and is_user_file(caller.f_code.co_filename):
            file, line = display_path(caller.f_code.co_filename), caller.f_lineno
        elif module is not None and module in self.sites:
            file, line = self.sites[module]
        if file is None and walk:
            file, line = user_frame(caller, self.base_frame)
        return Origin("torch", file=file or self.graph.file, line=line, module=module_path or None,
                      module_class=module_class)

    def _caller_of_call(self):
        """The frame in the forward pass that called a module (skipping convlint's and torch's module-call
        machinery); None for the model itself, which convlint calls."""
        f = sys._getframe(2)
        while f is not None and f is not self.base_frame and (
                f.f_code.co_filename.startswith(CONVLINT_DIR)
                or f.f_code.co_filename.endswith(os.path.join("nn", "modules", "module.py"))):
            f = f.f_back
        return None if f is self.base_frame else f

    # -- module calls ---------------------------------------------------------------------------------------------

    def call_module(self, module, args, kwargs):
        path = self.paths.get(id(module))
        if path is None:
            path = f"{self.stack[-1] + '.' if self.stack and self.stack[-1] else ''}<{type(module).__name__}>"
        kind = torch_modules.leaf_kind(module)
        if kind is None:
            return self.reuse.call(module, path, args, kwargs, lambda: self._step_into(module, path, args, kwargs))
        return self.leaf(module, kind, path, args, kwargs)

    def _step_into(self, module, path, args, kwargs):
        """Trace the forward of a module convlint does not describe as one node."""
        self.stack.append(path)
        try:
            return _ORIGINAL_CALL(module, *args, **kwargs)
        except Exception as e:
            if self.failed_in is None:
                self.failed_in = path
                if not self.on_meta and raised_by_torch_nn(e) and not is_limitation(e):
                    self._refused_module(module, path, args, kwargs, e)
            raise
        finally:
            self.stack.pop()

    def _refused_module(self, module, path, args, kwargs, e):
        """A torch.nn module convlint steps into (``nn.Transformer``) whose own Python code refused the call ("the
        feature number of src and tgt must be equal to d_model"): a node for the call carries the refusal, and the
        trace stops there, since what the module would return is unknown."""
        cls = type(module).__name__
        data = [self.value_of(a) for a in args if isinstance(a, torch.Tensor)]
        node = Node(f"torch.{cls}", self.name(path or self.root_name), data, [],
                    {}, origin=self.origin(path, cls, self._caller_of_call(), module))
        node.torch_call = TorchCall.of(module, args, kwargs, self.described)
        self.graph.nodes.append(node)
        self._check_requirement(node, e, self._call_guards)
        self._note_refusal(node, e)
        raise TraceStop(Stop("refused", f"PyTorch refused {cls}: {node.facts.refusal.message}", **self._where(node)))

    def module_node(self, module, kind, path, data, caller=None, walk=True, repeat=False) -> Node:
        """The node for one call of ``module`` (``data``: the Values of its tensor inputs; Nones when not called;
        ``repeat``: not its first call)."""
        own = torch_modules.own_tensors(module)
        params = {}
        for pname, t in own.items():
            if t is not None:
                params[pname] = self.params.get(id(t)) or Value(f"{path}.{pname}" if path else pname,
                                                               torch_modules.param_shape(t), _dtype_name(t),
                                                               is_param=True)
        inputs = [params.get(p) for p in kind.params]
        op, attrs = kind.op, kind.attrs(module) if kind.attrs else {}
        if kind.op == "Gemm":
            op, attrs, inputs = self.linear_node_parts(data[0] if data else None, params.get("weight"),
                                                       params.get("bias"))
            data = []
        elif kind.weight_first:
            inputs = inputs + list(data[:1])
            data = []
        elif kind.outputs is torch_modules.rnn_outputs:
            inputs = torch_modules.rnn_weights(module, params,
                                               lambda name, shape, dtype: Value(name, shape, dtype, is_param=True))
        name = self.name(path or self.root_name)
        node = Node(op, name, list(data) + inputs, [], attrs,
                    origin=self.origin(path, type(module).__name__, caller, module, walk),
                    declared=torch_modules.declared(module, kind))
        node.facts = NodeFacts(params=params, repeat_call=repeat)
        return node

    def leaf(self, module, kind, path, args, kwargs):
        caller = self._caller_of_call()
        tensors = [a for a in args if isinstance(a, torch.Tensor)][:kind.data_inputs]
        data = [self.value_of(a) for a in tensors]
        unbatched = False
        if kind.spatial and data and data[0].shape is not None and len(data[0].shape) == kind.spatial + 1:
            unbatched = True  # (C, H, W) into a 2-D layer: described as a batch of one
            v = data[0]
            data[0] = Value(v.name, (1,) + tuple(v.shape), v.dtype)
        self.calls[id(module)] += 1
        node = self.module_node(module, kind, path, data, caller, repeat=self.calls[id(module)] > 1)
        node.torch_call = TorchCall.of(module, args, kwargs, self.described)
        self.graph.nodes.append(node)
        self._call_guards = len(self.table.env.guards)
        refusal = kind.refuses(module, args) if kind.refuses else None
        if refusal is not None:
            return self._recover_module(node, module, kind, tensors, kwargs, unbatched, RuntimeError(refusal))
        if self._surely_fits(module, kind, node, args, kwargs):
            return self._outputs_from_shapes(node, module, kind, tensors, kwargs, unbatched)
        try:
            with self.quiet(), kind.kernels(module) if kind.kernels else contextlib.nullcontext():
                out = _ORIGINAL_CALL(module, *args, **kwargs)
        except TraceStop:
            raise
        except Exception as e:
            self._check_requirement(node, e, self._call_guards)
            return self._recover_module(node, module, kind, tensors, kwargs, unbatched, e)
        self.set_outputs(node, _tensors(out))
        return out

    @staticmethod
    def _surely_fits(module, kind, node, args, kwargs) -> bool:
        """Whether PyTorch surely accepts this call, so that its output can be computed instead of run: the layer's
        fit holds for every value of the dims, and its one input is of its parameters' dtype and contiguous (known
        without a guard; a Linear takes any strides). In any doubt PyTorch runs, and its refusals (a dtype mismatch,
        say) are kept."""
        if kind.fits is None or kwargs or len(args) != 1 or not isinstance(args[0], torch.Tensor):
            return False
        x = node.inputs[0]
        params = {n: p for n, p in node.facts.params.items() if n in kind.params}
        if x is None or x.shape is None or any(p.shape is None or p.dtype != x.dtype for p in params.values()):
            return False
        return kind.fits(module, tuple(x.shape), {n: p.shape for n, p in params.items()}) \
            and (kind.any_strides or known_contiguous(args[0]))

    def _check_requirement(self, node, e, guards: int) -> None:
        """When torch.nn's own Python code refused the call right after comparing the user's sizes (an LSTM's
        ``check_hidden_size``: "Expected hidden[0] size (1, N, 32), got [1, 8, 32]"), stop with the comparison
        that lets it pass (``N == 8``) as a requirement, so that the trace is done again on sizes that meet it;
        ``guards``: how many guards torch had taken when the call began."""
        new = self.table.env.guards[guards:]
        if self.on_meta or not new or not raised_by_torch_nn(e) or is_limitation(e):
            return
        where = self._where(node)
        code = code_at(where["file"], where["line"]) if where["file"] and where["line"] else ""
        required = self._requirement(new[-1], e, where, code, by="PyTorch")
        if required is not None:
            raise TraceStop(required)

    def _recover_module(self, node, module, kind, tensors, kwargs, unbatched, e):
        if self.on_meta:
            self.give_up(first_line(e), e)
        where = self._where(node)
        if is_limitation(e):
            raise TraceStop(Stop("limit", f"the module needs tensor values ({type(e).__name__}: "
                                          f"{self.table.rename(first_line(e))})", **where))
        self._note_refusal(node, e)
        return self._outputs_from_shapes(node, module, kind, tensors, kwargs, unbatched)

    def _outputs_from_shapes(self, node, module, kind, tensors, kwargs, unbatched):
        """The module's outputs as convlint's shape functions give them, as fake tensors for the forward to go on."""
        where = self._where(node)
        if kind.outputs is not None:
            shapes = kind.outputs(module, [v.shape for v in node.inputs[:kind.data_inputs]], kwargs)
        else:
            shapes = self._shape_fn(node)
        if shapes is None or any(s is None for s in shapes):
            raise TraceStop(Stop("refused" if node.facts.refusal is not None else "limit",
                                 "convlint cannot work out this layer's output size from what reaches it", **where))
        if unbatched:
            shapes = [s[1:] for s in shapes]
        x = tensors[0] if tensors else None
        dtype = x.dtype if x is not None and x.is_floating_point() else torch.get_default_dtype()
        device = x.device if x is not None else self.device
        outs = [self.materialize(s, dtype, device) for s in shapes]
        self.set_outputs(node, outs)
        return kind.pack(module, outs, kwargs) if kind.pack else outs[0]

    def _shape_fn(self, node):
        fn = SHAPE_FUNCTIONS.get(node.op)
        if fn is None:
            return None
        try:
            return [o.shape for o in fn(node, self.shapes)][:max(len(node.outputs), 1)]
        except Exception:
            return None

    def _sizes_decided(self, message: str) -> list:
        """The user's symbols a refusal depends on, as far as torch shows it: those it compared on their example
        values during the call, else those the message names that any earlier comparison took a decision on (torch
        then decides the same question from that decision, without a new guard). A refusal that depends on none
        holds for every size (``(4, N, 20) != (2, N, 20)`` for every ``N``)."""
        guards = self.table.env.guards
        names = set()
        for g in guards[self._call_guards:]:
            names |= {self.table.user[s].name for s in g.expr.free_symbols if s in self.table.user}
        if names:
            return sorted(names)
        named = {name for name in (d.name for d in self.table.user.values())
                 if re.search(rf"\b{re.escape(name)}\b", message)}
        if not named:
            return []
        earlier = set()
        for g in guards[:self._call_guards]:
            earlier |= {self.table.user[s].name for s in g.expr.free_symbols if s in self.table.user}
        earlier |= {self.table.user[s].name for s in self.table.env.replacements if s in self.table.user}
        return sorted(named & earlier)

    def _note_refusal(self, node, e, every_size: bool = False) -> None:
        """Record PyTorch's refusal. It proves nothing when an input's size is unknown (one convlint made up), and
        holds only for the example sizes torch tried when torch compared the user's sizes to decide it: those go
        with it (unless ``every_size``: the call's arguments alone make PyTorch refuse it)."""
        data = [v for v in node.inputs if v is not None and not v.is_param]
        unknown = any(v.shape is None or None in v.shape for v in data)
        message = self.table.rename(first_line(e))
        decided = [] if every_size else self._sizes_decided(message)
        node.facts = dataclasses.replace(node.facts, refusal=Refusal(
            message, certain=not unknown, sizes={name: self.table.hint(name) for name in decided}))

    def _where(self, node) -> dict:
        o = node.origin
        return {"node": node.name, "module": o.module if o else None, "file": o.file if o else None,
                "line": o.line if o else None}

    # -- tensor operations ----------------------------------------------------------------------------------------

    def call_op(self, func, args, kwargs):
        name = op_name(func)
        self._call_guards = len(self.table.env.guards)
        shape_only = torch_ops.SHAPE_ONLY.get(name)
        if shape_only is not None and args and isinstance(args[0], torch.Tensor):
            try:
                shape = shape_only[1](self, args, kwargs)
            except Exception as e:  # a refusal PyTorch's CPU kernel makes and its meta kernel does not
                return self._recover_op(name, args, kwargs, e, func)
            if shape is not None:
                return self._shape_only(name, shape_only[0], shape, args, kwargs, func)
        try:
            with self.quiet():
                out = SYMBOLIC_IMPL.get(func, func)(*args, **kwargs)
        except TraceStop:
            raise
        except Exception as e:
            return self._recover_op(name, args, kwargs, e, func)
        if name in _ASSERTS and not self.on_meta and len(self.table.env.guards) > self._call_guards:
            self._check_passed(self.table.env.guards[self._call_guards:])
        outs = _tensors(out) if not isinstance(out, torch.Tensor) else [out]
        if outs:
            node = self._op_node(name, args, kwargs, func)
            self.set_outputs(node, outs)
            torch_values.record(self, name, args, kwargs, node)
        return out

    def _op_node(self, name, args, kwargs, func=None) -> Node:
        scope = self.stack[-1] if self.stack else ""
        built = None
        builder = torch_ops.BUILDERS.get(name)
        if builder is not None:
            try:
                built = builder(self, args, kwargs)
            except Exception:
                built = None
        if built is None:
            built = (f"torch.{name}", {}, [self.value_of(x) for x in _tensors(list(args) + list(kwargs.values()))])
        op, attrs, inputs = built
        node = Node(op, self.name(f"{scope}.{name}" if scope else name), inputs, [], attrs,
                    origin=self._op_origin(scope))
        node.torch_call = TorchCall.of(func, args, kwargs, self.described) if func is not None else None
        self.graph.nodes.append(node)
        return node

    def _op_origin(self, scope) -> Origin:
        file, line = user_frame(sys._getframe(2), self.base_frame)
        return Origin("torch", file=file or self.graph.file, line=line, module=scope or None)

    def _recover_op(self, name, args, kwargs, e, func=None):
        if self.on_meta:
            self.give_up(first_line(e), e)
        if name in _ASSERTS:
            file, line = user_frame(sys._getframe(1), self.base_frame)
            where = {"module": self.stack[-1] if self.stack else None, "file": file, "line": line}
            required = self._size_requirement(e, where, code_at(file, line) if file else "")
            if required is not None:
                raise TraceStop(required)
        if name in _NEEDS_DATA or is_limitation(e):
            f = innermost_user_frame(sys._getframe(1), self.base_frame)
            file, line = (display_path(f.f_code.co_filename), f.f_lineno) if f is not None else (None, None)
            code = code_at(f.f_code.co_filename, f.f_lineno) if f is not None else ""
            raise TraceStop(Stop("limit", f"{'`' + code + '` ' if code else ''}needs the values of a tensor ({name}), "
                                          f"which a shape-only trace does not have",
                                 module=self.stack[-1] if self.stack else None, file=file, line=line))
        node = self._op_node(name, args, kwargs, func)
        self._note_refusal(node, e, torch_ops.refused_for_every_size(name, args, kwargs))
        shapes = self._shape_fn(node) if not node.op.startswith("torch.") else None
        where = self._where(node)
        if not shapes or shapes[0] is None:
            node.outputs = [Value(node.name)]
            raise TraceStop(Stop("refused", f"PyTorch refused {name}() and convlint cannot work out its output",
                                 **where))
        x = next((a for a in _tensors(list(args)) if a is not None), None)
        dtype = x.dtype if x is not None else torch.get_default_dtype()
        out = self.materialize(shapes[0], dtype, x.device if x is not None else self.device)
        self.set_outputs(node, [out])
        return out

    def _shape_only(self, name, op, shape, args, kwargs, func=None):
        out = self.materialize(shape, args[0].dtype, args[0].device)
        node = self._op_node(name, args, kwargs, func)
        if op is not None:
            node.op = op
        self.set_outputs(node, [out])
        return out
