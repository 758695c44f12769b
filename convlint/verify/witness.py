"""Witness sizes: concrete values for the symbols, the smallest that let an input reach the layer validly.

What the analysis knows about the symbols is the shapes it propagated. Every dim of every value upstream of the
layer must be at least 1 (an earlier downsampling must leave a position), and those constraints are required. The
layer's own output dims should be at least 1 too, so that onnxruntime refuses the layer for the fault that was
found and not for an input too small; each of those is kept only when it can hold (a window that is too large
for every size is the fault itself). Sizes grow by doubling from 1 until every constraint holds, then each
symbol is lowered by bisection to the smallest value that keeps them all. A PyTorch layer is replayed with every
symbol from 2 up (``floor``) where the constraints allow: PyTorch refuses some layers a batch of one for reasons of
their own (BatchNorm in training mode), which would hide the fault found.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import sympy

from convlint.core.ir import STANDARD_DOMAINS
from convlint.core.ir import Graph, Node, Value
from convlint.shapes.propagate import Propagation

MAX_SIZE = 1 << 20  # a symbol never grows past this while searching


def is_symbolic(d) -> bool:
    return isinstance(d, sympy.Basic) and bool(d.free_symbols)


class Upstream:
    """Facts about the values upstream of a layer, memoized for every layer replayed from one graph: whether a value
    depends on the model's inputs, and the symbolic dims on the way to it."""

    def __init__(self):
        self._constant = {}
        self._dims = {}

    def constant(self, v) -> bool:
        """True when ``v`` depends on no model input: a weight, or something computed from weights only."""
        return self._walk(v, self._constant, lambda cur: bool(cur.is_param),
                          lambda cur, ins: not cur.producer.subgraphs and all(ins))

    def dims(self, v) -> frozenset:
        """The symbolic dims (plain symbols left out) of ``v`` and of every value upstream of it."""
        return self._walk(v, self._dims, _own_dims, lambda cur, ins: _own_dims(cur).union(*ins))

    def _walk(self, v, memo, leaf, combine):
        """``memo[v]``: ``leaf(v)`` for a value nothing produces, else ``combine`` of it and its producer's inputs'
        answers; depth-first without recursion. On a cycle, a value met again on the current path counts as a leaf."""
        stack, path = [v], set()
        while stack:
            cur = stack[-1]
            if id(cur) in memo:
                stack.pop()
                continue
            p = cur.producer
            if p is None:
                memo[id(cur)] = leaf(cur)
                stack.pop()
                continue
            path.add(id(cur))
            ins = [u for u in p.inputs if u is not None]
            pending = [u for u in ins if id(u) not in memo and id(u) not in path]
            if pending:
                stack.extend(pending)
                continue
            memo[id(cur)] = combine(cur, [memo[id(u)] if id(u) in memo else leaf(u) for u in ins])
            path.discard(id(cur))
            stack.pop()
        return memo[id(v)]


def _own_dims(v) -> frozenset:
    return frozenset(d for d in v.shape or () if type(d) is not int and d is not None and not d.is_Symbol
                     and not d.is_Number)


def output_dims(node, shapes: dict, opset: dict, ir_version) -> list:
    """The layer's output shapes when its inputs have the (symbolic) ``shapes`` (by Value), by convlint's shape
    functions."""
    inputs = []
    for v in node.inputs:
        if v is None:
            inputs.append(None)
            continue
        shadow = Value(v.name, shapes.get(v, v.shape), v.dtype)
        shadow.data = v.data
        inputs.append(shadow)
    outputs = [Value(o.name) for o in node.outputs]
    shadow_node = Node(node.op, node.name, inputs, outputs, dict(node.attrs), domain=node.domain, proto=node.proto)
    if node.domain not in STANDARD_DOMAINS:
        return [None for _ in outputs]
    outs = Propagation(Graph(opset=dict(opset), ir_version=ir_version)).infer(shadow_node)
    return [o.shape for o in outs]


class Constraints:
    """Expressions over the symbols, each of which must be at least 1, evaluated exactly for many candidate sizes."""

    def __init__(self, exprs, symbols):
        self.exprs = list(exprs)
        self.symbols = list(symbols)
        self.fns = [compiled(e) for e in self.exprs]
        index = {s: j for j, s in enumerate(self.symbols)}
        self.deps = [{index[s] for s in e.free_symbols if s in index} for e in self.exprs]

    def failing(self, vals, active) -> list:
        """Indices in ``active`` of the constraints that ``vals`` breaks."""
        env = dict(zip(self.symbols, vals))
        bad = []
        for i in active:
            try:
                if not self.fns[i](env) >= 1:
                    bad.append(i)
            except (TypeError, ZeroDivisionError, KeyError):  # not a number at these sizes
                bad.append(i)
        return bad

    def solve(self, active, floor: int = 1):
        """The smallest sizes of at least ``floor`` (found by doubling, then bisection per symbol) meeting every
        ``active`` constraint."""
        vals = [floor] * len(self.symbols)
        while True:
            bad = self.failing(vals, active)
            if not bad:
                break
            grow = set().union(*(self.deps[i] for i in bad))
            if not grow or any(vals[j] >= MAX_SIZE for j in grow):
                return None
            for j in grow:
                vals[j] *= 2
        for j in range(len(vals)):
            lo, hi = floor, vals[j]
            while lo < hi:
                mid = (lo + hi) // 2
                trial = vals[:j] + [mid] + vals[j + 1:]
                if self.failing(trial, active):
                    lo = mid + 1
                else:
                    hi = mid
            vals[j] = hi
        return vals


@functools.lru_cache(maxsize=8192)
def compiled(expr):
    """``expr`` as a Python function of ``{symbol: int}``, exact (ints and Fractions); dims repeat, so it is cached."""
    if expr.is_Integer:
        value = int(expr)
        return lambda env: value
    if expr.is_Rational:
        value = Fraction(int(expr.p), int(expr.q))
        return lambda env: value
    if expr.is_Symbol:
        return lambda env: env[expr]
    if expr.is_Mul:
        coeff, rest = expr.as_coeff_Mul()
        if coeff.is_Rational and coeff.q != 1:  # (p/q) * rest: one exact division, not a Fraction per factor
            p, q, f = int(coeff.p), int(coeff.q), compiled(rest)
            return lambda env: Fraction(p * f(env), q)
    args = [compiled(a) for a in expr.args]
    combine = _COMBINE.get(expr.func)
    if combine is None and expr.is_Pow and expr.exp.is_Integer and expr.exp >= 0:
        base, exp = args[0], int(expr.exp)
        return lambda env: base(env) ** exp
    if combine is None:  # anything else: let sympy evaluate it
        return lambda env: expr.xreplace({s: sympy.Integer(env[s]) for s in expr.free_symbols})
    return lambda env: combine([f(env) for f in args])


def _product(values):
    out = 1
    for v in values:
        out *= v
    return out


_COMBINE = {
    sympy.Add: sum,
    sympy.Mul: _product,
    sympy.floor: lambda a: math.floor(a[0]),
    sympy.ceiling: lambda a: math.ceil(a[0]),
    sympy.Max: max,
    sympy.Min: min,
    sympy.Mod: lambda a: a[0] % a[1],
}


def choose(nodes, shapes: dict, extra_symbols, opset: dict, ir_version, upstream: Upstream = None, floor: int = 1):
    """Values for the symbols in ``shapes`` (Value -> symbolic shape, for the inputs of ``nodes`` the replay makes)
    and in ``extra_symbols``, each at least ``floor`` (when some required constraint cannot hold so, at least 1).

    Returns ``(values, outputs)``: a dict from sympy Symbol to int, and the output shapes of ``nodes`` evaluated at
    those values (None where unknown); ``(None, None)`` when no sizes let an input reach the layer.
    """
    symbols = set(extra_symbols)
    for shape in shapes.values():
        for d in shape:
            if is_symbolic(d):
                symbols |= d.free_symbols
    outputs = [s for n in nodes for s in output_dims(n, shapes, opset, ir_version)]
    if not symbols:
        return {}, outputs
    upstream = upstream or Upstream()
    required = set().union(*(upstream.dims(v) for n in nodes for v in n.inputs if v is not None))
    for shape in shapes.values():
        required |= {d for d in shape if is_symbolic(d) and not d.is_Symbol}
    wanted = []
    for shape in outputs:
        for d in shape or ():
            if is_symbolic(d) and d not in required and d not in wanted:
                wanted.append(d)
    for d in list(required) + wanted:
        symbols |= d.free_symbols
    order = tuple(sorted(symbols, key=lambda s: s.name))
    vals = _smallest(frozenset(required), tuple(wanted), order, floor)
    if vals is None and floor > 1:
        vals = _smallest(frozenset(required), tuple(wanted), order, 1)
    if vals is None:
        return None, None
    values = dict(zip(order, vals))
    return values, [None if s is None else tuple(evaluate(d, values) for d in s) for s in outputs]


@functools.lru_cache(maxsize=1024)
def _smallest(required: frozenset, wanted: tuple, symbols: tuple, floor: int = 1):
    """Sizes meeting every ``required`` constraint and as many ``wanted`` ones as can hold, in order; None if the
    required ones cannot all hold. Layers that read the same values share the answer."""
    constraints = Constraints(list(required) + list(wanted), symbols)
    n = len(required)
    everything = constraints.solve(list(range(len(constraints.exprs))), floor)
    if everything is not None:
        return everything
    active = list(range(n))
    vals = constraints.solve(active, floor)
    if vals is None:
        return None
    for i in range(n, len(constraints.exprs)):
        trial = constraints.solve(active + [i], floor)
        if trial is not None:
            active.append(i)
            vals = trial
    return vals


def clear_caches() -> None:
    """Forget compiled dims and solved searches (for benchmarks that measure a cold search)."""
    compiled.cache_clear()
    _smallest.cache_clear()


def evaluate(d, values: dict):
    """A dim at the chosen values (a dict from sympy Symbol to int): an int, or None when unknown."""
    if d is None or type(d) is int:
        return d
    try:
        return int(compiled(d)(values))
    except (TypeError, ValueError, KeyError, ZeroDivisionError):
        return None
