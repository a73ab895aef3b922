"""Each rewrite rule on its own, input -> expected output compared exactly, and the combinators that apply them.

The engine's table (``derive.core.rules.RULES``) and its factories (``lead_with``,
``name_quantity``, ``substitute``), then the code generator's rewrites
(``STABILISE``, ``CONTIGUOUS``, ``ECONOMISE`` in ``derive.codegen.rewrites``): every
rule gets a table of cases, one of them with its pattern absent (the expression comes
back unchanged, and nothing is logged).  Last, the combinators of
``derive.core.strategies``: chain order and flattening, exhaust's limit, run's log.
"""

from __future__ import annotations

import pytest
import sympy as sp

from derive.codegen import rewrites as RW
from derive.codegen.arrays import (
    A,
    Contiguous,
    Dot,
    Grouped,
    Inner,
    MaxOver,
    P,
    Sh,
    SumOver,
    Total,
    Transposed,
    X,
    Z,
    y,
)
from derive.core import symbols as S
from derive.core.primitives import indexed_softmax, sigmoid, softplus
from derive.core.rules import COLLAPSE, LABEL_TOTAL, RULES, SIMPLIFY, WrittenSum, lead_with, name_quantity, substitute
from derive.core.strategies import Applied, Chain, Exhaust, Rule, chain, exhaust, run, where
from derive.printing.numpy import numpy_code
from derive.printing.text import text

a, x, W, z, K, d = S.a, S.x, S.W, S.z, S.K, S.d
i, j, k, l, m = S.i, S.j, S.k, S.l, S.m
Pj, Pk, aj, xi = S.P[j], S.P[k], S.a[j], S.x[i]


def changes_once(rule, before, after) -> None:
    """``rule(before) == after`` exactly, and the log holds one record (with ``after``) iff it changed."""
    result, applied = run(rule, before)
    assert result == after
    if after == before:
        assert applied == ()
    else:
        assert applied == (Applied(rule, after),)


# --------------------------------------------------------------------------- the engine's rule table

#: rule name -> [(before, after)]; a case with after == before has the rule's pattern absent
ENGINE = {
    "evaluate_product": [
        (sp.Mul(2, xi, 3, evaluate=False), 6 * xi),
        (sp.Sum(sp.Mul(Pk, 2, Pk, evaluate=False), (k, 1, K)), sp.Sum(2 * Pk**2, (k, 1, K))),
        (aj - Pj, aj - Pj),
    ],
    "split_sum": [
        (sp.Sum(Pk * (aj + xi), (k, 1, K)), sp.Sum(Pk * aj, (k, 1, K)) + sp.Sum(Pk * xi, (k, 1, K))),
        ((aj - Pj) * xi, aj * xi - Pj * xi),
        (sp.Sum(Pk, (k, 1, K)), sp.Sum(Pk, (k, 1, K))),
    ],
    "collapse_delta": [
        (sp.Sum(Pk * sp.KroneckerDelta(k, j), (k, 1, K)), sp.Piecewise((Pj, K >= j), (0, True))),
        (sp.Sum(x[l] * sp.KroneckerDelta(i, l), (l, 1, d)), sp.Piecewise((xi, d >= i), (0, True))),
        (aj * xi, aj * xi),
    ],
    "index_in_range": [
        (sp.Piecewise((Pj, K >= j), (0, True)), Pj),
        (aj * sp.Piecewise((xi, d >= i), (0, True)), aj * xi),
        (sp.Piecewise((xi, K >= i), (0, True)), sp.Piecewise((xi, K >= i), (0, True))),  # i runs to d, not K
        (sp.Piecewise((xi, d >= i), (1, True)), sp.Piecewise((xi, d >= i), (1, True))),  # not 0 outside
    ],
    "factor_out_of_sum": [
        (sp.Sum(aj * Pk, (k, 1, K)), aj * sp.Sum(Pk, (k, 1, K))),
        (sp.Sum(2 * aj * xi * Pk, (k, 1, K)), 2 * aj * xi * sp.Sum(Pk, (k, 1, K))),
        (sp.Sum(Pk * a[k], (k, 1, K)), sp.Sum(Pk * a[k], (k, 1, K))),
    ],
    "cancel": [
        ((aj**2 - aj) / aj, aj - 1),
        ((Pj * xi - xi) / (Pj - 1), xi),
        # not touched when a sum is present (SymPy's cancel is slow and unreliable there)
        ((aj**2 - aj) * sp.Sum(Pk, (k, 1, K)) / aj, (aj**2 - aj) * sp.Sum(Pk, (k, 1, K)) / aj),
        (aj - Pj, aj - Pj),
    ],
    "factor": [
        (aj * xi - Pj * xi, (aj - Pj) * xi),
        (2 * aj - 2 * Pj, sp.Mul(2, aj - Pj, evaluate=False)),
        (aj - Pj, aj - Pj),
    ],
    "expand": [
        ((aj - Pj) * xi, aj * xi - Pj * xi),
        ((aj + 1) ** 2, aj**2 + 2 * aj + 1),
        (aj * xi, aj * xi),
    ],
}
ENGINE_CASES = [pytest.param(n, b, a, id=f"{n}: {b}") for n, rows in ENGINE.items() for b, a in rows]


def test_every_rule_of_the_table_has_cases_and_an_absent_pattern():
    assert list(ENGINE) == list(RULES)
    for name, rows in ENGINE.items():
        assert RULES[name].name == name and RULES[name].justification
        assert any(before == after for before, after in rows), name
        assert any(before != after for before, after in rows), name


@pytest.mark.parametrize(("name", "before", "after"), ENGINE_CASES)
def test_engine_rule(name, before, after):
    changes_once(RULES[name], before, after)


def test_justifications_name_their_terms():
    assert RULES["collapse_delta"].terms == (sp.KroneckerDelta(k, j),)
    assert RULES["index_in_range"].terms == (K, d)
    assert RULES["index_in_range"].justification.format(*RULES["index_in_range"].terms) == (
        "the index lies in its range (1 to K for classes, 1 to d for features)"
    )


def test_named_orders():
    assert [r.name for r in COLLAPSE] == ["collapse_delta", "index_in_range"]
    assert [r.name for r in SIMPLIFY] == [
        "evaluate_product",
        "cancel",
        "split_sum",
        "collapse_delta",
        "index_in_range",
        "factor_out_of_sum",
    ]
    assert [r.name for r in LABEL_TOTAL] == [
        "split_sum",
        "collapse_delta",
        "index_in_range",
        "factor_out_of_sum",
        "collapse_delta",
        "cancel",
    ]
    assert COLLAPSE(sp.Sum(Pk * sp.KroneckerDelta(k, j), (k, 1, K))) == Pj


# --------------------------------------------------------------------------- the factories

LABEL_FIRST = lead_with(S.P)
LABEL_FIRST_Y = lead_with(S.y)
PREDICTION_FIRST = lead_with(S.yhat, "prediction_first", "the prediction")


@pytest.mark.parametrize(
    ("rule", "before", "printed"),
    [
        (LABEL_FIRST, (aj - Pj) * xi, "-(P_j - a_j)*x_i"),
        (LABEL_FIRST, aj - Pj, "-(P_j - a_j)"),
        (LABEL_FIRST, Pj - aj, "P_j - a_j"),
        (LABEL_FIRST, (aj * S.label_total() - Pj) * xi, "-(P_j - a_j*Sum(P_k, (k, 1, K)))*x_i"),
        (LABEL_FIRST_Y, S.sigma - S.y, "-(y - sigma)"),
        (LABEL_FIRST_Y, (S.sigma - S.y) * xi, "-(y - sigma)*x_i"),
        (PREDICTION_FIRST, S.y - S.yhat, "-(yhat - y)"),
        (PREDICTION_FIRST, (S.y - S.yhat) * xi, "-(yhat - y)*x_i"),
    ],
)
def test_lead_with_writes_the_lead_first(rule, before, printed):
    after = rule(before)
    assert text(after) == printed
    assert after.atoms(WrittenSum) or isinstance(after, WrittenSum)
    assert sp.expand(after - before) == 0


@pytest.mark.parametrize(
    "before",
    [aj * xi, (aj - Pj) * (aj - Pj + 1), S.sigma * xi],  # no difference; two of them; no label
    ids=["no-difference", "two-differences", "no-label"],
)
def test_lead_with_without_its_pattern(before):
    changes_once(LABEL_FIRST, before, before)


def test_lead_with_names():
    assert (LABEL_FIRST.name, LABEL_FIRST.justification) == (
        "label_first",
        "write the difference with the label first, as the textbook does",
    )
    assert (PREDICTION_FIRST.name, PREDICTION_FIRST.justification) == (
        "prediction_first",
        "write the difference with the prediction first, as the textbook does",
    )


SOFTMAX = indexed_softmax(z, k, m, K)
NAME_A = name_quantity(a[k], SOFTMAX, k, "name the softmax output: {0} = {1}", (a[k], SOFTMAX))
DENOMINATOR = sp.Sum(sp.exp(z[m]), (m, 1, K))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (sp.exp(z[j]) / DENOMINATOR, aj),
        (xi * sp.exp(z[j]) / DENOMINATOR - Pj * xi, aj * xi - Pj * xi),
        (sp.exp(z[j]) * sp.exp(z[k]) / DENOMINATOR**2, aj * a[k]),
        (sp.exp(z[j]), aj * DENOMINATOR),  # a numerator left alone: a_j times the denominator, exactly
        (aj * xi, aj * xi),
        (sp.exp(xi) / DENOMINATOR, sp.exp(xi) / DENOMINATOR),  # not a logit
    ],
)
def test_name_quantity(before, after):
    changes_once(NAME_A, before, after)
    assert (NAME_A.name, NAME_A.terms) == ("name_a", (a[k], SOFTMAX))


def test_name_quantity_with_another_dummy_index():
    assert NAME_A(sp.exp(z[j]) / sp.Sum(sp.exp(z[l]), (l, 1, K))) == aj


LABELS_SUM_TO_ONE = substitute("labels_sum_to_one", S.label_total(), sp.Integer(1), "{0} = 1", (S.label_total(),))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (aj * sp.Sum(Pk, (k, 1, K)) - Pj, aj - Pj),
        (aj * sp.Sum(S.P[m], (m, 1, K)), aj),  # whatever the dummy index is called
        (sp.Sum(Pk, (k, 1, d)), sp.Sum(Pk, (k, 1, d))),  # another range
        (sp.Sum(Pk * a[k], (k, 1, K)), sp.Sum(Pk * a[k], (k, 1, K))),  # another summand
    ],
)
def test_substitute(before, after):
    changes_once(LABELS_SUM_TO_ONE, before, after)


def test_substitute_a_plain_subexpression():
    name_sigma = substitute("name_sigma", sp.exp(-S.logit), (1 - S.sigma) / S.sigma, "sigma = 1/(1 + exp(-z))")
    changes_once(name_sigma, 1 / (1 + sp.exp(-S.logit)), 1 / (1 + (1 - S.sigma) / S.sigma))
    changes_once(name_sigma, sp.exp(S.logit), sp.exp(S.logit))


# --------------------------------------------------------------------------- the code generator's rewrites

STABILISE = {rule.name: rule for rule in RW.STABILISE.rules}
ECONOMISE = {rule.name: rule for rule in RW.ECONOMISE.rules}
T = SumOver(sp.exp(Sh), 0)  # the class sum of the shifted exponentials
M = MaxOver(Z, 0)
Pc = Contiguous(Transposed(P))

#: rule name -> [(before, after)], compared exactly; each row is also printed to NumPy to show the code
CODEGEN = {
    "name_sigmoid": [
        (1 / (1 + sp.exp(-Z)), sigmoid(Z)),
        ((1 / (1 + sp.exp(-Z)) - y) * X, (sigmoid(Z) - y) * X),
        (1 / (1 + sp.exp(Z)), sigmoid(-Z)),
        (sp.exp(Z), sp.exp(Z)),
    ],
    "sigmoid_complement": [
        (1 - sigmoid(Z), sigmoid(-Z)),
        (y * sp.log(1 - sigmoid(Z)), y * sp.log(sigmoid(-Z))),
        (2 - sigmoid(Z), 2 - sigmoid(Z)),
    ],
    "log_sigmoid": [
        (sp.log(sigmoid(Z)), -softplus(-Z)),
        (sp.log(sigmoid(-Z)), -softplus(Z)),
        (
            Total(-y * sp.log(sigmoid(Z)) - (1 - y) * sp.log(sigmoid(-Z))),
            Total(y * softplus(-Z) + (1 - y) * softplus(Z)),
        ),
        (sp.log(Z), sp.log(Z)),
    ],
    "softplus_reflect": [
        (Total(y * softplus(-Z) + (1 - y) * softplus(Z)), Total(Z * (1 - y) + softplus(-Z))),
        (Total(softplus(Z) + softplus(-Z)), Total(Z + 2 * softplus(-Z))),
        (softplus(Z), softplus(Z)),  # only where both signs occur
    ],
    "sigmoid_by_softplus": [
        (sigmoid(Z) - y, sp.exp(-softplus(-Z)) - y),
        (sigmoid(-Z), sp.exp(-softplus(Z))),
        (y, y),
    ],
    "shift_by_max": [
        (sp.exp(Z) / SumOver(sp.exp(Z), 0), sp.exp(M) * sp.exp(Sh) / SumOver(sp.exp(M) * sp.exp(Sh), 0)),
        (sp.exp(Sh), sp.exp(Sh)),
        (sp.exp(-Z), sp.exp(-Z)),  # only exp(Z) itself
    ],
    "max_out_of_class_sum": [
        (sp.exp(M) * sp.exp(Sh) / SumOver(sp.exp(M) * sp.exp(Sh), 0), sp.exp(Sh) / T),
        (SumOver(sp.exp(M) * Pc * sp.exp(Sh), 0), sp.exp(M) * SumOver(Pc * sp.exp(Sh), 0)),
        (T, T),
        (SumOver(P * sp.exp(Sh), 1), SumOver(P * sp.exp(Sh), 1)),  # not the class axis
    ],
    "log_of_quotient": [
        (sp.log(sp.exp(Sh) / T), Sh - sp.log(T)),
        (Inner(Pc, sp.log(sp.exp(Sh) / T)), Inner(Pc, Sh - sp.log(T))),
        (sp.log(T), sp.log(T)),
        (sp.log(X * y), sp.log(X * y)),  # no exponential inside: not split (log(X y) = log X + log y needs signs)
        (sp.log(2 * sp.exp(Sh) / T**2), Sh + sp.log(2) - 2 * sp.log(T)),
    ],
    "contiguous": [
        (Inner(Transposed(P), Sh), Inner(Pc, Sh)),
        (Dot(Transposed(X), Transposed(A - Transposed(P))), Dot(Transposed(X), Transposed(A - Pc))),
        (Dot(Transposed(X), Transposed(P)), Dot(Transposed(X), Transposed(P))),  # BLAS takes P.T as it is
        (Inner(Sh, Sh), Inner(Sh, Sh)),
    ],
    "row_constants_first": [
        (sp.exp(Sh) * SumOver(Pc, 0) / T, sp.exp(Sh) * Grouped(SumOver(Pc, 0) / T)),
        (Sh * sp.exp(Sh), Sh * sp.exp(Sh)),  # nothing constant per sample
        (SumOver(Pc, 0) / T, SumOver(Pc, 0) / T),  # nothing that varies over the classes
    ],
    "split_inner": [
        (Inner(Pc, Sh - sp.log(T)), Inner(Pc, Sh) - Inner(SumOver(Pc, 0), sp.log(T))),
        (Inner(Sh - sp.log(T), Pc), Inner(Pc, Sh) - Inner(SumOver(Pc, 0), sp.log(T))),
        (Inner(Pc, Sh + sp.log(T)), Inner(Pc, Sh) + Inner(SumOver(Pc, 0), sp.log(T))),
        (Inner(Pc, Sh), Inner(Pc, Sh)),
    ],
}
CODEGEN_RULES = {**STABILISE, "contiguous": RW.CONTIGUOUS, **ECONOMISE}
CODEGEN_CASES = [pytest.param(n, b, a, id=f"{n}: {b}") for n, rows in CODEGEN.items() for b, a in rows]


def test_every_codegen_rewrite_has_cases_and_an_absent_pattern():
    assert list(CODEGEN) == [*STABILISE, "contiguous", *ECONOMISE]
    assert [r.name for r in RW.KERNEL] == [*STABILISE, "contiguous", *STABILISE, *ECONOMISE]
    for name, rows in CODEGEN.items():
        assert any(before == after for before, after in rows), name
        assert any(before != after for before, after in rows), name


@pytest.mark.parametrize(("name", "before", "after"), CODEGEN_CASES)
def test_codegen_rewrite(name, before, after):
    changes_once(CODEGEN_RULES[name], before, after)


def test_contiguous_is_idempotent():
    assert RW.CONTIGUOUS(Inner(Pc, Sh)) == Inner(Pc, Sh)
    once = RW.CONTIGUOUS(Inner(Transposed(P), Sh) + Total(Transposed(P)))
    assert RW.CONTIGUOUS(once) == once == Inner(Pc, Sh) + Total(Pc)


@pytest.mark.parametrize(
    ("name", "before", "code"),
    [
        ("log_sigmoid", sp.log(sigmoid(Z)), "-np.logaddexp(0, -Z)"),
        ("softplus_reflect", Total(y * softplus(-Z) + (1 - y) * softplus(Z)), "(Z * (1 - y) + np.logaddexp(0, -Z)).sum()"),
        ("sigmoid_by_softplus", sigmoid(Z) - y, "np.exp(-np.logaddexp(0, -Z)) - y"),
        ("max_out_of_class_sum", sp.exp(M) * sp.exp(Sh) / SumOver(sp.exp(M) * sp.exp(Sh), 0), "np.exp(S) / np.exp(S).sum(axis=0)"),
        ("log_of_quotient", sp.log(sp.exp(Sh) / T), "S - np.log(np.exp(S).sum(axis=0))"),
        ("contiguous", Inner(Transposed(P), Sh), "np.vdot(np.ascontiguousarray(P.T), S)"),
        ("row_constants_first", sp.exp(Sh) * SumOver(Pc, 0) / T, "(np.ascontiguousarray(P.T).sum(axis=0) / np.exp(S).sum(axis=0)) * np.exp(S)"),
        ("split_inner", Inner(Pc, Sh - sp.log(T)), "np.vdot(np.ascontiguousarray(P.T), S) - np.vdot(np.ascontiguousarray(P.T).sum(axis=0), np.log(np.exp(S).sum(axis=0)))"),
    ],
)  # fmt: skip
def test_codegen_rewrite_prints_as(name, before, code):
    assert numpy_code(CODEGEN_RULES[name](before)) == code


def test_fired_lists_the_rules_that_changed_something():
    naive = sp.log(sp.exp(Z) / SumOver(sp.exp(Z), 0))
    assert [r.name for r in RW.fired(naive)] == ["shift_by_max", "max_out_of_class_sum", "log_of_quotient"]
    assert RW.STABILISE(naive) == Sh - sp.log(T)
    assert RW.fired(Sh) == ()


@pytest.mark.parametrize(
    ("arg", "bounded"),
    [(Sh, True), (-softplus(-Z), True), (-softplus(Z), True), (Z, False), (-Sh, False), (softplus(Z), False)],
)
def test_bounded_exponent(arg, bounded):
    assert RW.bounded_exponent(arg) is bounded


# --------------------------------------------------------------------------- the combinators

u = sp.Symbol("u")
DOUBLE = Rule("double", "u -> 2u", lambda e: 2 * e)
PLUS_ONE = Rule("plus_one", "u -> u + 1", lambda e: e + 1)
NOTHING = Rule("nothing", "changes nothing", lambda e: e)
HALVE = Rule("halve", "n -> n/2 for even n", lambda n: n / 2 if n.is_even else n)


def test_chain_applies_in_order():
    assert chain(DOUBLE, PLUS_ONE)(u) == 2 * u + 1
    assert chain(PLUS_ONE, DOUBLE)(u) == 2 * u + 2
    assert chain()(u) == u


def test_chain_flattens_nested_chains():
    inner = chain(DOUBLE, PLUS_ONE)
    outer = chain(NOTHING, inner, chain(chain(HALVE)))
    assert outer == Chain((NOTHING, DOUBLE, PLUS_ONE, HALVE))
    assert outer.rules == (NOTHING, DOUBLE, PLUS_ONE, HALVE) == tuple(outer)
    nested_exhaust = chain(exhaust(inner, limit=2), NOTHING)
    assert nested_exhaust.strategies == (Exhaust(inner, 2), NOTHING)  # an Exhaust is kept whole
    assert nested_exhaust.rules == (DOUBLE, PLUS_ONE, NOTHING)


@pytest.mark.parametrize(("limit", "result"), [(0, 24), (1, 12), (2, 6), (3, 3), (4, 3), (10, 3)])
def test_exhaust_stops_at_its_limit_or_when_nothing_changes(limit, result):
    value, applied = run(exhaust(HALVE, limit=limit), sp.Integer(24))
    assert value == result
    assert [a.result for a in applied] == [12, 6, 3][: min(limit, 3)]


def test_exhaust_stops_as_soon_as_nothing_changes():
    calls = []
    counting = Rule("count", "", lambda e: calls.append(e) or e)
    assert exhaust(counting, limit=10)(u) == u and calls == [u]
    assert exhaust(DOUBLE, limit=3)(u) == 8 * u  # never stable: the limit ends it
    assert exhaust(DOUBLE).limit == 10 and exhaust(DOUBLE).rules == (DOUBLE,)


def test_run_logs_only_the_rules_that_changed_the_expression():
    result, applied = run(chain(NOTHING, DOUBLE, NOTHING, PLUS_ONE, HALVE), u)
    assert result == 2 * u + 1
    assert applied == (Applied(DOUBLE, 2 * u), Applied(PLUS_ONE, 2 * u + 1))
    assert run(NOTHING, u) == (u, ())


def test_a_rule_logs_only_into_a_list_it_is_given():
    log: list[Applied] = []
    assert DOUBLE(u) == 2 * u and DOUBLE(u, None) == 2 * u
    assert DOUBLE(u, log) == 2 * u and log == [Applied(DOUBLE, 2 * u)]
    assert DOUBLE.rules == (DOUBLE,)


def test_where_rewrites_every_matching_subexpression_bottom_up():
    square_logs = where(lambda e: isinstance(e, sp.log), lambda e: sp.log(e.args[0] ** 2))
    assert square_logs(sp.log(sp.log(u)) + sp.log(2)) == sp.log(sp.log(u**2) ** 2) + sp.log(4)
    assert square_logs(u + 1) == u + 1
