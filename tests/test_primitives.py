"""The primitives (sigmoid, softplus, softmax, logsumexp): SymPy's diff through their fdiff is the derivative.

For each primitive and each argument it is differentiated by, ``sympy.diff`` through
the primitive (its ``fdiff``) must equal ``sympy.diff`` of its rewrite to exponentials:
symbolically (the difference cancels to 0), and numerically at random points (in
mpmath at 30 digits, against the rewrite's derivative and against mpmath's own
numerical derivative of the rewrite).  A hypothesis property test does the same at
points it chooses, and checks the identities the code generator relies on.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from derive.core import symbols as S
from derive.core.primitives import PRIMITIVES, indexed_softmax, logsumexp, relu, sigmoid, softmax, softplus, step

u, v, w = sp.symbols("u v w", real=True)

#: every primitive, applied to one, two or three arguments
APPLIED = [sigmoid(u), softplus(u), softmax(u, v), softmax(u, v, w), logsumexp(u, v), logsumexp(u, v, w)]
#: (applied primitive, argument) for every argument: each is differentiated by each of its arguments
CASES = [pytest.param(f, s, id=f"d{f}/d{s}") for f in APPLIED for s in f.args]


def exponentials(expr: sp.Expr) -> sp.Expr:
    """The expression with every primitive written out in exponentials."""
    return expr.rewrite(sp.exp)


def cancels(expr: sp.Expr) -> bool:
    return sp.cancel(sp.together(expr)) == 0


#: the primitives with a kink: no rewrite to exponentials, a derivative almost everywhere
KINKED = {relu, step}


def test_every_primitive_is_covered():
    assert PRIMITIVES == {
        "sigmoid": sigmoid,
        "softplus": softplus,
        "softmax": softmax,
        "logsumexp": logsumexp,
        "relu": relu,
        "step": step,
    }
    assert {type(f) for f in APPLIED} == set(PRIMITIVES.values()) - KINKED


def test_relu_and_its_derivative_the_step_almost_everywhere():
    assert sp.diff(relu(u), u) == step(u) and sp.diff(step(u), u) == 0
    assert relu(u).rewrite(sp.Max) == sp.Max(0, u) and step(u).rewrite(sp.Heaviside) == sp.Heaviside(u, 0)
    for point in (-2.5, -1e-3, 1e-3, 0.7, 3.0):  # away from the kink, the step is the slope of max(0, u)
        h = 1e-6
        slope = (max(0.0, point + h) - max(0.0, point - h)) / (2 * h)
        assert slope == pytest.approx(float(step(u).rewrite(sp.Heaviside).subs(u, point)))


@pytest.mark.parametrize(
    ("applied", "written_out"),
    [
        (sigmoid(u), 1 / (1 + sp.exp(-u))),
        (softplus(u), sp.log(1 + sp.exp(u))),
        (softmax(u, v), sp.exp(u) / (sp.exp(u) + sp.exp(v))),
        (softmax(u, v, w), sp.exp(u) / (sp.exp(u) + sp.exp(v) + sp.exp(w))),
        (logsumexp(u, v), sp.log(sp.exp(u) + sp.exp(v))),
        (logsumexp(u, v, w), sp.log(sp.exp(u) + sp.exp(v) + sp.exp(w))),
    ],
)
def test_rewrite_to_exponentials(applied, written_out):
    assert exponentials(applied) == written_out


@pytest.mark.parametrize(
    ("applied", "by", "derivative"),
    [
        (sigmoid(u), u, sigmoid(u) * (1 - sigmoid(u))),
        (softplus(u), u, sigmoid(u)),
        (softmax(u, v), u, softmax(u, v) * (1 - softmax(u, v))),
        (softmax(u, v), v, -softmax(u, v) * softmax(v, u)),
        (softmax(u, v, w), w, -softmax(u, v, w) * softmax(w, u, v)),
        (logsumexp(u, v), u, softmax(u, v)),
        (logsumexp(u, v, w), v, softmax(v, u, w)),
    ],
)
def test_derivative_in_terms_of_the_primitives(applied, by, derivative):
    """The derivative stays in the primitives (no exponentials written out): what the derivation prints."""
    assert sp.diff(applied, by) == derivative


@pytest.mark.parametrize(("applied", "by"), CASES)
def test_diff_through_the_primitive_is_diff_of_its_rewrite(applied, by):
    through = sp.diff(applied, by)
    assert not through.has(sp.Derivative)
    assert cancels(exponentials(through) - sp.diff(exponentials(applied), by))


@pytest.mark.parametrize(("applied", "by"), CASES)
def test_second_derivatives(applied, by):
    assert cancels(exponentials(sp.diff(applied, by, 2)) - sp.diff(exponentials(applied), by, 2))


@pytest.mark.parametrize(
    "composite",
    [
        softplus(2 * u**2 - v),
        sigmoid(softplus(u) * v),
        softmax(u, u + v, w),
        logsumexp(sigmoid(u), u * v),
        softplus(-u) + u * sigmoid(u) - logsumexp(u, -u),
    ],
    ids=str,
)
def test_chain_rule_through_composites(composite):
    """Arguments that are expressions, and a variable in several arguments: SymPy's chain rule via fdiff."""
    for by in (u, v):
        assert cancels(exponentials(sp.diff(composite, by)) - sp.diff(exponentials(composite), by))


def test_indexed_softmax():
    assert indexed_softmax(S.z, S.j, S.m, S.K) == sp.exp(S.z[S.j]) / sp.Sum(sp.exp(S.z[S.m]), (S.m, 1, S.K))
    two = indexed_softmax(S.z, 1, S.m, 2).doit()
    assert cancels(two - exponentials(softmax(S.z[1], S.z[2])))


# --------------------------------------------------------------------------- numerically

#: the working precision of the numerical checks, in decimal digits (set locally: mpmath's precision is global)
DIGITS = 30


def numeric(expr: sp.Expr, point: dict) -> mpmath.mpf:
    """The value at ``point`` in mpmath, with the primitives written out (lambdify knows only exp and log)."""
    with mpmath.workdps(DIGITS):
        return +sp.lambdify(list(point), exponentials(expr), "mpmath")(*map(mpmath.mpf, point.values()))


def close(value, expected, digits: int = 25) -> bool:
    with mpmath.workdps(DIGITS):
        eps = mpmath.mpf(10) ** -digits
        return mpmath.almosteq(value, expected, rel_eps=eps, abs_eps=eps)


def agrees_numerically(applied: sp.Expr, by: sp.Symbol, point: dict) -> None:
    """At ``point``: diff through the primitive == diff of the rewrite == mpmath's numerical derivative."""
    through = numeric(sp.diff(applied, by), point)
    rewritten = numeric(sp.diff(exponentials(applied), by), point)
    f = sp.lambdify(list(point), exponentials(applied), "mpmath")
    with mpmath.workdps(DIGITS):
        at = {s: mpmath.mpf(value) for s, value in point.items()}
        numerical = mpmath.diff(lambda t: f(*(t if s == by else at[s] for s in at)), at[by])
        assert close(through, rewritten)
        assert close(through, numerical, digits=15)


@pytest.mark.parametrize(("applied", "by"), CASES)
def test_numerically_at_random_points(applied, by):
    rng = np.random.default_rng(sum(map(ord, f"{applied}{by}")))
    for _ in range(5):
        point = {s: float(value) for s, value in zip((u, v, w), rng.uniform(-8, 8, size=3))}
        agrees_numerically(applied, by, {s: point[s] for s in (u, v, w) if s in applied.free_symbols})


reals = st.floats(-40, 40, allow_nan=False, allow_infinity=False)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(st.sampled_from(range(len(CASES))), reals, reals, reals)
def test_property_derivatives_agree_anywhere(case, p, q, r):
    applied, by = CASES[case].values
    point = {s: value for s, value in zip((u, v, w), (p, q, r)) if s in applied.free_symbols}
    agrees_numerically(applied, by, point)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(reals, reals, reals)
def test_property_identities(p, q, r):
    """sigma(u) + sigma(-u) = 1, softplus(u) - softplus(-u) = u, the softmax shares sum to 1,
    logsumexp is shifted by a common shift, and d logsumexp / du is the softmax share."""
    point = {u: p, v: q, w: r}
    assert close(numeric(sigmoid(u) + sigmoid(-u), point), 1)
    assert close(numeric(softplus(u) - softplus(-u), point), mpmath.mpf(p))
    assert close(numeric(softmax(u, v, w) + softmax(v, u, w) + softmax(w, u, v), point), 1)
    assert close(numeric(logsumexp(u + 3, v + 3, w + 3) - logsumexp(u, v, w), point), 3)
    assert close(numeric(sp.diff(logsumexp(u, v, w), u), point), numeric(softmax(u, v, w), point))
