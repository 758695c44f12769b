"""What the rules about sizes share: exact verdicts on dims (see :mod:`convlint.core.conditions`) and how to say them.

A rule reports an error when a requirement fails for every input size, and a warning, with the condition and the
smallest size that meets it, when it holds only for some. Dims that are plainly equal (the same int, the same
symbol) never reach the solver.
"""

from __future__ import annotations

import sympy

from convlint.core import conditions as cond
from convlint.core import dims
from convlint.rule import ERROR, WARNING

from ._residual import MAX_WALK

ALWAYS = cond.Verdict("always")
NEVER = cond.Verdict("never")
UNKNOWN = cond.Verdict("unknown")


def same(a, b) -> bool:
    """``a`` and ``b`` are the same known dim (the cheap test that settles most pairs)."""
    return a is not None and (a is b or a == b)


def equal_verdict(a, b, *also_sizes) -> cond.Verdict:
    """Whether ``a == b``: for every size, none, some, or unknown."""
    if a is None or b is None:
        return UNKNOWN
    if same(a, b):
        return ALWAYS
    if type(a) is int and type(b) is int:
        return NEVER
    verdict = cond.solve([cond.eq(a, b)], cond.sizes(a, b, *also_sizes))
    if verdict.status == "unknown":
        return _symbol_by_symbol(a, b, also_sizes) or verdict
    return verdict


_LARGE = 2 ** 6 * 3 ** 3 * 5 ** 2 * 7 * 11 * 13 * 1009  # a size every small window and stride divides


def _symbol_by_symbol(a, b, also_sizes):
    """``a == b`` for two products of one-symbol factors over the same symbols (a view's element count against its
    input's: ``N*C*H*W`` and ``16*N*C*⌊H/4⌋*⌊W/4⌋``), when each of ``b``'s factors, times its ratio to ``a``'s,
    is never above (or never below) ``a``'s: the products are then equal exactly when each pair is (``H ==
    4*⌊H/4⌋``). None when they are not of that form."""
    fa, fb = _one_symbol_factors(a), _one_symbol_factors(b)
    if fa is None or fb is None or set(fa[1]) != set(fb[1]) or not fa[1]:
        return None
    (ca, fa), (cb, fb) = fa, fb
    atoms, ratio, sides = [], sympy.Integer(1), set()
    for s in sorted(fa, key=lambda x: x.name):
        big_a, big_b = fa[s].subs(s, _LARGE), fb[s].subs(s, _LARGE)
        if not (big_a.is_Rational and big_b.is_Rational) or big_b == 0:
            return None
        r = sympy.Rational(big_a / big_b).limit_denominator(1000)
        ratio *= r
        scaled = dims.mul(fb[s], r) if r.is_Integer else sympy.expand(fb[s] * r)
        for side, atom in (("above", cond.ge(fa[s], scaled)), ("below", cond.le(fa[s], scaled))):
            if cond.solve([atom], cond.sizes(fa[s], fb[s])).always:
                sides.add(side)
                break
        else:
            return None
        atoms.append(cond.eq(fa[s], scaled))
    if len(sides) != 1 or ca * ratio != cb:
        return None
    verdict = cond.solve(atoms, cond.sizes(*fa.values(), *fb.values(), *also_sizes))
    return verdict if verdict.status != "unknown" else None


def _one_symbol_factors(e):
    """(constant, {symbol: the product of e's factors in that symbol alone}), or None."""
    const, rest = sympy.sympify(e).as_coeff_Mul()
    out = {}
    for f in rest.as_ordered_factors():
        if not f.free_symbols:
            const *= f
            continue
        if len(f.free_symbols) != 1:
            return None
        s = next(iter(f.free_symbols))
        out[s] = out.get(s, sympy.Integer(1)) * f
    return const, out


def divides_verdict(divisor: int, n) -> cond.Verdict:
    """Whether ``divisor`` divides the dim ``n``: for every size, none, or some."""
    if type(n) is int:
        return ALWAYS if n % divisor == 0 else NEVER
    return cond.solve([cond.divides(divisor, n)], cond.sizes(n))


def broadcast_atoms(shapes) -> tuple:
    """(atoms, [(axis from the right, dims)] of the axes that may not broadcast, the dims involved) for ``shapes``."""
    first = shapes[0]
    if all(s == first for s in shapes[1:]):
        return [], [], []  # the common case: identical shapes (tuple equality tries identity first)
    rank = max(len(s) for s in shapes)
    atoms, axes, involved = [], [], []
    for i in range(1, rank + 1):
        ds = [s[-i] for s in shapes if len(s) >= i]
        if any(d is None for d in ds):
            continue
        big = [d for d in ds if d != 1]
        if len(big) <= 1 or all(same(big[0], d) for d in big[1:]):
            continue
        atoms += [cond.broadcastable(x, y) for j, x in enumerate(ds) for y in ds[j + 1:]]
        axes.append((i, ds))
        involved += ds
    return atoms, axes, involved


def broadcast_verdict(shapes) -> tuple:
    """Whether ``shapes`` broadcast numpy-style: (verdict, [(axis from the right, dims)] of the axes that may not)."""
    if any(s is None for s in shapes):
        return UNKNOWN, []
    atoms, axes, involved = broadcast_atoms(shapes)
    if not atoms:
        return ALWAYS, []
    return cond.solve(atoms, cond.sizes(*involved)), axes


def unidirectional_verdict(target, shape) -> cond.Verdict:
    """Whether ``shape`` broadcasts to ``target`` without changing it: aligned from the right, each dim of ``shape``
    equals ``target``'s or is 1 (how onnxruntime checks a LayerNormalization scale or a PRelu slope)."""
    if target is None or shape is None or len(shape) > len(target):
        return UNKNOWN
    atoms, involved = [], []
    for i in range(1, len(shape) + 1):
        s, t = shape[-i], target[-i]
        if s is None or t is None or s == 1 or same(s, t):
            continue
        atoms.append(cond.eq(s, t) + cond.eq(s, 1))
        involved += [s, t]
    if not atoms:
        return ALWAYS
    return cond.solve(atoms, cond.sizes(*involved))


def judged(verdict) -> dict:
    """A finding's severity and condition from a verdict that does not always hold: an error when it never does, a
    warning with the exact condition when it holds for some sizes."""
    if verdict.never:
        return {"severity": ERROR}
    if not verdict.some:
        return {"severity": WARNING, "condition": None}
    # the atoms go with the finding, so that the condition can be combined across the branches a trace followed
    return {"severity": WARNING, "condition": verdict.condition, "atoms": verdict.atoms, "domain": verdict.domain}


def condition_clause(verdict, subject: str = "this layer works") -> str:
    """``; {subject} only when H % 16 == 0 (smallest: H = 16)`` for a "some" verdict, ``""`` otherwise."""
    if not verdict.some:
        return ""
    return f"; {subject} only when {verdict.condition} (smallest: {verdict.example_text()})"


def every_size(*ds) -> str:
    """`` for every value of H, W`` when ``ds`` involve symbols (an error that holds for all sizes), else ``""``."""
    syms = dims.symbols_of(*ds)
    return f" for every value of {', '.join(s.name for s in syms)}" if syms else ""


def layer(node) -> str:
    """The layer as the user knows it: ``Linear 'classifier.fc'`` for a PyTorch module, ``Gemm 'fc1'`` in ONNX."""
    o = node.origin
    if o is not None and o.kind == "torch" and o.module_class:
        return f"{o.module_class} {(o.module or node.name)!r}"
    return f"{node.op} {node.name!r}"


def is_torch(node) -> bool:
    return node.origin is not None and node.origin.kind == "torch"


def named(value) -> str:
    """A value as the user knows it: ``'x' (N, 64, H, W)``."""
    if value is None:
        return "an omitted input"
    return f"{value.name!r} {dims.pretty_shape(value.shape)}"


def plural(n, word: str) -> str:
    return f"{dims.pretty(n)} {word}" + ("" if n == 1 else "s")



def sliced_table(value, clamp):
    """The constant (a position table, a rotary cache) whose slice made the axis ``clamp`` (``Min(512, S)``) of
    ``value``: the node that first produced a shape holding ``clamp`` sliced a parameter, buffer or initializer of
    fixed length.
    None when the clamp began at a slice of an activation (``x[:, :, :8]``), which is no length limit but a cut."""
    stack, seen = [value], set()
    while stack and len(seen) < MAX_WALK:
        v = stack.pop()
        p = v.producer
        if p is None or id(p) in seen:
            continue
        seen.add(id(p))
        upstream = [i for i in p.inputs if i is not None and i.shape is not None and
                    any(isinstance(d, sympy.Basic) and d.has(clamp) for d in i.shape)]
        if upstream:
            stack.extend(upstream)
            continue
        data = p.inputs[0] if p.inputs else None  # what was sliced (Slice's bounds are constants too)
        fixed = data is not None and data.is_param and data.shape and all(type(d) is int for d in data.shape)
        return data if fixed else None
    return None


def table_limit(values, axes, verdict):
    """The names of the tables whose slices clamp every disagreeing axis, for a "some" verdict (``self.pos[:S]``
    meeting an ``S``-long input holds only when ``S <= 512``): that is the model's longest input, by design, not a
    fault. None otherwise."""
    if not verdict.some:
        return None
    clamps = {d for _, ds in axes for d in ds if isinstance(d, sympy.Min)}
    if not clamps or any(not any(d in clamps for d in ds) for _, ds in axes):
        return None
    tables = set()
    for clamp in clamps:
        found = [sliced_table(v, clamp) for v in values if v.shape is not None and clamp in v.shape]
        if not found or None in found:
            return None
        tables.update(t.name for t in found)
    return sorted(tables)
