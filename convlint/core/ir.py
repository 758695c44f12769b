"""The graph that both front ends build and every rule reads.

Nodes carry ONNX semantics: ``op`` is an ONNX operator type, ``inputs`` follow the operator's input order and
``attrs`` its attributes, so a rule for ``Conv`` is written once for ONNX models and PyTorch modules alike. What a
front end knows beyond that (the PyTorch module's declared ``in_channels``, its class and source line) goes in
``declared`` and ``origin``, and the rest of what a PyTorch front end saw (a module's actual parameters, PyTorch's
refusal of a call) in typed records: :class:`NodeFacts` on a node, :class:`Trace` on the graph.

Shapes are tuples of dims (see :mod:`convlint.core.dims`), or None when even the rank is unknown. ``Value.data`` holds
the contents of small shape-level tensors (the output of ``Shape``, a ``Constant`` of indices) as a numpy array,
of dtype object when it contains symbols; weights are never read to fill it. ``Value.range`` holds what a front end
knows of an integer tensor's values without holding them (:class:`IndexRange`: ``torch.arange(T)``, a position
buffer sliced to the input's length), for the rules about indices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

STANDARD_DOMAINS = ("", "ai.onnx")  # the operator domains whose semantics the IR speaks


def text(raw: bytes) -> str:
    """A name as text. protobuf hands over a string field that is not valid UTF-8 (a corrupt file) as bytes."""
    return raw.decode("utf-8", errors="replace")


@dataclass
class Origin:
    """Where a node comes from, in the user's terms."""

    kind: str  # "onnx" or "torch"
    file: Optional[str] = None  # the model file, or the Python file of a PyTorch model
    line: Optional[int] = None  # source line of the call, for PyTorch models
    module: Optional[str] = None  # PyTorch module path, e.g. "encoder.layers.3.conv1"
    module_class: Optional[str] = None  # e.g. "Conv2d"


@dataclass(frozen=True)
class IndexRange:
    """The values of an integer tensor, known from how it was made (``torch.arange(T)``, expanded, sliced, plus an
    int), with its elements unknown: every element lies in ``lo..hi`` and both bounds are reached. ``lo`` and ``hi``
    are dims (ints, or sympy expressions in the user's symbols: ``T - 1``, ``Min(S, 512) - 1``).

    When ``axis`` is set the values are the progression ``first + step * i`` at position ``i`` along that axis, the
    same across the other axes, so a slice along it narrows the range exactly (``position_ids[:, :T]``).
    ``source`` says where the values come from, for messages (``torch.arange(T)``, ``buffer 'position_ids'``)."""

    lo: Any
    hi: Any
    source: str = ""
    axis: Optional[int] = None
    first: Any = None
    step: int = 1


@dataclass
class TorchCall:
    """A PyTorch call as the trace saw it, so that verification can replay it in PyTorch itself: the module called
    (the user's own object, which verification copies and never runs or changes) or the torch function, with the
    call's arguments, each tensor among them replaced by its :class:`Value` and each symbolic size by its dim."""

    target: Any
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    @classmethod
    def of(cls, target, args, kwargs, describe: Callable[[Any], Any]) -> "TorchCall":
        """The call with every argument, inside tuples, lists, dicts and slices too, replaced by ``describe(arg)``."""
        def walk(x, depth=0):
            if depth < 4 and type(x) in (tuple, list):  # not their subclasses (torch.Size, named tuples)
                return type(x)(walk(y, depth + 1) for y in x)
            if depth < 4 and type(x) is dict:
                return {k: walk(y, depth + 1) for k, y in x.items()}
            if type(x) is slice:
                return slice(walk(x.start, 4), walk(x.stop, 4), walk(x.step, 4))
            return describe(x)
        return cls(target, walk(tuple(args)), walk(dict(kwargs)))


@dataclass
class Refusal:
    """PyTorch refusing a call, or a layer's construction, as the PyTorch front end saw it. CL010 (torch-refused)
    reports it; verification weighs PyTorch's verdict on the call replayed alone against it."""

    message: str
    """PyTorch's words (their first line), with torch's symbols renamed to the user's."""
    certain: bool = True
    """False when an input's size is one convlint made up (an earlier refused call's), so the refusal proves nothing."""
    sizes: dict = field(default_factory=dict)
    """The user's symbols torch compared to decide the refusal, each with the example value it had then: the refusal
    holds for those sizes only. Empty when it holds for every size."""
    construction: bool = False
    """The layer's constructor refused it: the node stands for the construction, and nothing was traced."""


@dataclass(frozen=True)
class NodeFacts:
    """What the PyTorch front ends know of a node beyond its ONNX semantics, for the rules and verification (its
    declared attributes are in ``Node.declared``, the call it stands for in ``Node.torch_call``). Written by the
    front end when it makes the node, and replaced (never changed: the empty record is shared) when it learns more.
    An ONNX node has none of them: it keeps the shared empty :data:`NO_FACTS`."""

    params: Optional[dict] = None
    """A PyTorch module's own parameters and buffers, name -> Value with the actual shape, which the
    declared-versus-actual rules compare with ``Node.declared``; None on a node that is no module's."""
    repeat_call: bool = False
    """A module's second or later call: its declaration is checked on its first call only."""
    refusal: Optional[Refusal] = None
    """PyTorch's refusal of the call or of the layer's construction, when it refused."""


NO_FACTS = NodeFacts()


@dataclass
class SizeRequirement:
    """A comparison of the user's sizes that a check in the model needs to pass: the model's own (``assert H % 32 ==
    0``, ``torch._assert``, ``if W % 16: raise``) or torch.nn's on a call (an LSTM's hidden size), found by the PyTorch
    trace. The front end judges it on the input sizes; model-size-check (CL012) reports those that do not pass for
    every size, and the conditions found after a branch are joined under them (:mod:`convlint.checking.branches`)."""

    relation: Any
    """What the check needs, a sympy relation in the user's symbols (``Eq(H, 224)``)."""
    code: str = ""
    """The source line of the check, stripped ("" when not at hand)."""
    message: Optional[str] = None
    """What the failing check raised (its first line); None for a check that passed or raised no message."""
    file: Optional[str] = None
    line: Optional[int] = None
    module: Optional[str] = None
    """The module path whose code made the check."""
    by: Optional[str] = None
    """``"PyTorch"`` for torch.nn's own check on a call; None for the model's own code."""
    atoms: list = field(default_factory=list)
    """The relation as condition atoms (:mod:`convlint.core.conditions`), written when the front end judges it."""
    hints: dict = field(default_factory=dict)
    """The example sizes (symbol name -> value) the trace had when the check failed."""
    verdict: Any = None
    """The :class:`~convlint.core.conditions.Verdict` on the input sizes, written when the front end judges it."""
    together: Any = None
    """The verdict on this requirement with every earlier one, when no size meets them all (they contradict)."""


@dataclass
class Stop:
    """Where and why the PyTorch trace stopped before the end of the forward pass; trace-incomplete (CL011) reports
    it, and the layers after it are checked against their declarations only."""

    kind: str
    """``no-input`` (no input shape given), ``not-built`` (PyTorch refused to construct a layer), ``refused`` (PyTorch
    refused a call whose output convlint cannot work out), ``limit`` (code a shape-only trace cannot follow),
    ``raised`` (the model's code raised), ``assumed`` (a check of the model's failed on the example sizes: see
    ``requirement``; the front end traces again on sizes that meet it)."""
    reason: str
    """What stopped it, in words, for the note."""
    node: Optional[str] = None
    module: Optional[str] = None
    file: Optional[str] = None
    line: Optional[int] = None
    model: Optional[str] = None
    """The model's class name."""
    requirement: Optional[SizeRequirement] = None
    """For a stop of kind ``assumed``: what the failing check needs."""


@dataclass(frozen=True)
class Branch:
    """A branch of the user's code decided on the user's sizes (``if pad_h:``), the way the trace went: what holds
    there was found for the sizes that meet ``relation`` only (:mod:`convlint.checking.branches`)."""

    relation: Any
    """What the sizes met to go the way traced, a sympy relation in the user's symbols."""
    file: str
    line: int
    code: str
    """The source line of the branch, stripped."""


@dataclass(frozen=True)
class Specialized:
    """Where torch fixed one of the user's symbols to its example value (it computed a size in floating point, say):
    the sizes after that node hold for that value only."""

    value: int
    """The example value the symbol was fixed to."""
    node: str
    module: Optional[str] = None
    file: Optional[str] = None
    line: Optional[int] = None


@dataclass(frozen=True)
class ModuleInfo:
    """A module of a PyTorch model, for the summary: its class and the elements of its own parameters (not its
    buffers, not its children's), each parameter counted at the first module that holds it, as ``model.parameters()``
    counts a shared one once."""

    module_class: str
    params: int
    file: Optional[str] = None
    line: Optional[int] = None
    """Where the module was constructed, when known."""


@dataclass
class CheckpointFacts:
    """A checkpoint given with ``--weights`` against the model, from headers alone
    (:mod:`convlint.frontends.torch_weights`): what ``load_state_dict`` would find. Names are state-dict keys;
    shapes tuples of ints; dtypes torch's names (``float16``)."""

    path: str
    key: Optional[str]
    """The entry of a nested checkpoint the tensors came from (``state_dict``, ``model``, ``ema``), or None."""
    format: str
    missing: list
    """(name, shape, dtype) of the model's tensors the checkpoint does not hold (BatchNorm's
    ``num_batches_tracked`` too, which it fills in on load)."""
    unexpected: list
    """(name, shape, dtype) of the checkpoint's tensors the model has no place for."""
    mismatched: list
    """(name, the model's shape, the checkpoint's shape)."""
    dtypes: list
    """(name, the model's dtype, the checkpoint's dtype), where only the dtype differs."""
    tied: dict
    """name -> the name the checkpoint holds the same tensor under (a tied weight saved once)."""
    model_keys: tuple = ()
    """Every key of the model's state dict."""
    checkpoint_keys: tuple = ()
    """Every key the checkpoint holds."""
    headers: dict = field(default_factory=dict, repr=False)
    """Every tensor of the checkpoint: name -> (shape, dtype), for verification's load_state_dict."""
    model: Any = field(default=None, repr=False, compare=False)
    """The model, for verification's load_state_dict into a meta copy of it (never changed)."""


@dataclass
class Trace:
    """How a PyTorch front end followed the model's forward pass (``Graph.trace``; None for an ONNX graph). The rules
    about the trace (trace-incomplete, model-size-check) and the join of conditions across branches read it."""

    stop: Optional[Stop] = None
    """Where the trace stopped; None when the forward pass ran to its end (or was read whole from a ``.pt2``)."""
    requirements: list = field(default_factory=list)
    """The checks of the model (:class:`SizeRequirement`) that do not pass for every size, each judged, in the order
    found."""
    checks: list = field(default_factory=list)
    """The checks that passed on the example sizes (:class:`SizeRequirement`), as the trace found them; the front
    end moves those that do not pass for every size to ``requirements`` and empties this."""
    branches: list = field(default_factory=list)
    """The branches of the user's code decided on sizes (:class:`Branch`), in the order taken."""
    retrace: Optional[Callable[[Any], "Graph"]] = None
    """When there are branches: the model traced again on sizes that meet a Verdict (to go the other way)."""
    specialized: dict = field(default_factory=dict)
    """Symbol name -> :class:`Specialized`: where torch fixed it to its example value."""
    checkpoint: Optional[CheckpointFacts] = None
    """The checkpoint given with ``--weights`` against the model, or None."""
    followed: list = field(default_factory=list)
    """The equalities of the user's sizes (sympy relations) that torch decided on the example sizes inside its own
    code (``expand`` of a table sliced to ``T``: ``Min(512, T) == T``): the trace holds for the sizes that meet them;
    what other sizes do, it did not see."""
    notes: list = field(default_factory=list)
    """Notes from building the model (weights that did not fit it, say), one line each."""
    modules: dict = field(default_factory=dict)
    """Module path (``""`` for the model itself) -> :class:`ModuleInfo`, for every module of the model, called or
    not, in ``named_modules()`` order; empty when the front end had no module at hand (a ``.pt2``)."""


class Value:
    """A tensor in the graph: a graph input, a weight, or a node output."""

    __slots__ = ("name", "shape", "dtype", "_data", "_load", "producer", "is_param", "external", "range",
                 "from_checkpoint")

    def __init__(self, name: str, shape=None, dtype: Optional[str] = None, *, is_param: bool = False):
        self.name = name if type(name) is not bytes else text(name)
        self.shape = shape
        self.dtype = dtype
        self._data = None
        self._load: Optional[Callable[[], Any]] = None
        self.producer: Optional[Node] = None
        self.is_param = is_param
        self.external = False  # its bytes live in an external data file, which convlint never reads
        self.range: Optional[IndexRange] = None  # what is known of an integer tensor's values (see IndexRange)
        self.from_checkpoint = False  # a PyTorch parameter whose shape is a --weights checkpoint's, not the model's

    @property
    def data(self):
        """Contents as a numpy array if known and small; loaded on first use from the model file, never from external data."""
        if self._data is None and self._load is not None:
            load, self._load = self._load, None
            self._data = load()
        return self._data

    @data.setter
    def data(self, array):
        self._data = array
        self._load = None

    def set_loader(self, load: Callable[[], Any]) -> None:
        self._load = load

    @property
    def unread(self) -> bool:
        """Whether its contents are still in the model file, to be read on first use of :attr:`data`."""
        return self._data is None and self._load is not None

    @property
    def known_data(self):
        """Its contents if already at hand (computed, or read), without reading them from the model file."""
        return self._data

    @property
    def rank(self) -> Optional[int]:
        return None if self.shape is None else len(self.shape)

    def __repr__(self) -> str:
        return f"Value({self.name!r}, {self.shape}, {self.dtype})"


class Node:
    """One operation: an ONNX node, or a PyTorch module call or tensor operation described as its ONNX equivalent."""

    __slots__ = ("op", "domain", "name", "inputs", "outputs", "attrs", "declared", "origin", "subgraphs", "facts",
                 "proto", "torch_call")

    def __init__(self, op: str, name: str, inputs, outputs, attrs=None, *, domain: str = "", origin: Origin = None,
                 declared=None, subgraphs=None, proto=None):
        self.op = op if type(op) is not bytes else text(op)
        self.domain = domain if type(domain) is not bytes else text(domain)
        self.name = name if type(name) is not bytes else text(name)
        self.inputs: list[Optional[Value]] = list(inputs)
        self.outputs: list[Value] = list(outputs)
        self.attrs: dict[str, Any] = attrs or {}
        self.declared: dict[str, Any] = declared or {}
        self.origin = origin
        self.subgraphs: dict[str, Graph] = subgraphs or {}
        self.facts = NO_FACTS  # what a PyTorch front end knows of it beyond ONNX's terms (see NodeFacts)
        self.proto = proto  # the onnx NodeProto, for ONNX models
        self.torch_call: Optional[TorchCall] = None  # the PyTorch call it stands for, for verification's replay
        for out in self.outputs:
            out.producer = self

    def input(self, i: int) -> Optional[Value]:
        """The i-th input, or None when it is absent or omitted."""
        return self.inputs[i] if i < len(self.inputs) else None

    def input_shape(self, i: int):
        v = self.input(i)
        return None if v is None else v.shape

    def attr(self, name: str, default=None):
        return self.attrs.get(name, default)

    def __repr__(self) -> str:
        return f"Node({self.op}, {self.name!r})"


@dataclass
class Graph:
    """Nodes in execution order, with the values they read and write."""

    nodes: list = field(default_factory=list)
    inputs: list = field(default_factory=list)  # Values fed by the user
    outputs: list = field(default_factory=list)
    values: dict = field(default_factory=dict)  # name -> Value, for every value in this graph
    opset: dict = field(default_factory=dict)  # domain -> version
    ir_version: Optional[int] = None
    file: Optional[str] = None  # the model file this graph was read from
    parent: Optional["Graph"] = None
    owner: Optional[Node] = None  # for a subgraph, the If/Loop/Scan node that holds it
    # Facts a rule may report; the front end records them without judging.
    undefined: list = field(default_factory=list)  # (node, input name) pairs whose input nothing defines
    declared_types: dict = field(default_factory=dict)  # value name -> the element type the file declares for it
    # (graph outputs and value_info)
    cyclic: list = field(default_factory=list)  # nodes on or behind a cycle, left without shapes
    propagated: bool = False
    """Every value has its final shape: set by the PyTorch front ends, which take the shapes from torch, and by
    propagation on a subgraph its owner's shape function has done; propagation leaves such a graph alone."""
    shape_errors: list = field(default_factory=list)
    """``(node name, op, error)`` for each shape function that raised, on the root graph: a bug of convlint's, never
    the user's. Written by propagation; the node's outputs stay unknown."""
    tensor_data: Optional[Callable[["Value"], Any]] = None
    """A weight's contents for verification's replay, which replays a layer with its own tensors: Value -> an
    ``onnx.TensorProto`` or a numpy array, None when not at hand. The ONNX front end gives the initializers whose
    bytes are in the model file, on the root graph; never external data."""
    trace: Optional[Trace] = None
    """How a PyTorch front end followed the forward pass; None for a graph read from ONNX."""

    def walk(self):
        """Every node, including those of subgraphs, parents before their subgraphs' nodes."""
        for node in self.nodes:
            yield node
            if node.subgraphs:
                for sub in node.subgraphs.values():
                    yield from sub.walk()

    def graphs(self):
        """This graph and every subgraph below it."""
        yield self
        for node in self.nodes:
            for sub in node.subgraphs.values():
                yield from sub.graphs()

    @property
    def root(self) -> "Graph":
        g = self
        while g.parent is not None:
            g = g.parent
        return g
