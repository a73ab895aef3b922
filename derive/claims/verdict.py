"""The verdict on a claim: equal to the engine's derivative, or not, and where it goes wrong.

A claim (:mod:`derive.claims.claim`) is compared with the engine's derivative
``derive(model, wrt, assume=False).result`` in two ways that must agree
(:mod:`derive.claims.compare`):

* symbolically, with the engine's own rules (expand, collapse deltas, drop the
  index-in-range Piecewise, factor out of sums, Sum_k P_k = 1 when assumed),
  generically in K and d and for every concrete entry (i, j) at the concrete K, d;
* numerically, for every entry at random points (labels normalised or not).

The verdict is ``correct`` when the claim equals the exact derivative for any
labels, or when it equals it for labels that sum to 1 and that assumption is on;
``correct only under an assumption`` when it needs Sum_k P_k = 1 but the user
switched it off; ``incorrect`` otherwise, with the simplified difference
claim - truth, the named mistake it matches (:mod:`derive.claims.mistakes`), and
a counterexample in the model's own numbers (:mod:`derive.claims.counterexample`).

Every model is judged the same way: the claim's vocabulary comes from the model
(:func:`derive.claims.vocabulary.vocabulary`), single-output models (logistic,
linear) have K = 1 and no label assumption.  The text and LaTeX of a verdict are
the rendering layer's (:mod:`derive.render.check`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from derive.claims.claim import Claim, parse
from derive.claims.compare import POINTS, SAMPLE, Comparison, compare, entries
from derive.claims.counterexample import Counterexample, example_size, random_counterexample, seed_counterexample
from derive.claims.mistakes import explain
from derive.core import symbols as S
from derive.core.derivation import derive
from derive.core.models import Model, get_model
from derive.printing.text import text

CORRECT, INCORRECT, ASSUMED = "correct", "incorrect", "correct only under an assumption"
EXIT_CODES = {CORRECT: 0, INCORRECT: 1, ASSUMED: 3}
#: differences with at most this many terms are factored fully (sp.factor), larger ones by common terms only
FACTOR_TERMS = 12


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one claim, with everything needed to show where it goes wrong."""

    claim: Claim
    verdict: str
    assume: bool
    truth: sp.Expr
    difference: sp.Expr
    symbolic: bool
    explanation: str | None
    counterexample: Counterexample | None
    classes: int
    features: int
    model: Model | None = None

    @property
    def single(self) -> bool:
        """A single-output model (logistic, linear): no classes, no label assumption."""
        return self.model is not None and self.model.output_index is None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def lhs(self) -> sp.Derivative:
        return sp.Derivative(S.H, self.claim.wrt)

    def method(self) -> str:
        how = "symbolically and numerically" if self.symbolic else "numerically (not shown symbolically)"
        scope = f"every entry at K = {self.classes}, d = {self.features}"
        if self.single:
            scope = f"every entry at d = {self.features}"
            if not self.claim.concrete:
                generic = ", generic d," if self.symbolic else ""
                scope += f"{generic} and every entry at d = {self.features + 1}"
        elif not self.claim.concrete:
            count = min(SAMPLE, len(entries(self.claim.wrt, self.classes + 1, self.features + 1)))
            generic = ", generic K and d," if self.symbolic else ""
            scope += f"{generic} and {count} entries at K = {self.classes + 1}, d = {self.features + 1}"
        return f"{how}: {scope}, at {POINTS} random points"

    def as_dict(self) -> dict:
        """Plain values for JSON: the verdict, the difference and the counterexample."""
        return {
            "claim": self.claim.text,
            "parsed": text(self.claim.expr),
            "notation": self.claim.notation,
            "wrt": text(self.claim.wrt),
            "assumption": "labels_sum_to_one" if self.assume else None,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "truth": text(self.truth),
            "difference": text(self.difference),
            "explanation": self.explanation,
            "symbolic": self.symbolic,
            "classes": self.classes,
            "features": self.features,
            "counterexample": self.counterexample.as_dict() if self.counterexample else None,
        }


def check(
    claim: str | Claim,
    wrt: str | None = None,
    assume: bool = True,
    latex: bool | None = None,
    classes: int = 2,
    features: int = 2,
    model: Model | str = "softmax",
    constants: dict | None = None,
    lets: dict | None = None,
) -> CheckResult:
    """Judge ``claim`` for dH/dW_ij (or dH/db_j, dH/dw_i, dH/db) of ``model`` against the engine's derivative.

    A single-output model (logistic, linear) has K = 1 whatever ``classes`` says.
    ``constants`` fixes strengths (lambda, epsilon) for the counterexample at the
    model's example; elsewhere they are random.  ``lets`` are aliases ({"p": "a"}).  Raises
    :class:`derive.claims.ClaimError` (an InputError) for a claim that cannot be read.
    """
    model = get_model(model) if isinstance(model, str) else model
    classes = 1 if model.output_index is None else classes
    if isinstance(claim, str):
        claim = parse(claim, wrt, latex, classes, features, model, lets)
    exact_truth = derive(model, claim.wrt, False).result
    shown_truth = derive(model, claim.wrt, assume).result
    # labels defined by the model (label smoothing) sum to 1 by the derivation's own proof, not by assumption
    exact = compare(claim, exact_truth, model, model.label_definition is not None, classes, features, reduce=not assume)
    if exact.equal:
        return _result(claim, CORRECT, assume, shown_truth, exact, None, None, classes, features, model)
    normalised = compare(claim, exact_truth, model, True, classes, features)
    if normalised.equal:
        if assume:
            return _result(claim, CORRECT, assume, shown_truth, normalised, None, None, classes, features, model)
        counter = random_counterexample(claim, exact.mismatch)
        return _result(claim, ASSUMED, assume, shown_truth, exact, None, counter, classes, features, model)
    judged = normalised if assume else exact
    explanation = explain(claim, model, classes, features)
    counter = (
        seed_counterexample(claim, model, exact_truth, constants)
        if (classes, features) == example_size(model)
        else None
    )
    counter = counter or random_counterexample(claim, judged.mismatch)
    return _result(claim, INCORRECT, assume, shown_truth, judged, explanation, counter, classes, features, model)


def _result(
    claim, verdict, assume, truth, comparison: Comparison, explanation, counter, classes, features, model=None
) -> CheckResult:
    difference = sp.Integer(0) if comparison.equal else tidy(comparison.difference)
    return CheckResult(
        claim, verdict, assume, truth, difference, comparison.symbolic, explanation, counter, classes, features, model
    )


def tidy(expr: sp.Expr) -> sp.Expr:
    """A difference factored, with a constant first in each bracket: -a_j*(1 - P_j)*x_i."""
    small = len(sp.Add.make_args(expr)) <= FACTOR_TERMS and not expr.has(sp.Sum)
    factored = sp.factor(expr) if small else sp.factor_terms(expr)
    coefficient, factors = factored.as_coeff_mul()
    flips = [f for f in factors if isinstance(f, sp.Add) and _negative_constant(f)]
    if not flips:
        return factored
    sign = (-1) ** len(flips)
    ordered = [f for f in factors if not isinstance(f, sp.Add)] + [-f for f in factors if f in flips]
    ordered += [f for f in factors if isinstance(f, sp.Add) and f not in flips]
    head, tail = _split_last_input(ordered)
    lead = [sign * coefficient] if sign * coefficient != 1 else []
    return sp.Mul(*lead, *head, *tail, evaluate=False)


def _negative_constant(add: sp.Add) -> bool:
    constant, _ = add.as_coeff_add()
    return constant.is_negative


def _split_last_input(factors: list) -> tuple[list, list]:
    """Put the inputs (x_i) last, as the engine writes -(P_j - a_j)*x_i."""
    inputs = [f for f in factors if isinstance(f, sp.Indexed) and f.base == S.x]
    return [f for f in factors if f not in inputs], inputs


@cache
def seed_checks(model: Model | str = "softmax", assume: bool = True) -> tuple[tuple[str, CheckResult], ...]:
    """The verdicts on the model's seed claims (for softmax regression, the question's accepted answer and the
    student's), judged once per process: data for the documents' section "Check your derivation"."""
    model = get_model(model) if isinstance(model, str) else model
    return tuple((name, check(claim, assume=assume, model=model)) for name, claim in model.claims)
