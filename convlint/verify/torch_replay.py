"""PyTorch's verdict on a PyTorch layer: the flagged module (or torch function) run alone, on the CPU, on small real
tensors at the witness sizes. A PyTorch model is judged by PyTorch; onnxruntime's verdict on the layer's export is
kept beside it as a second statement and never overrules it.

A node that stands for a PyTorch call carries it (``node.torch_call``, a :class:`~convlint.core.ir.TorchCall`: the module
or function called, and the call's arguments with each tensor as its Value and each symbolic size as its dim). The
replay:

- copies that module alone, never the model: a new object of the module's class with the module's attributes, and
  for each of its own parameters and buffers (and its children's: MultiheadAttention's ``out_proj``) a new CPU
  tensor of the same shape and dtype, of seeded random values. The user's module is never run nor written and its
  tensors are never read (they may live on the meta device or a GPU); hooks are left out and ``forward`` is called
  directly. A module whose tensors hold more than ``MAX_ELEMENTS`` elements is not copied (``unverifiable``).
- feeds each tensor argument a CPU tensor of its Value's shape at the witness sizes: the contents the analysis
  knows (a shape, an index), else uniform floats in [0, 1), and zeros for integers and booleans (valid as indices
  and masks alike). Symbolic sizes among the arguments (``x.view(N, -1)``) take their witness values, devices
  become the CPU. An unbatched input is fed unbatched, as the model feeds it (the node describes it with a leading
  1), and a Linear is run as itself, not as the ``Gemm``/``MatMul`` it is described as.
- takes the witness sizes from :func:`.witness.choose`, each symbol from 2 up where it can be: with a batch of one,
  BatchNorm in training mode refuses any input ("Expected more than 1 value per channel when training"), which is
  not the fault found.
- leaves PyTorch's random state and grad mode as they were, and lets no warning or print through.

The verdict (:func:`judge`): PyTorch refuses the call: ``confirmed``, with PyTorch's first line and the input it
ran on. PyTorch runs it: ``not reproduced`` and lowered to a warning, unless PyTorch refused the same call while
tracing (the trace's refusal stands: ``unverifiable``, never lowered), the finding is about the module's
declaration or about how the graph connects (running the layer alone cannot show those: ``unverifiable``). No
replay possible: ``unverifiable`` with the reason; the finding keeps its severity.
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from typing import NamedTuple, Optional

import numpy as np
import sympy
import torch
from torch import nn

from convlint.core import dims
from convlint.core.ir import Value
from convlint.core.words import first_line
from convlint.verify import witness as witness_mod
from convlint.verify.replay import MAX_ELEMENTS, Budget, _appearance, in_range
from convlint.verify.verdict import CONFIRMED, NOT_REPRODUCED, UNVERIFIABLE, Verification, Witness

RAN, REFUSED, CANNOT = "ran", "refused", "cannot"
PYTORCH = "PyTorch"
FLOOR = 2  # the smallest witness size tried for a symbol (see the module's docstring)


class Outcome(NamedTuple):
    status: str  # RAN, REFUSED (PyTorch raised), CANNOT (no replay: ``message`` says why)
    message: str = ""
    witness: Optional[Witness] = None
    seconds: float = 0.0


class _Cannot(Exception):
    """The call cannot be replayed in PyTorch; the message is the reason."""


def judge(finding, node, graph, upstream, cache: dict, export: Optional[Verification]) -> Verification:
    """The verdict on ``finding`` (an error on ``node``, which stands for a PyTorch call): PyTorch's, from the call
    replayed alone (shared by the findings on the same node through ``cache``), with ``export``, onnxruntime's
    verdict on the layer's export, beside it."""
    if id(node) not in cache:
        cache[id(node)] = run(node, graph, upstream)
    out = cache[id(node)]
    seconds = out.seconds + (export.seconds if export is not None else 0.0)

    built = isinstance(node.torch_call.target, type)  # a layer PyTorch refused to construct, constructed again
    shown = declaration(node.torch_call) if built else ""

    def verdict(status, message):
        return Verification(status, message, out.witness, seconds, replayed=shown, runtime=PYTORCH, export=export)

    if out.status == REFUSED:
        return verdict(CONFIRMED, out.message)
    if out.status == CANNOT:
        return verdict(UNVERIFIABLE, out.message)
    if built:
        return verdict(UNVERIFIABLE, f"PyTorch refused to construct this layer while the model was built "
                                     f"(\"{node.facts.refusal.message}\"), but constructs {shown}")
    on = out.witness.describe()
    refused = node.facts.refusal
    if refused is not None:
        return verdict(UNVERIFIABLE, f'PyTorch refused this call while tracing ("{refused.message}"), but runs it '
                                     f'alone on {on}, so the replay cannot decide')
    if finding.evidence.not_replayable:
        return verdict(UNVERIFIABLE, f"PyTorch runs this layer alone on {on}; the finding is about the module's "
                                     f"declaration, which running the layer does not show")
    if finding.order == 0 and not (finding.evidence.nodes or finding.evidence.undefined):
        return verdict(UNVERIFIABLE, f"PyTorch runs this layer alone on {on}; the fault lies in how the graph "
                                     f"connects it, which a replay of the layer alone cannot show")
    return verdict(NOT_REPRODUCED, "")


def declaration(call) -> str:
    """``Conv2d(in_channels=1, out_channels=4, kernel_size=(3, 3), groups=2)``: a construction, in words."""
    return f"{call.target.__name__}(" + ", ".join(f"{k}={v!r}" for k, v in _construction_arguments(call).items()) + ")"


def _construction_arguments(call) -> dict:
    """The declared attributes the class's constructor takes as they are."""
    kwargs = {k: v for k, v in call.kwargs.items() if not k.startswith("_")}  # private ones are no arguments
    if issubclass(call.target, nn.RNNBase) and call.target is not nn.RNNBase:
        kwargs.pop("mode", None)  # nn.LSTM, nn.GRU and nn.RNN give it themselves
        if kwargs.get("proj_size") == 0:
            kwargs.pop("proj_size")  # which only nn.LSTM takes
    return kwargs


def run(node, graph, upstream=None) -> Outcome:
    """Run ``node``'s PyTorch call alone on the CPU at the witness sizes; never raises."""
    if isinstance(node.torch_call.target, type):
        return construct(node)
    start = time.perf_counter()
    witness = None
    try:
        call = node.torch_call
        budget = Budget(_Cannot)
        values, witness, outputs = _sizes(node, graph, call, upstream)
        for shape in outputs:
            if shape is not None and all(type(d) is int and d >= 0 for d in shape):
                budget.spend(shape, "its output")
        target = call.target
        if isinstance(target, nn.Module):
            target = _copy(target, budget, torch.Generator().manual_seed(0))
        tensors = {}
        gen = torch.Generator().manual_seed(1)
        args = _rebuild(call.args, values, tensors, budget, gen)
        kwargs = _rebuild(call.kwargs, values, tensors, budget, gen)
    except _Cannot as e:
        return Outcome(CANNOT, str(e), witness, time.perf_counter() - start)
    except Exception as e:  # a bug of ours must not stop the lint
        return Outcome(CANNOT, f"the PyTorch replay could not be built ({type(e).__name__}: {first_line(e)}); this "
                               f"is a bug in convlint", witness, time.perf_counter() - start)
    try:
        with _isolated():
            if isinstance(target, nn.Module):
                type(target).forward(target, *args, **kwargs)  # no hooks: the module alone
            else:
                target(*args, **kwargs)
    except Exception as e:
        return Outcome(*_refusal(node, e), witness, time.perf_counter() - start)
    return Outcome(RAN, "", witness, time.perf_counter() - start)


def construct(node) -> Outcome:
    """Construct again, on the meta device, a layer PyTorch refused to construct, from its declared arguments
    (``node.torch_call``: the class and those arguments). The refusal counts only when it is the one the front end
    saw: the declared arguments are those the refusing constructor held, which its subclass may not take as they
    are (``nn.LSTM`` fixes ``mode`` itself)."""
    start = time.perf_counter()
    call = node.torch_call
    kwargs = _construction_arguments(call)
    try:
        with _isolated(), torch.device("meta"):
            call.target(*call.args, **kwargs)
    except Exception as e:
        said = f"{type(e).__name__}: {first_line(e)}"
        if node.facts.refusal is not None and said == node.facts.refusal.message:
            return Outcome(REFUSED, said, seconds=time.perf_counter() - start)
        return Outcome(CANNOT, f"constructing {call.target.__name__} again from its declared arguments raised "
                               f"{said}, not what constructing the layer raised", seconds=time.perf_counter() - start)
    return Outcome(RAN, seconds=time.perf_counter() - start)


def _refusal(node, e: Exception) -> tuple:
    """``(status, message)`` for an exception from the replayed call: PyTorch refusing it, or PyTorch unable to run
    it here at all (no CPU kernel for a dtype), which says nothing about the layer. A call the trace ran (or did not
    need to run) counts as refused only by the exceptions PyTorch's checks raise; any other (a TypeError, an
    AttributeError) is more likely convlint's replay than the model."""
    message = first_line(e)
    if isinstance(e, NotImplementedError) or "not implemented for" in message:
        return CANNOT, f"PyTorch cannot run this call on the CPU here ({type(e).__name__}: {message})"
    if node.facts.refusal is None and not isinstance(e, _CHECKS):
        return CANNOT, f"the PyTorch replay raised {type(e).__name__}: {message}, which the trace did not"
    return REFUSED, message


_CHECKS = (RuntimeError, ValueError, IndexError, AssertionError)  # TORCH_CHECK, _VALUE, _INDEX; Python asserts


@contextlib.contextmanager
def _isolated():
    """No gradients, PyTorch's random state restored afterwards, warnings and prints held back."""
    with torch.random.fork_rng(devices=[]), torch.no_grad(), warnings.catch_warnings(), \
            contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


# -- sizes ------------------------------------------------------------------------------------------------------

def _arguments(x, out: list, symbols: set) -> None:
    """The Values among a call's (described) arguments, in order, and the symbols of its symbolic sizes."""
    if isinstance(x, Value):
        if all(v is not x for v in out):
            out.append(x)
    elif isinstance(x, (tuple, list)):
        for y in x:
            _arguments(y, out, symbols)
    elif isinstance(x, dict):
        for y in x.values():
            _arguments(y, out, symbols)
    elif isinstance(x, slice):
        for y in (x.start, x.stop, x.step):
            _arguments(y, out, symbols)
    elif isinstance(x, sympy.Basic):
        symbols |= x.free_symbols


def _sizes(node, graph, call, upstream) -> tuple:
    """``(values, witness, outputs)``: the witness values of the symbols, the inputs fed and the node's output shapes
    at those values."""
    found, symbols = [], set()
    _arguments((call.args, call.kwargs), found, symbols)
    fed = [v for v in found if not v.is_param]
    shapes, fresh = {}, set()
    for v in fed + [v for v in node.inputs if v is not None and not v.is_param and v.data is None]:
        if v.shape is None:
            raise _Cannot(f"the rank of input {v.name!r} is unknown")
        shape = []
        for i, d in enumerate(v.shape):
            if d is None:
                d = dims.symbol(f"{v.name}[{i}]")
                fresh.add(d)
            shape.append(d)
        shapes[v] = tuple(shape)
    for v in found:
        if v.data is not None and v.data.dtype == object:
            symbols |= set(dims.symbols_of(*v.data.reshape(-1).tolist()))
    root = graph.root
    values, outputs = witness_mod.choose([node], shapes, symbols, dict(root.opset) or {"": 21}, root.ir_version,
                                         upstream, FLOOR)
    if values is None:
        raise _Cannot(f"no sizes of the model's symbols up to {witness_mod.MAX_SIZE} let an input reach this layer")
    concrete = {v: _concrete(v, shapes[v], values) for v in fed}
    inputs = {}
    for v in fed:
        inputs.setdefault(v.name, concrete[v])
    shown = {s.name: values[s] for s in _appearance({v: shapes[v] for v in fed}, values) if s not in fresh}
    return _Sizes(values, concrete), Witness(inputs, shown), outputs or []


class _Sizes(NamedTuple):
    values: dict  # symbol -> witness value
    shapes: dict  # Value fed -> its concrete shape


def _concrete(v, shape, values) -> tuple:
    out = tuple(witness_mod.evaluate(d, values) for d in shape)
    if any(d is None or d < 0 for d in out):
        raise _Cannot(f"no concrete shape for input {v.name!r} {dims.pretty_shape(v.shape)}")
    return out


# -- tensors ----------------------------------------------------------------------------------------------------

def _dtype(name: Optional[str]) -> torch.dtype:
    dtype = getattr(torch, name or "float32", None)
    if not isinstance(dtype, torch.dtype):
        raise _Cannot(f"convlint makes no PyTorch test data of element type {name}")
    return dtype


def _random(shape, dtype: torch.dtype, gen) -> torch.Tensor:
    if dtype.is_floating_point or dtype.is_complex:
        try:
            return torch.rand(shape, generator=gen, dtype=dtype)
        except (RuntimeError, TypeError):
            return torch.rand(shape, generator=gen).to(dtype)
    if dtype.is_quantized if hasattr(dtype, "is_quantized") else False:
        raise _Cannot(f"convlint makes no PyTorch test data of the quantized type {dtype}")
    return torch.zeros(shape, dtype=dtype)  # valid as indices, counts and masks alike


def _rebuild(x, values, tensors: dict, budget: Budget, gen):
    """The described arguments made real: each Value a CPU tensor (the same one wherever the Value recurs), each
    symbolic size its witness value, each device the CPU."""
    if isinstance(x, Value):
        if id(x) not in tensors:
            tensors[id(x)] = _tensor(x, values, budget, gen)
        return tensors[id(x)]
    if type(x) in (tuple, list):
        return type(x)(_rebuild(y, values, tensors, budget, gen) for y in x)
    if type(x) is dict:
        return {k: _rebuild(y, values, tensors, budget, gen) for k, y in x.items()}
    if type(x) is slice:
        return slice(*(_rebuild(y, values, tensors, budget, gen) for y in (x.start, x.stop, x.step)))
    if isinstance(x, sympy.Basic):
        d = witness_mod.evaluate(x, values.values)
        if d is None:
            raise _Cannot(f"no witness value for the size {dims.pretty(x)} the call takes")
        return d
    if isinstance(x, torch.device):
        return torch.device("cpu")
    if isinstance(x, (torch.Tensor, torch.SymInt, torch.SymFloat, torch.SymBool)) or _holds_tensors(x):
        raise _Cannot(f"the call takes a {type(x).__name__} that convlint cannot make for a replay")
    return x


def _holds_tensors(x) -> bool:
    fields = getattr(x, "_fields", None)  # a named tuple (a PackedSequence)
    return fields is not None and any(isinstance(getattr(x, f), torch.Tensor) for f in fields)


def _tensor(v: Value, values, budget: Budget, gen) -> torch.Tensor:
    data = v.data
    if data is not None:
        if data.dtype == object:
            flat = [witness_mod.evaluate(d, values.values) for d in data.reshape(-1).tolist()]
            if any(d is None for d in flat):
                raise _Cannot(f"the contents of {v.name!r} are not known")
            data = np.array(flat, dtype=np.dtype(v.dtype or "int64")).reshape(data.shape)
        budget.spend(data.shape, f"input {v.name!r}")
        return torch.from_numpy(np.array(data, copy=True))
    shape = values.shapes.get(v) or _concrete(v, v.shape or (None,), values.values)
    budget.spend(shape, f"tensor {v.name!r}" if v.is_param else f"input {v.name!r}")
    t = _random(shape, _dtype(v.dtype), gen)
    if v.range is not None and not t.is_floating_point():  # the indices the model computes (torch.arange(T))
        t = torch.from_numpy(np.ascontiguousarray(in_range(t.numpy(), v.range, values.values)))
    return t


# -- the module -------------------------------------------------------------------------------------------------

def _own(module) -> list:
    """(store, key, tensor) for the module's own parameters, buffers and tensor attributes."""
    out = [(module._parameters, k, t) for k, t in module._parameters.items()]
    out += [(module._buffers, k, t) for k, t in module._buffers.items()]
    out += [(None, k, t) for k, t in module.__dict__.items() if isinstance(t, torch.Tensor)]
    return out


def _count(module, seen=None) -> int:
    seen = set() if seen is None else seen
    if id(module) in seen:
        return 0
    seen.add(id(module))
    n = 0
    for _, key, t in _own(module):
        if t is None:
            continue
        try:
            from torch.nn.parameter import is_lazy
            lazy = is_lazy(t)
        except ImportError:
            lazy = False
        if lazy:
            raise _Cannot(f"the module's {key!r} is not initialized yet (a lazy module)")
        if t.layout is not torch.strided or t.is_quantized or t.is_nested:
            raise _Cannot(f"the module's {key!r} is a {t.layout} tensor, which convlint does not copy")
        n += t.numel()
    return n + sum(_count(child, seen) for child in module._modules.values() if child is not None)


def _copy(module, budget: Budget, gen, memo=None):
    """A CPU copy of ``module`` alone (and its children): same class and attributes, fresh tensors of the same
    shapes and dtypes, no hooks. The module itself is only read."""
    if memo is None:
        n = _count(module)
        if n > budget.left:
            raise _Cannot(f"the module holds {n} parameter and buffer elements; convlint replays layers of up to "
                          f"{MAX_ELEMENTS} elements")
        budget.left -= n
        memo = {}
    if id(module) in memo:
        return memo[id(module)]
    cls = type(module)
    twin = cls.__new__(cls)
    memo[id(module)] = twin
    state = dict(module.__dict__)
    for key, v in state.items():
        if "hooks" in key and isinstance(v, dict):
            state[key] = type(v)()
        elif isinstance(v, set):
            state[key] = set(v)
    tensors = memo.setdefault("tensors", {})

    def fresh(t):
        if t is None:
            return None
        if id(t) not in tensors:
            new = _random(tuple(int(d) for d in t.shape), t.dtype, gen)
            tensors[id(t)] = nn.Parameter(new, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) \
                else new
        return tensors[id(t)]

    state["_parameters"] = {k: fresh(t) for k, t in module._parameters.items()}
    state["_buffers"] = {k: fresh(t) for k, t in module._buffers.items()}
    state["_modules"] = {k: None if c is None else _copy(c, budget, gen, memo) for k, c in module._modules.items()}
    for key, v in module.__dict__.items():
        if isinstance(v, torch.Tensor):
            state[key] = fresh(v)
    object.__setattr__(twin, "__dict__", state)
    if isinstance(twin, nn.RNNBase):
        twin._init_flat_weights()  # its forward reads the weights through this list
    return twin
