"""The generic derivation: exact closed forms, exact factors, the rule sequence, step soundness."""

import numpy as np
import pytest
import sympy as sp

from derive.core import symbols as S
from derive.core.derivation import CHAIN, FACTOR, MAIN, derive, gradients
from derive.printing.text import equation, text
from derive.verify.checking import check_steps


@pytest.mark.parametrize(
    "wrt, assume, expected",
    [
        ("W", True, "dH/dW_ij = -(P_j - a_j)*x_i"),
        ("b", True, "dH/db_j = -(P_j - a_j)"),
        ("W", False, "dH/dW_ij = -(P_j - a_j*Sum(P_k, (k, 1, K)))*x_i"),
        ("b", False, "dH/db_j = -(P_j - a_j*Sum(P_k, (k, 1, K)))"),
    ],
)
def test_closed_form(wrt, assume, expected):
    d = derive("softmax", wrt, assume)
    assert equation(d.lhs, d.result) == expected


def test_closed_form_is_the_textbook_value():
    result = derive("softmax", "W").result
    assert sp.expand(result - (S.a[S.j] - S.P[S.j]) * S.x[S.i]) == 0


@pytest.mark.parametrize(
    "lhs, expected",
    [
        (sp.Derivative(S.H, S.a[S.k]), "-P_k/a_k"),
        (sp.Derivative(S.a[S.k], S.z[S.j]), "(delta_jk - a_j)*a_k"),
        (sp.Derivative(S.z[S.j], S.W[S.i, S.j]), "x_i"),
    ],
)
def test_chain_rule_factors(lhs, expected):
    assert text(derive("softmax", "W").factor(lhs)) == expected


def test_bias_factor_is_one():
    assert derive("softmax", "b").factor(sp.Derivative(S.z[S.j], S.b[S.j])) == 1


def test_softmax_jacobian_diagonal_and_off_diagonal():
    jacobian = derive("softmax", "W").factor(sp.Derivative(S.a[S.k], S.z[S.j]))
    assert sp.expand(jacobian.subs(S.k, S.j) - S.a[S.j] * (1 - S.a[S.j])) == 0
    off = jacobian.subs({S.k: 1, S.j: 2})
    assert off == -S.a[1] * S.a[2]


def test_rule_sequence_of_the_main_line():
    rules = [s.rule for s in derive("softmax", "W").steps if s.kind == MAIN]
    assert rules == [
        "substitute_factors",
        "evaluate_product",
        "split_sum",
        "collapse_delta",
        "index_in_range",
        "factor_out_of_sum",
        "labels_sum_to_one",
        "factor",
        "label_first",
    ]


def test_assumption_is_a_named_step_that_disappears_when_switched_off():
    on, off = derive("softmax", "W", True), derive("softmax", "W", False)
    rules_on = [s.rule for s in on]
    assert rules_on.count("labels_sum_to_one") == 1
    assert [r for r in rules_on if r != "labels_sum_to_one"] == [s.rule for s in off]
    assert on.assumptions == ("labels_sum_to_one",) and off.assumptions == ()


def test_step_kinds_and_justifications():
    d = derive("softmax", "W")
    assert d.steps[0].kind == CHAIN
    assert {s.kind for s in d.steps} == {CHAIN, FACTOR, MAIN}
    assert all(s.justification and s.lhs is not None for s in d.steps)


def test_every_step_is_derived_not_typed():
    """The first main step is the unevaluated product of the three derived factors."""
    d = derive("softmax", "W")
    product = next(s for s in d.steps if s.rule == "substitute_factors").rhs
    assert isinstance(product, sp.Sum)
    factors = {d.factor(lhs) for lhs in (sp.Derivative(S.H, S.a[S.k]), sp.Derivative(S.a[S.k], S.z[S.j]))}
    assert factors <= set(product.function.args)


@pytest.mark.parametrize("assume", [True, False])
@pytest.mark.parametrize("wrt", ["W", "b"])
@pytest.mark.parametrize("classes, features", [(1, 1), (2, 2), (3, 4), (4, 1), (2, 5)])
def test_every_step_keeps_the_value(wrt, assume, classes, features):
    for seed in range(3):
        checks = check_steps(derive("softmax", wrt, assume), classes, features, np.random.default_rng(seed))
        assert len(checks) >= 15
        bad = [(c.step.rule, c.value, c.reference) for c in checks if not c.ok]
        assert not bad


def test_a_wrong_step_would_be_caught():
    """Step soundness can fail: the assumption step at unnormalised labels changes the value."""
    d = derive("softmax", "W", True)
    from derive.core.models import SOFTMAX
    from derive.verify.checking import StepCheck, finite_difference, random_inputs, valuation, value

    rng = np.random.default_rng(5)
    inputs = random_inputs(SOFTMAX, 3, 2, rng, normalised=False)
    values = valuation(SOFTMAX, 3, 2, inputs)
    indices = {S.i: 1, S.j: 2, S.k: 1}
    ref = finite_difference(SOFTMAX, d.lhs, 3, 2, inputs, indices)
    assert not StepCheck(d.steps[-1], value(d.result, 3, 2, values, indices), ref).ok


def test_gradients_are_in_parameter_order():
    assert [d.wrt for d in gradients()] == [S.W[S.i, S.j], S.b[S.j]]


def test_unknown_parameter_and_model():
    with pytest.raises(KeyError, match="known: W, b"):
        derive("softmax", "V")
    with pytest.raises(KeyError, match="known: linear, logistic, softmax"):
        derive("nope", "W")
