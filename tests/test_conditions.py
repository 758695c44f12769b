"""The condition solver against brute force: the sets of sizes it computes exactly are checked size by size."""

from __future__ import annotations

import math

import sympy
from hypothesis import given, settings, strategies as st

from convlint.core import conditions as cond
from convlint.core import compare, dims
from convlint.core.conditions.single_symbol import _solve_single

H, W = dims.symbol("H"), dims.symbol("W")


def _chain(draw, sym):
    """A random window-arithmetic chain (convolutions, poolings in ceil mode too, upsamplings), as a dim and as
    plain integer arithmetic on the size, to check the dim against."""
    d, steps = sym, []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["window", "ceil", "up", "add", "min", "max"]))
        if kind in ("min", "max"):  # a slice clamped to its axis (min), a broadcast against a size (max)
            c = draw(st.integers(1, 40))
            d = dims.minimum(d, c) if kind == "min" else dims.maximum(d, c)
            steps.append(lambda x, c=c, f=min if kind == "min" else max: f(x, c))
        elif kind == "up":
            f = draw(st.integers(2, 3))
            d = dims.mul(f, d)
            steps.append(lambda x, f=f: f * x)
        elif kind == "add":
            c = draw(st.integers(-3, 3))
            d = dims.add(d, c)
            steps.append(lambda x, c=c: x + c)
        else:
            k, s, p = draw(st.integers(1, 7)), draw(st.integers(1, 4)), draw(st.integers(0, 3))
            padded = dims.add(d, 2 * p - k)
            d = dims.add(dims.floordiv(padded, s) if kind == "window" else dims.ceildiv(padded, s), 1)
            if kind == "window":
                steps.append(lambda x, k=k, s=s, p=p: (x + 2 * p - k) // s + 1)
            else:
                steps.append(lambda x, k=k, s=s, p=p: -(-(x + 2 * p - k) // s) + 1)

    def run(x):
        for step in steps:
            x = step(x)
        return x
    return d, run


@st.composite
def single_symbol_problem(draw):
    (a, fa), (b, fb) = _chain(draw, H), _chain(draw, H)
    kind = draw(st.sampled_from(["eq", "ge", "broadcast", "const"]))
    if kind == "eq":
        atom, truth = cond.eq(a, b), (lambda s: fa(s) == fb(s))
    elif kind == "ge":
        c = draw(st.integers(-2, 40))
        atom, truth = cond.ge(a, c), (lambda s: fa(s) >= c)
    elif kind == "broadcast":
        atom, truth = cond.broadcastable(a, b), (lambda s: fa(s) == fb(s) or fa(s) == 1 or fb(s) == 1)
    else:
        c = draw(st.integers(1, 40))
        atom, truth = cond.eq(a, c), (lambda s: fa(s) == c)
    return a, b, atom, truth


def _in_domain(d, s):
    """Whether every domain atom holds at size ``s`` (domain atoms are the solver's own; evaluated by sympy)."""
    return all(_value(c.expr, s) >= 0 for c in d)


def _value(e, s):
    return e if type(e) is int else int(sympy.sympify(e).xreplace({H: s}))


@settings(max_examples=150, deadline=None)
@given(single_symbol_problem())
def test_single_symbol_sets_are_exact(problem):
    a, b, atom, truth = problem
    domain = cond.sizes(a, b)
    valid, dom = _solve_single(H, [atom], domain)
    limit = max(valid.threshold, 64) + 3 * valid.period
    for s in range(1, limit):
        in_dom = s in dom
        if s % 7 == 0 or s < 40:
            assert in_dom == all(_in_domain(d, s) for d in domain), s
        assert (s in valid) == (in_dom and truth(s)), s
    text = valid.describe("H")
    if "…" not in text and not valid.empty:
        for s in range(1, limit):
            assert eval(text, {"H": s}) == (s in valid), (text, s)


def test_unet_skip_condition():
    up = H
    for _ in range(4):
        up = dims.floordiv(up, 2)
    up = dims.mul(16, up)
    v = cond.solve([cond.eq(H, up)], cond.sizes(H, up))
    assert (v.status, v.condition, v.example_text()) == ("some", "H % 16 == 0", "H = 16")


def test_flattened_features_against_in_features():
    f, g = dims.floordiv(dims.sub(H, 4), 2), dims.floordiv(dims.sub(W, 4), 2)
    features = dims.mul(64, dims.mul(f, g))
    v = cond.solve([cond.eq(features, 9216)], cond.sizes(features))
    assert (v.status, v.condition, v.example_text()) == ("some", "⌊(H-4)/2⌋·⌊(W-4)/2⌋ == 144", "H = W = 28")
    assert cond.solve([cond.eq(features, 9217)], cond.sizes(features)).never
    assert cond.solve([cond.eq(features, 64 * 7 * 11)], cond.sizes(features)).example_text() == "H = 18, W = 26"


def test_an_expanded_product_too_long_to_factor_is_left_unknown():
    # SAM2-Hiera's window counts: a product of sizes written out as a sum of hundreds of terms; sympy took minutes to
    # factor each, so such a sum is not read as a product (the verdict is unknown), while a short one still is
    f, g = dims.floordiv(H, 2), dims.floordiv(W, 2)
    short = sympy.expand(64 * f * (g + 1))
    assert cond.solve([cond.eq(short, 64 * 12 * 13)], cond.sizes(f, g)).some
    long = sympy.expand(64 * f * (g + 1) * (dims.floordiv(f, 3) + 1) * (dims.floordiv(g, 3) + 1)
                        * (dims.floordiv(f, 5) + 1) * (dims.floordiv(g, 5) + 1))
    assert sympy.count_ops(long) > 200
    assert cond.solve([cond.eq(long, 64 * 12 * 13)], cond.sizes(f, g)).status == "unknown"


def test_window_lower_bound_after_downsampling():
    d = H
    for _ in range(5):
        d = dims.add(dims.floordiv(dims.sub(d, 2), 2), 1)
    v = cond.solve([cond.ge(d, 1)], cond.sizes(H))
    assert (v.status, v.condition, v.example["H"]) == ("some", "H >= 32", 32)


def test_separate_symbols_and_coupled_ones():
    v = cond.solve([cond.eq(H, dims.mul(2, dims.floordiv(H, 2))), cond.eq(W, dims.mul(4, dims.floordiv(W, 4)))])
    assert (v.condition, v.example_text()) == ("H % 2 == 0 and W % 4 == 0", "H = 2, W = 4")
    assert cond.solve([cond.eq(dims.add(H, 1), H)]).never
    assert cond.solve([cond.ge(H, 1)]).always


# -- Min and Max of a symbol and an int: a slice clamped to its axis, a table sliced to a sequence's length

T = dims.symbol("T")


def _verdict(*atoms):
    """The verdict on ``atoms`` for every size of their symbols, as (status, condition, smallest example)."""
    v = cond.solve(list(atoms), cond.sizes(*dims.symbols_of(*[c.expr for a in atoms for c in a])))
    return v.status, v.condition, v.example_text()


def test_a_clamped_slice_broadcasts_only_up_to_its_bound():
    # x[:, :, :8] + x on an H-tall input: min(8, H) rows against H
    assert _verdict(cond.broadcastable(dims.minimum(8, H), H)) == ("some", "H <= 8", "H = 1")
    # a rotary table of 64 rows sliced to the sequence, cos[:T] * q
    assert _verdict(cond.broadcastable(dims.minimum(T, 64), T)) == ("some", "T <= 64", "T = 1")
    assert _verdict(cond.eq(dims.minimum(T, 64), 64)) == ("some", "T >= 64", "T = 64")
    assert _verdict(cond.eq(dims.floordiv(dims.minimum(T, 64), 2), 40)) == ("never", "", "")
    assert _verdict(cond.eq(dims.maximum(T, dims.minimum(T, 32)), T)) == ("always", "", "")


def test_a_long_table_is_decided_exactly_too():
    # BERT's 512 positions, Llama 3's 131072: the sizes up to the bound are not tried one by one in Python
    assert _verdict(cond.broadcastable(dims.minimum(T, 131072), T)) == ("some", "T <= 131072", "T = 1")
    assert _verdict(cond.eq(T, 131072)) == ("some", "T == 131072", "T = 131072")


def test_dims_decide_min_and_max_exactly():
    m = dims.minimum(T, 64)
    assert (compare.equal(m, 65), compare.at_least(m, 65), compare.equal(dims.floordiv(m, 2), 40)) == (False, False, False)
    assert (compare.equal(m, 64), compare.at_least(m, 64), compare.equal(m, T)) == (None, None, None)
    assert (compare.at_least(m, 1), compare.at_least(64, m), compare.at_least(dims.maximum(T, 8), 8)) == (True, True, True)
    assert compare.equal(dims.minimum(H, W), H) is None  # two symbols: it depends


# -- equalities between symbols: H == W, H == 2·W, H == H2, solved for one symbol and substituted


def _evaluable(text: str) -> str:
    """A condition as Python: ``⌊(W-1)/2⌋+1`` as ``floor((W-1)/2)+1``, ``2·W`` as ``2*W``."""
    for a, b in (("·", "*"), ("-", "-"), ("⌊", "floor("), ("⌋", ")"), ("⌈", "ceil("), ("⌉", ")")):
        text = text.replace(a, b)
    return text


def _holds(text: str, **sizes) -> bool:
    return eval(_evaluable(text), {"floor": math.floor, "ceil": math.ceil, "min": min, "max": max}, sizes)


def test_coupled_symbols_are_stated_in_their_names():
    H2 = dims.symbol("H2")
    # x + x.transpose(2, 3): (N, 3, H, W) against (N, 3, W, H)
    transposed = [cond.broadcastable(H, W), cond.broadcastable(W, H)]
    assert _verdict(*transposed) == ("some", "H == W or H == 1 or W == 1", "H = W = 1")
    assert _verdict(cond.eq(H, H2)) == ("some", "H == H2", "H = H2 = 1")
    assert _verdict(cond.eq(H, dims.mul(2, W))) == ("some", "H == 2·W", "H = 2, W = 1")
    assert _verdict(cond.eq(dims.add(H, 1), W)) == ("some", "W == H+1", "H = 1, W = 2")
    # a coupling and a divisibility together; a coupling no size meets
    unet = dims.mul(16, dims.floordiv(H, 16))
    assert _verdict(cond.eq(W, unet)) == ("some", "W == 16·⌊H/16⌋", "H = W = 16")
    assert _verdict(cond.eq(H, W), cond.eq(H, unet)) == ("some", "H == W and H % 16 == 0", "H = W = 16")
    assert _verdict(cond.eq(H, W), cond.eq(W, dims.add(H, 1))) == ("never", "", "")
    # what it cannot solve stays unknown (rules stay silent): no symbol with coefficient ±1, Min of two symbols
    assert cond.solve([cond.eq(dims.mul(2, H), dims.mul(3, W))]).status == "unknown"
    assert cond.solve([cond.eq(dims.minimum(H, W), 8)]).status == "unknown"


@st.composite
def coupled_problem(draw):
    """H against a window-arithmetic chain of W, as atoms and as a truth function on (H, W)."""
    g, fg = _chain(draw, W)
    kind = draw(st.sampled_from(["eq", "broadcast", "shifted", "divisible"]))
    if kind == "eq":
        return [cond.eq(H, g)], g, lambda h, w: h == fg(w)
    if kind == "broadcast":
        return [cond.broadcastable(H, g)], g, lambda h, w: h == fg(w) or h == 1 or fg(w) == 1
    if kind == "shifted":
        c = draw(st.integers(-3, 3))
        return [cond.eq(dims.add(H, c), g)], g, lambda h, w: h + c == fg(w)
    k = draw(st.integers(2, 4))
    return [cond.eq(H, g), cond.divides(k, H)], g, lambda h, w: h == fg(w) and h % k == 0


def _value2(e, h, w):
    return e if type(e) is int else int(sympy.sympify(e).xreplace({H: h, W: w}))


@settings(max_examples=60, deadline=None)
@given(coupled_problem())
def test_coupled_conditions_are_exact(problem):
    atoms, g, truth = problem
    domain = cond.sizes(H, g)
    v = cond.solve(atoms, domain)
    grid = [(h, w) for h in range(1, 31) for w in range(1, 31)
            if all(any(_value2(c.expr, h, w) >= 0 for c in atom) for atom in domain)]
    valid = {(h, w) for h, w in grid if truth(h, w)}
    if not grid:
        return  # no size makes the chain a size: an earlier layer fails, and the verdict is "unknown"
    assert v.status != "unknown", v
    if v.never:
        assert not valid
    elif v.always:
        assert valid == set(grid)
    else:
        example = (v.example.get("H", 1), v.example.get("W", 1))
        assert truth(*example), v
        if "…" not in v.condition:
            for h, w in grid:
                assert _holds(v.condition, H=h, W=w) == truth(h, w), (v.condition, h, w)


def test_sizes_read_as_a_person_writes_them():
    H, W = dims.symbol("H"), dims.symbol("W")
    assert dims.pretty(64 * sympy.floor((H - 4) / 2) * sympy.floor((W - 4) / 2)) == "64·⌊(H-4)/2⌋·⌊(W-4)/2⌋"
    # positive terms first: a padding of onnxruntime's SAME pooling, a difference of sizes
    assert dims.pretty(-H + 3 * sympy.ceiling(H / 3) - 1) == "3·⌈H/3⌉-H-1"
    assert dims.pretty(4 - H) == "4-H"
    assert dims.pretty(2 * W - H) == "2·W-H"


def test_a_finite_set_of_sizes_is_printed_whole():
    """No condition is cut with '…': runs read as ranges, a scattered set lists every member."""
    from convlint.core.conditions import SizeSet

    def text(values):
        return SizeSet(1, max(values) + 1, frozenset(values), frozenset()).describe("H")

    assert text([1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 17, 18, 30]) == "H <= 8 or H == 12 or 16 <= H <= 18 or H == 30"
    scattered = list(range(1, 9)) + list(range(12, 40, 3))
    assert text(scattered) == "H in {" + ", ".join(map(str, scattered)) + "}"
    assert "…" not in text(list(range(1, 200, 2)))
