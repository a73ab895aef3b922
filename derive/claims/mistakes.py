"""Named mistakes: the wrong formulas people write, each built from the engine's own derivation.

Each entry of :data:`MISTAKES` is an explanation and a function that builds the
wrong formula for a model and parameter (or None where the mistake cannot be
made): only the diagonal of the softmax Jacobian, delta_kj taken as 1, the sign,
the missing x_i, the L2 term missing or doubled, the 1/2 of the squared error
forgotten.  :func:`explain` names the first one a claim equals.
"""

from __future__ import annotations

import sympy as sp

from derive.claims.claim import Claim
from derive.claims.compare import numeric_mismatch
from derive.claims.normal_form import normal_form
from derive.core import rules
from derive.core import symbols as S
from derive.core.derivation import derive
from derive.core.models import Model
from derive.printing.text import text


def chain_summand(model: Model, parameter: sp.Indexed) -> tuple[sp.Expr, sp.Symbol]:
    """The summand of the chain rule Sum_k dH/da_k * da_k/dz_j * dz_j/dtheta, with its index k."""
    derivation = derive(model, parameter, False)
    product = next(s.rhs for s in derivation.steps if s.rule == "substitute_factors")
    ((index, _, _),) = product.limits
    return rules.RULES["evaluate_product"](product.function), index


def _parts(model: Model, parameter: sp.Basic) -> tuple[sp.Expr, sp.Expr]:
    """(dL/dtheta of the data term, dR/dtheta of the penalty; 0 without one)."""
    derivation = derive(model, parameter, False)
    return derivation.data_result, derivation.penalty_result


def diagonal_only(model: Model, parameter: sp.Indexed) -> sp.Expr | None:
    """Only the k = j term of the chain rule: -P_j (1 - a_j) x_i."""
    if model.output_index is None:
        return None
    summand, index = chain_summand(model, parameter)
    return summand.subs(index, parameter.indices[-1])


def delta_as_one(model: Model, parameter: sp.Indexed) -> sp.Expr | None:
    """da_k/dz_j taken as a_k (1 - a_j) for every k."""
    if model.output_index is None:
        return None
    summand, index = chain_summand(model, parameter)
    return sp.Sum(summand.replace(lambda e: isinstance(e, sp.KroneckerDelta), lambda e: sp.Integer(1)), (index, 1, S.K))


def wrong_sign(model: Model, parameter: sp.Indexed) -> sp.Expr:
    """The data term with the wrong sign (the penalty as it is)."""
    data, penalty = _parts(model, parameter)
    return -data + penalty


def missing_input(model: Model, parameter: sp.Indexed) -> sp.Expr | None:
    """dH/dW_ij (or dH/dw_i) without its factor x_i = dz/dW_ij."""
    if not isinstance(parameter, sp.Indexed) or S.i not in parameter.indices:
        return None
    data, penalty = _parts(model, parameter)
    return data / S.x[S.i] + penalty


def missing_penalty(model: Model, parameter: sp.Basic) -> sp.Expr | None:
    """The data term alone: the L2 term lambda W_ij is missing."""
    data, penalty = _parts(model, parameter)
    return data if penalty != 0 else None


def doubled_penalty(model: Model, parameter: sp.Basic) -> sp.Expr | None:
    """2 lambda W_ij: the derivative of lambda Sum W^2, not of (lambda/2) Sum W^2."""
    data, penalty = _parts(model, parameter)
    return data + 2 * penalty if penalty != 0 else None


def doubled_data(model: Model, parameter: sp.Basic) -> sp.Expr | None:
    """2 (yhat - y) x_i: the derivative of (yhat - y)^2, without the convention's 1/2."""
    if model.label_kind != "real":
        return None
    data, penalty = _parts(model, parameter)
    return 2 * data + penalty


#: (explanation, the wrong formula it describes): checked in order, the first match is reported.  The
#: explanations are templates in the model's own notation: {dz} is dz/d(weight), {w} the weight, {W} its name
MISTAKES = (
    (
        "the k != j terms of the chain rule are missing: only the diagonal k = j of the softmax Jacobian was kept",
        diagonal_only,
    ),
    (
        "da_k/dz_j = a_k(delta_kj - a_j) was taken as a_k(1 - a_j) for every k: delta_kj is 1 only for k = j",
        delta_as_one,
    ),
    ("the sign is wrong (the claim is -truth): a step against it would climb the loss", wrong_sign),
    ("the factor {dz} = x_i is missing", missing_input),
    ("the L2 term lambda {w} (the derivative of the penalty (lambda/2) Sum {W}^2) is missing", missing_penalty),
    (
        "the L2 term is 2 lambda {w}: the penalty is (lambda/2) Sum {W}^2, whose derivative is lambda {w}",
        doubled_penalty,
    ),
    ("the claim is twice the truth: the loss is (1/2)(yhat - y)^2, the 1/2 cancels the 2 of the square", doubled_data),
)


def explanation_for(model: Model, template: str) -> str:
    """A mistake's words in the model's own notation: dz_j/dW_ij and W_ij, or dz/dw_i and w_i for a single output."""
    weight = model.parameters[0]
    names = {"dz": text(sp.Derivative(model.logit, weight)), "w": text(weight), "W": str(S.key(weight))}
    return template.format(**names)


def explain(claim: Claim, model: Model, classes: int, features: int) -> str | None:
    """The first named mistake that the claim equals: numerically at every entry, then symbolically.

    Mistakes are matched for labels that sum to 1, the setting in which they
    are made: the accepted answer is the diagonal term either way.
    """
    for explanation, formula in MISTAKES:
        wrong = formula(model, claim.wrt)
        if wrong is None:
            continue
        if numeric_mismatch(claim.expr, wrong, model, claim.wrt, True, classes, features) is not None:
            continue
        difference = claim.expr - wrong
        difference = S.instantiate(difference, classes, features) if claim.concrete else difference
        if normal_form(difference, model, True, classes if claim.concrete else None) == 0:
            return explanation_for(model, explanation)
    return None
