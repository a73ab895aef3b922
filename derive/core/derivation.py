"""The derivation driver: differentiate a model's loss and reduce it by named rules.

The result is a :class:`Derivation`, an immutable ordered list of
:class:`Step` values.  Every step records the rule that produced it, the
equation it states and a justification in words; the last step holds the closed
form.  Nothing here knows about printing or files.

The route is the textbook's (Bishop, PRML 4.3.4)::

    dH/dW_ij = Sum_k dH/da_k * da_k/dz_j * dz_j/dW_ij        chain rule
    dH/da_k  = -P_k / a_k                                     SymPy diff + rules
    da_k/dz_j = a_k (delta_kj - a_j)                          SymPy diff + rules
    dz_j/dW_ij = x_i                                          SymPy diff + rules

and the product is reduced by the rules in :data:`derive.core.rules.SIMPLIFY`,
then by the model's assumptions (Sum_k P_k = 1), then factored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

import sympy as sp

from derive.core import rules
from derive.core import symbols as S
from derive.core.models import Model, get_model
from derive.core.strategies import chain, run

#: kinds of step: the chain-rule statement (not a value), a factor of the chain
#: rule, the main line whose every right-hand side equals dH/dtheta, and the proof
#: that defined labels (label smoothing) sum to one
CHAIN, FACTOR, MAIN, LABEL = "chain", "factor", "main", "label"


@dataclass(frozen=True)
class Step:
    """One line of a derivation: ``lhs = rhs`` by ``rule``, because ``justification``.

    ``justification`` is a template whose ``{0}``, ``{1}`` ... are ``terms``
    (SymPy objects), so that every renderer prints the math with its own printer.
    """

    rule: str
    lhs: sp.Expr
    rhs: sp.Expr
    justification: str
    kind: str = MAIN
    terms: tuple = ()

    @property
    def equation(self) -> sp.Eq:
        return sp.Eq(self.lhs, self.rhs, evaluate=False)

    def explain(self, printer: Callable[[sp.Basic], str]) -> str:
        """The justification with its terms printed by ``printer``."""
        return self.justification.format(*map(printer, self.terms))


@dataclass(frozen=True)
class Derivation:
    """The ordered steps from the loss to the closed form of dH/d(wrt)."""

    model: Model
    wrt: sp.Indexed
    assumptions: tuple[str, ...]
    steps: tuple[Step, ...]

    @property
    def lhs(self) -> sp.Derivative:
        """dH/d(wrt), the left-hand side of the result."""
        return self.steps[-1].lhs

    @property
    def result(self) -> sp.Expr:
        """The closed form: the right-hand side of the last step."""
        return self.steps[-1].rhs

    @property
    def data_result(self) -> sp.Expr:
        """The closed form of the data term dL/d(wrt) (the result itself when there is no penalty)."""
        last = self.steps[-1]
        # add_penalty writes data term + penalty term, in that order (a WrittenSum keeps it)
        return last.rhs.args[0] if last.rule == "add_penalty" else self.result

    @property
    def penalty_result(self) -> sp.Expr:
        """dR/d(wrt) of the penalty, 0 without one."""
        steps = self._penalty_factor_steps()
        return steps[-1].rhs if steps else sp.Integer(0)

    def _penalty_factor_steps(self) -> list[Step]:
        return [s for s in self.steps if s.kind == FACTOR and s.lhs.expr == S.R]

    def factor(self, lhs: sp.Expr) -> sp.Expr:
        """The reduced value of one chain-rule factor, e.g. da_k/dz_j."""
        found = [s.rhs for s in self.steps if s.kind == FACTOR and s.lhs == lhs]
        if not found:
            raise KeyError(f"no factor {lhs} in this derivation")
        return found[-1]

    def main_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.kind == MAIN)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)


def reduce(lhs: sp.Expr, expr: sp.Expr, strategy, kind: str = MAIN) -> list[Step]:
    """Run ``strategy`` (a rule or a chain of rules) on ``expr``; one step for each rule that changed it."""
    _, applied = run(strategy, expr)
    return [Step(a.rule.name, lhs, a.result, a.rule.justification, kind, a.rule.terms) for a in applied]


def differentiate(lhs: sp.Derivative, expr: sp.Expr, wrt: sp.Expr, strategy) -> list[Step]:
    """SymPy's derivative of ``expr`` with respect to ``wrt``, then reduced by ``strategy``."""
    raw = sp.diff(expr, wrt)
    first = Step(
        "differentiate",
        lhs,
        raw,
        "SymPy differentiates the definition of {0} with respect to {1}",
        FACTOR,
        (lhs.expr, wrt),
    )
    return [first, *reduce(lhs, raw, strategy, FACTOR)]


def chain_rule_factors(model: Model, wrt: sp.Indexed) -> tuple[tuple[sp.Derivative, list[Step]], ...]:
    """The three factors of the chain rule, each derived by SymPy and reduced."""
    z = model.logit
    inner = differentiate(sp.Derivative(z, wrt), model.logit_definition, wrt, rules.COLLAPSE)
    loss = S.L if _penalised(model, wrt) else S.H
    return (*_outer_factors(model, loss), (sp.Derivative(z, wrt), inner))


@cache
def _outer_factors(model: Model, loss_name: sp.Symbol) -> tuple[tuple[sp.Derivative, list[Step]], ...]:
    """dH/da_k and da_k/dz_j, which every parameter shares (dL/da_k when a penalty makes H = L + R)."""
    a, z = model.activation, model.logit
    jacobian = chain(rules.COLLAPSE, *model.naming)
    return (
        (sp.Derivative(loss_name, a), differentiate(sp.Derivative(loss_name, a), model.loss, a, rules.COLLAPSE)),
        (sp.Derivative(a, z), differentiate(sp.Derivative(a, z), model.activation_definition, z, jacobian)),
    )


def derive(model: Model | str = "softmax", wrt: sp.Indexed | str = "W", assume: bool = True) -> Derivation:
    """Derive dH/d(wrt) for ``model``; ``assume`` switches the model's assumptions on.

    ``wrt`` is one of the model's parameters or its base name ("W", "b").
    """
    model = get_model(model) if isinstance(model, str) else model
    return _derive(model, _parameter(model, wrt), bool(assume))


@cache
def _derive(model: Model, wrt: sp.Basic, assume: bool) -> Derivation:
    loss = S.L if _penalised(model, wrt) else S.H
    lhs = sp.Derivative(loss, wrt)
    factors = chain_rule_factors(model, wrt)
    statement = _over_outputs(model, sp.Mul(*(f for f, _ in factors), evaluate=False))
    steps = [
        Step(
            "chain_rule",
            lhs,
            statement,
            "{0} enters {1} only through {2}, which enters through " + ("every {3}" if model.output_index else "{3}"),
            CHAIN,
            (wrt, loss, model.logit, model.activation),
        )
    ]
    for _, factor_steps in factors:
        steps.extend(factor_steps)
    values = [fs[-1].rhs for _, fs in factors if fs[-1].rhs != 1]
    product = _over_outputs(model, sp.Mul(*values, evaluate=False))
    if assume and model.label_definition is not None:
        steps.extend(_label_steps(model))
    steps.append(Step("substitute_factors", lhs, product, "put the three derivatives into the chain rule"))
    used = tuple(a.name for a in model.assumptions) if assume else ()
    closing = chain(rules.SIMPLIFY, *(model.assumption(n).rule for n in used), rules.RULES["factor"], model.sign_rule)
    steps.extend(reduce(lhs, product, closing))
    steps.extend(_penalty_steps(model, wrt, steps[-1].rhs))
    return Derivation(model, wrt, used, tuple(steps))


def _label_steps(model: Model) -> list[Step]:
    """Defined labels (label smoothing) still sum to one: the assumption is proven, not assumed."""
    total = S.label_total()
    k = model.output_index
    first = sp.Sum(model.label_definition.xreplace({S.k: k}), (k, 1, S.K))
    start = Step(
        "defined_labels",
        total,
        first,
        "the labels are defined as {0}",
        LABEL,
        (sp.Eq(model.label[k], model.label_definition),),
    )
    return [start, *reduce(total, first, rules.LABEL_TOTAL, LABEL)]


def _over_outputs(model: Model, expr: sp.Expr) -> sp.Expr:
    """Sum_k expr for a model with several outputs, expr itself for one."""
    k = model.output_index
    return expr if k is None else sp.Sum(expr, (k, 1, S.K))


def _penalised(model: Model, wrt: sp.Basic) -> bool:
    return model.penalty != 0 and model.penalty.has(S.key(wrt))


def _penalty_steps(model: Model, wrt: sp.Basic, result: sp.Expr) -> list[Step]:
    """dR/d(wrt) of the penalty R, derived and reduced, then added to the data term's dL/d(wrt)."""
    if not _penalised(model, wrt):
        return []
    steps = differentiate(sp.Derivative(S.R, wrt), model.penalty, wrt, rules.COLLAPSE)
    total = rules.WrittenSum.written(result, steps[-1].rhs)
    justification = "H = L + R with the penalty R = {0}: its derivative adds to the data term's"
    return [*steps, Step("add_penalty", sp.Derivative(S.H, wrt), total, justification, MAIN, (model.penalty,))]


def _parameter(model: Model, wrt: sp.Indexed | str) -> sp.Indexed:
    for p in model.parameters:
        if wrt == p or wrt == str(S.key(p)):
            return p
    known = ", ".join(str(S.key(p)) for p in model.parameters)
    raise KeyError(f"model {model.name!r} has no parameter {wrt!s} (known: {known})")


def gradients(model: Model | str = "softmax", assume: bool = True) -> tuple[Derivation, ...]:
    """One derivation per parameter of the model, in the model's order."""
    model = get_model(model) if isinstance(model, str) else model
    return tuple(derive(model, p, assume) for p in model.parameters)
