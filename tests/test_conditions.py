"""The condition solver against brute force: the sets of sizes it computes exactly are checked size by size."""

from __future__ import annotations

import sympy
from hypothesis import given, settings, strategies as st

from convlint import conditions as cond
from convlint import dims

H, W = dims.symbol("H"), dims.symbol("W")


def _chain(draw, sym):
    """A random window-arithmetic chain (convolutions, poolings in ceil mode too, upsamplings), as a dim and as
    plain integer arithmetic on the size, to check the dim against."""
    d, steps = sym, []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["window", "ceil", "up", "add"]))
        if kind == "up":
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
    valid, dom = cond._solve_single(H, [atom], domain)
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
    assert (v.status, v.condition, v.example_text()) == ("some", "⌊(H−4)/2⌋·⌊(W−4)/2⌋ = 144", "H = W = 28")
    assert cond.solve([cond.eq(features, 9217)], cond.sizes(features)).never
    assert cond.solve([cond.eq(features, 64 * 7 * 11)], cond.sizes(features)).example_text() == "H = 18, W = 26"


def test_window_lower_bound_after_downsampling():
    d = H
    for _ in range(5):
        d = dims.add(dims.floordiv(dims.sub(d, 2), 2), 1)
    v = cond.solve([cond.ge(d, 1)], cond.sizes(H))
    assert (v.status, v.condition, v.example["H"]) == ("some", "H >= 32", 32)


def test_separate_symbols_and_coupled_ones():
    v = cond.solve([cond.eq(H, dims.mul(2, dims.floordiv(H, 2))), cond.eq(W, dims.mul(4, dims.floordiv(W, 4)))])
    assert (v.condition, v.example_text()) == ("H % 2 == 0 and W % 4 == 0", "H = 2, W = 4")
    assert cond.solve([cond.eq(H, W)]).status == "unknown"
    assert cond.solve([cond.eq(dims.add(H, 1), H)]).never
    assert cond.solve([cond.ge(H, 1)]).always
