"""The verdict on a claim: equal to the engine's derivative, or not, and where it goes wrong.

A claim (:mod:`derive.claims`) is compared with the engine's derivative
``derive(model, wrt, assume=False).result`` in two ways that must agree:

* symbolically, with the engine's own rules (expand, collapse deltas, drop the
  index-in-range Piecewise, factor out of sums, Sum_k P_k = 1 when assumed),
  generically in K and d and for every concrete entry (i, j) at the concrete K, d;
* numerically, for every entry at random points (labels normalised or not),
  using :mod:`derive.checking`'s valuations.

The verdict is ``correct`` when the claim equals the exact derivative for any
labels, or when it equals it for labels that sum to 1 and that assumption is on;
``correct only under an assumption`` when it needs Sum_k P_k = 1 but the user
switched it off; ``incorrect`` otherwise, with the simplified difference
claim - truth, the named mistake it matches, and a counterexample in the seed's
own numbers.

Every model is judged the same way: the claim's vocabulary comes from the model
(:func:`derive.claims.vocabulary`), single-output models (logistic, linear) have
K = 1 and no label assumption, the named mistakes include the L2 term missing or
doubled and the 1/2 of the squared error forgotten, and the counterexample is taken
at the model's own ``Model.example`` (with its lambda or epsilon).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import sympy as sp
from sympy.printing.latex import LatexPrinter

from derive.claims import reader as claims
from derive.core import rules
from derive.core import symbols as S
from derive.core.derivation import derive
from derive.core.models import Model, get_model
from derive.printing.text import text
from derive.verify import checking

CORRECT, INCORRECT, ASSUMED = "correct", "incorrect", "correct only under an assumption"
EXIT_CODES = {CORRECT: 0, INCORRECT: 1, ASSUMED: 3}
POINTS = 3
#: entries checked at the second size K + 1, d + 1 (all entries are checked at K, d)
SAMPLE = 6
#: differences with at most this many terms are factored fully (sp.factor), larger ones by common terms only
FACTOR_TERMS = 12
#: at most this many terms after eliminating a_K and P_K in a per-entry symbolic check
ELIMINATED_TERMS = 400
#: work bound of the per-entry symbolic check: each entry costs ENTRY_COST plus its terms
WORK, ENTRY_COST = 600, 20
TOLERANCE = 1e-8

#: the claims from the question this project answers, as the people wrote them
SEED_CLAIMS = {
    "accepted answer": "-P_j*(1-a_j)*x_i",
    "student's answer": "-(1-a_j)*x_i*(P_1+P_2)",
}


# ---------------------------------------------------------------- symbolic normal form


def label_totals(model: Model, classes: int | None) -> list[rules.Rule]:
    """Sum_k P_k -> 1 (and P_1 + ... + P_K -> 1 at a concrete K): the assumption as rules."""
    found = [a.rule for a in model.assumptions]
    if classes is not None and model.output_index is not None:
        concrete = sp.Add(*(model.label[q] for q in range(1, classes + 1)))
        found.append(rules.substitute("labels_sum_to_one", concrete, sp.Integer(1), "P_1 + ... + P_K = 1"))
    return found


def softmax_total(model: Model) -> rules.Rule:
    """Sum_k a_k -> 1: true for every softmax output, assumed or not."""
    total = S.class_sum(model.activation.base[S.k])
    return rules.substitute("softmax_sums_to_one", total, sp.Integer(1), "the softmax outputs sum to 1")


def normal_form(expr: sp.Expr, model: Model, assume: bool, classes: int | None = None) -> sp.Expr:
    """expr reduced by the engine's rules until nothing changes (at most three rounds)."""
    chain = [*model.naming, *([softmax_total(model)] if model.output_index is not None else [])]
    chain += label_totals(model, classes) if assume else []
    chain += [rules.RULES[n] for n in rules.SIMPLIFICATION] + chain
    for _ in range(3):
        new = sp.expand(_apply(chain, expr))
        if new == expr:
            break
        expr = new
    return expr


def _apply(chain, expr):
    for rule in chain:
        expr = rule(expr)
    return expr


def concrete_forms(expr: sp.Expr, model: Model, assume: bool, classes: int, features: int, cells: list[dict]) -> list[sp.Expr]:
    """expr at each concrete entry: sums written out, the softmax named, P_K (if assumed) and a_K eliminated.

    The sizes are substituted once; each entry is then one substitution of i, j and an expansion.
    Stops early (fewer forms than cells) when the work bound :data:`WORK` is used up.
    """
    if model.output_index is None:
        return _scalar_forms(expr, model, features, cells)
    at_size = _name_softmax(S.instantiate(expr, classes, features), model, classes)
    last = {model.activation.base[classes]: 1 - sum(model.activation.base[q] for q in range(1, classes))}
    if assume:
        last[model.label[classes]] = 1 - sum(model.label[q] for q in range(1, classes))
    budget = WORK
    forms = []
    for entry in cells:
        concrete = sp.expand(_name_softmax(at_size.xreplace(entry).doit(), model, classes))
        size = _eliminated_size(concrete, last, classes)
        budget -= ENTRY_COST + size
        if budget < 0:
            break  # deterministic work bound: the remaining entries are decided by the numbers
        forms.append(sp.expand(concrete.xreplace(last)) if size <= ELIMINATED_TERMS else concrete)
    return forms


def _scalar_forms(expr: sp.Expr, model: Model, features: int, cells: list[dict]) -> list[sp.Expr]:
    """expr at each entry of a single-output model: sums written out, the activation named."""
    at_size = S.instantiate(expr, 1, features)
    return [sp.expand(_apply(model.naming, sp.expand(at_size.xreplace(entry).doit()))) for entry in cells]


def _eliminated_size(expanded: sp.Expr, last: dict, classes: int) -> int:
    """Terms after writing a_K = 1 - a_1 - ... (and P_K) into ``expanded``: a term of degree n gives C(K - 1 + n, n).

    Too large a result is not substituted: the entry is then decided by the numbers alone.
    """
    total = 0
    for term in sp.Add.make_args(expanded):
        degree = 0
        for factor in sp.Mul.make_args(term):
            base, exponent = factor.as_base_exp()
            if base in last:
                degree += int(abs(exponent)) if exponent.is_Integer else ELIMINATED_TERMS
        total += math.comb(classes - 1 + degree, degree)
    return total


def _name_softmax(expr: sp.Expr, model: Model, classes: int) -> sp.Expr:
    """exp(z_q) / (exp(z_1) + ... + exp(z_K)) -> a_q at a concrete K."""
    z, a = model.logit.base, model.activation.base
    denominator = sp.Add(*(sp.exp(z[q]) for q in range(1, classes + 1)))
    hole = sp.Dummy("denominator", positive=True)
    held = expr.xreplace({denominator: hole}).xreplace({sp.exp(z[q]): a[q] * hole for q in range(1, classes + 1)})
    return held.xreplace({hole: denominator})


# ---------------------------------------------------------------- numbers


def entries(parameter: sp.Indexed, classes: int, features: int) -> list[dict]:
    """Every concrete index assignment of W_ij (or b_j): [{i: 1, j: 1}, {i: 1, j: 2}, ...]."""
    shape = tuple(features if q == S.i else classes for q in getattr(parameter, "indices", ()))
    return [{q: n + 1 for q, n in zip(getattr(parameter, "indices", ()), position)} for position in np.ndindex(shape)]


def keyed(values: dict) -> dict:
    """A valuation {W[1, 2]: v, y: v} keyed by plain tuples {("W", (1, 2)): v, ("y", ()): v}, for fast look-up."""
    return {_key(q): float(v) for q, v in values.items()}


def _key(q: sp.Basic) -> tuple:
    if isinstance(q, sp.Indexed):
        return (q.base.label.name, tuple(int(n) for n in q.indices))
    return (q.name, ())


def number(expr: sp.Expr, values: dict, env: dict | None = None) -> float:
    """expr at ``values`` (a :func:`keyed` valuation) with the indices in ``env``; nan where undefined or not real.

    A direct walk over the few node types a claim can contain (sums are
    summed, deltas compared), much faster than substituting and ``evalf``.
    """
    try:
        result = _walk(expr, values, dict(env or {}))
    except (ValueError, OverflowError, ZeroDivisionError, KeyError, TypeError):
        return float("nan")
    return float(result) + 0.0 if isinstance(result, float) and math.isfinite(result) else float("nan")


def _walk(expr: sp.Basic, values: dict, env: dict):
    if isinstance(expr, sp.Add):
        return math.fsum(_walk(a, values, env) for a in expr.args)
    if isinstance(expr, sp.Mul):
        return math.prod(_walk(a, values, env) for a in expr.args)
    if isinstance(expr, sp.Pow):
        return _real(_walk(expr.base, values, env) ** _walk(expr.exp, values, env))
    if isinstance(expr, sp.exp):
        return math.exp(_walk(expr.args[0], values, env))
    if isinstance(expr, sp.log):
        return math.log(_walk(expr.args[0], values, env))
    if isinstance(expr, sp.Indexed):
        return values[(expr.base.label.name, tuple(int(_walk(q, values, env)) for q in expr.indices))]
    if isinstance(expr, sp.KroneckerDelta):
        p, q = (_walk(a, values, env) for a in expr.args)
        return 1.0 if p == q else 0.0
    if isinstance(expr, sp.Sum):
        (index, low, high), = expr.limits
        lo, hi = int(_walk(low, values, env)), int(_walk(high, values, env))
        return math.fsum(_walk(expr.function, values, {**env, index: float(n)}) for n in range(lo, hi + 1))
    if isinstance(expr, sp.Symbol):
        return env[expr] if expr in env else values[(expr.name, ())]
    return float(expr)


def _real(value):
    if isinstance(value, complex):
        raise ValueError("not real")
    return float(value)


def agree(got: float, want: float) -> bool:
    return bool(np.isfinite(got)) and abs(got - want) <= TOLERANCE * max(1.0, abs(want))


@dataclass(frozen=True)
class Mismatch:
    """One entry at one point where the claim and the truth differ."""

    entry: dict
    claim: float
    truth: float
    values: dict = field(repr=False)
    classes: int = 2
    features: int = 2

    @property
    def gap(self) -> float:
        return abs(self.claim - self.truth) if np.isfinite(self.claim) else float("inf")


@lru_cache(maxsize=64)
def points(model: Model, classes: int, features: int, normalised: bool, seed: int = 0) -> tuple[dict, ...]:
    """POINTS random valuations (inputs from :func:`derive.checking.random_inputs`, z and a computed)."""
    rng = np.random.default_rng([seed, classes, features, normalised])
    return tuple(
        keyed(checking.valuation(model, classes, features, _random_point(model, classes, features, rng, normalised)))
        for _ in range(POINTS)
    )


def _random_point(model: Model, classes: int, features: int, rng: np.random.Generator, normalised: bool) -> dict:
    """Random inputs and, for a penalised model, a random strength lambda."""
    return {**checking.random_inputs(model, classes, features, rng, normalised=normalised), **checking.penalty_strength(model, rng)}


def sizes_of(model: Model, classes: int, features: int) -> list[tuple[int, int]]:
    """The sizes a generic claim is checked at: (K, d) and (K + 1, d + 1); one output stays one."""
    more = classes if model.output_index is None else classes + 1
    return [(classes, features), (more, features + 1)]


def numeric_mismatch(claim, truth, model, parameter, normalised, classes, features, seed=0, sample=None) -> Mismatch | None:
    """The worst entry over POINTS random points, or None when the claim agrees everywhere.

    Every entry is checked, or ``sample`` of them drawn at random (for the second size).
    """
    rng = np.random.default_rng(seed)
    sizes = {S.K: float(classes), S.d: float(features)}
    cells = entries(parameter, classes, features)
    if sample is not None and sample < len(cells):
        cells = [cells[n] for n in sorted(rng.choice(len(cells), size=sample, replace=False))]
    worst = None
    for values in points(model, classes, features, normalised, seed):
        for entry in cells:
            env = {**sizes, **{q: float(n) for q, n in entry.items()}}
            got, want = number(claim, values, env), number(truth, values, env)
            if not agree(got, want):
                found = Mismatch(entry, got, want, values, classes, features)
                worst = found if worst is None or found.gap > worst.gap else worst
    return worst


# ---------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Comparison:
    """Claim against truth under one labelling: symbolic and numeric results side by side."""

    normalised: bool
    symbolic: bool
    mismatch: Mismatch | None
    difference: sp.Expr | None

    @property
    def equal(self) -> bool:
        return self.mismatch is None


def compare(claim: claims.Claim, truth: sp.Expr, model: Model, normalised: bool, classes: int, features: int, reduce: bool = True) -> Comparison:
    """claim == truth for labels summing to 1 (normalised) or for any labels.

    Numbers first (every entry at K, d; claims without concrete indices also a
    sample at K + 1, d + 1), then the symbolic difference, generic and per
    entry.  ``symbolic`` is True when the symbolic verdict agrees with the
    numeric one.  ``reduce=False`` skips the symbolic work for an unequal pair
    whose difference will not be shown.
    """
    sizes = [(classes, features)] if claim.concrete else sizes_of(model, classes, features)
    mismatch = None
    for (k_, d_), sample in zip(sizes, (None, SAMPLE)):
        mismatch = mismatch or numeric_mismatch(claim.expr, truth, model, claim.wrt, normalised, k_, d_, sample=sample)
    if mismatch is not None and not reduce:
        return Comparison(normalised, False, mismatch, None)
    difference = claim.expr - truth
    at_size = S.instantiate(difference, classes, features) if claim.concrete else difference
    generic = normal_form(at_size, model, normalised, classes if claim.concrete else None)
    if mismatch is None:
        cells = entries(claim.wrt, classes, features)
    else:
        cells = [mismatch.entry] if (mismatch.classes, mismatch.features) == (classes, features) else []
    per_entry = [form == 0 for form in concrete_forms(difference, model, normalised, classes, features, cells)]
    equal = mismatch is None
    symbolic = len(per_entry) == len(cells) and all(z == equal for z in per_entry) and (generic == 0) == equal
    return Comparison(normalised, symbolic, mismatch, generic)


# ---------------------------------------------------------------- named mistakes


def chain_summand(model: Model, parameter: sp.Indexed) -> tuple[sp.Expr, sp.Symbol]:
    """The summand of the chain rule Sum_k dH/da_k * da_k/dz_j * dz_j/dtheta, with its index k."""
    derivation = derive(model, parameter, False)
    product = next(s.rhs for s in derivation.steps if s.rule == "substitute_factors")
    (index, _, _), = product.limits
    return rules.evaluate_product(product.function), index


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


#: (explanation, the wrong formula it describes): checked in order, the first match is reported
MISTAKES = (
    ("the k != j terms of the chain rule are missing: only the diagonal k = j of the softmax Jacobian was kept", diagonal_only),
    ("da_k/dz_j = a_k(delta_kj - a_j) was taken as a_k(1 - a_j) for every k: delta_kj is 1 only for k = j", delta_as_one),
    ("the sign is wrong (the claim is -truth): a step against it would climb the loss", wrong_sign),
    ("the factor dz_j/dW_ij = x_i is missing", missing_input),
    ("the L2 term lambda W_ij (the derivative of the penalty (lambda/2) Sum W^2) is missing", missing_penalty),
    ("the L2 term is 2 lambda W_ij: the penalty is (lambda/2) Sum W^2, whose derivative is lambda W_ij", doubled_penalty),
    ("the claim is twice the truth: the loss is (1/2)(yhat - y)^2, the 1/2 cancels the 2 of the square", doubled_data),
)


def explanation_for(model: Model, text_: str) -> str:
    """A mistake's words in the model's own notation (x_i = dz/dw_i, lambda w_i for a scalar model)."""
    if model.output_index is not None:
        return text_
    return text_.replace("dz_j/dW_ij", "dz/dw_i").replace("W_ij", "w_i").replace("Sum W^2", "Sum w^2")


def explain(claim: claims.Claim, model: Model, classes: int, features: int) -> str | None:
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


# ---------------------------------------------------------------- counterexample


@dataclass(frozen=True)
class Counterexample:
    """One entry where the claim and the truth differ, at the seed's sample or a random point."""

    where: str
    entry: str
    indices: dict
    claim: float
    truth: float
    finite_difference: float | None
    description: str

    def as_dict(self) -> dict:
        return {
            "where": self.where,
            "entry": self.entry,
            "indices": self.indices,
            "claim": _json_number(self.claim),
            "truth": self.truth,
            "finite_difference": self.finite_difference,
            "description": self.description,
        }


def _json_number(value: float):
    return value if np.isfinite(value) else None


def example_size(model: Model) -> tuple[int, int]:
    """(K, d) of the model's worked example: (2, 2) for the seed's sample, (1, 2) for a single output."""
    W = np.asarray(model.example["W"], dtype=float)
    return (W.shape[1] if W.ndim == 2 else 1), len(model.example["x"])


def example_point(model: Model, constants: dict | None = None) -> dict:
    """The valuation of the model's own example, with its strengths (lambda, epsilon) and smoothed labels."""
    from derive.verify.example import inputs

    ex, classes = model.example, example_size(model)[0]
    given = {**inputs(ex["x"], ex["W"], ex["b"], ex["P"], model), **model.constants, **(constants or {})}
    if model.label_definition is not None:
        given.update(checking.defined_labels(model, classes, given[S.eps], int(np.argmax(ex["P"])) + 1))
    return given


def seed_counterexample(claim: claims.Claim, model: Model, truth: sp.Expr, constants: dict | None = None) -> Counterexample | None:
    """The entry with the largest error at the model's example (the seed's sample), or None if all agree.

    The truth is the engine's derivative at the sample, cross-checked by a
    central finite difference of the loss (:func:`derive.checking.finite_difference`).
    """
    classes, features = example_size(model)
    given = example_point(model, constants)
    values = keyed(checking.valuation(model, classes, features, given))
    worst = None
    for entry in entries(claim.wrt, classes, features):
        env = {S.K: float(classes), S.d: float(features), **{q: float(n) for q, n in entry.items()}}
        got, want = number(claim.expr, values, env), number(truth, values, env)
        if not agree(got, want):
            gap = abs(got - want) if np.isfinite(got) else float("inf")
            worst = max(worst or (gap, entry, got, want), (gap, entry, got, want), key=lambda w: w[0])
    if worst is None:
        return None
    _, entry, got, want = worst
    fd = checking.finite_difference(model, sp.Derivative(S.H, claim.wrt), classes, features, given, entry)
    name = _entry_name(claim.wrt, entry)
    return Counterexample("seed", name, _plain(entry), got, want, fd, _example_words(model, name, entry, given))


def _example_words(model: Model, name: str, entry: dict, given: dict) -> str:
    """W_12 (petal length, Non-Setosa) at the seed's sample x = [1.9, 0.4], label Setosa."""
    from derive.verify.example import SEED_CLASSES, SEED_FEATURES

    ex = model.example
    words = [SEED_FEATURES[entry[S.i] - 1]] if S.i in entry and len(ex["x"]) == len(SEED_FEATURES) else []
    if model.output_index is not None:
        words.append(SEED_CLASSES[entry[S.j] - 1])
        where = f"at the seed's sample x = {list(ex['x'])}, label {SEED_CLASSES[int(np.argmax(ex['P']))]}"
    else:
        where = f"at the {model.name} example x = {list(ex['x'])}, w = {list(ex['W'])}, b = {ex['b']}, target y = {ex['P']}"
    strengths = ", ".join(f"{q} = {given[q]:g}" for q in (S.lam, S.eps) if q in given)
    shown = f"{name} ({', '.join(words)})" if words else name
    return " ".join([shown, where]) + (f", {strengths}" if strengths else "")


def random_counterexample(claim: claims.Claim, mismatch: Mismatch) -> Counterexample:
    name = _entry_name(claim.wrt, mismatch.entry)
    if (S.P.label.name, (1,)) not in mismatch.values:
        point = ", ".join(f"{n} = {mismatch.values[(n, ())]:.6f}" for n in ("y", "lambda") if (n, ()) in mismatch.values)
        where = f"{name} at a random point with d = {mismatch.features}, {point}"
        return Counterexample("random", name, _plain(mismatch.entry), mismatch.claim, mismatch.truth, None, where)
    labels = [mismatch.values[(S.P.label.name, (q,))] for q in range(1, mismatch.classes + 1)]
    shown = ", ".join(f"{p:.6f}" for p in labels)
    where = f"{name} at a random point with K = {mismatch.classes}, d = {mismatch.features}, labels P = ({shown}), Sum_k P_k = {sum(labels):.6f}"
    return Counterexample("random", name, _plain(mismatch.entry), mismatch.claim, mismatch.truth, None, where)


def _entry_name(parameter: sp.Basic, entry: dict) -> str:
    if not isinstance(parameter, sp.Indexed):
        return text(parameter)
    return text(parameter.base[tuple(entry[q] for q in parameter.indices)])


def _plain(entry: dict) -> dict:
    return {str(q): int(n) for q, n in entry.items()}


# ---------------------------------------------------------------- the result


class CheckLatexPrinter(LatexPrinter):
    """LaTeX in the seed's notation: P_{j}, W_{ij}, dH/dW_ij as a fraction; products in their stored order."""

    def __init__(self, settings: dict | None = None):
        super().__init__(settings)
        self._add_order = self._settings["order"]

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        indices = [self._print(q) for q in expr.indices]
        joined = "".join(indices) if all(len(q) == 1 for q in indices) else ",".join(indices)
        return f"{self._print(expr.base.label)}_{{{joined}}}"

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        variables = " ".join(rf"\partial {self._print(v)}" for v in expr.variables)
        return rf"\frac{{\partial {self._print(expr.expr)}}}{{{variables}}}"

    def _print_Mul(self, expr: sp.Mul) -> str:
        return self._ordered(super()._print_Mul, expr, "none")

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        return self._ordered(lambda e: super(CheckLatexPrinter, self)._print_Add(e, order), expr, self._add_order)

    def _ordered(self, method, expr: sp.Basic, order: str | None) -> str:
        saved, self._settings["order"] = self._settings["order"], order
        try:
            return method(expr)
        finally:
            self._settings["order"] = saved


def latex(expr: sp.Basic) -> str:
    return CheckLatexPrinter().doprint(expr)


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one claim, with everything needed to show where it goes wrong."""

    claim: claims.Claim
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

    def __repr__(self) -> str:
        # what a terminal, IPython and a notebook's text/plain show: the report, not a dataclass dump
        return self.report().rstrip("\n")

    def report(self) -> str:
        """Plain text for the terminal."""
        assumption = "assuming Sum_k P_k = 1" if self.assume else "exact, for any labels (--exact)"
        assumption = f"model {self.model.name}, no assumption needed" if self.single else assumption
        lines = [
            f"claim:      {self.claim.text}",
            f"read as:    {text(self.lhs)} = {text(self.claim.expr)}   ({self.claim.notation} notation)",
            f"truth:      {text(self.lhs)} = {text(self.truth)}   ({assumption})",
            f"verdict:    {self.verdict.upper()} (exit {self.exit_code})",
        ]
        if self.verdict != CORRECT or self.difference != 0:
            lines.append(f"difference: claim - truth = {text(self.difference)}")
        if self.verdict == ASSUMED:
            lines.append("why:        the claim holds only when the labels sum to 1 (Sum_k P_k = 1), which --exact drops")
        if self.explanation:
            lines.append(f"why:        {self.explanation}")
        lines.append(f"checked:    {self.method()}")
        if self.counterexample:
            c = self.counterexample
            fd = f" (finite differences {c.finite_difference:+.6f})" if c.finite_difference is not None else ""
            lines.append(f"counterexample: {c.description}")
            lines.append(f"            the claim gives {c.claim:+.6f}, the truth {c.truth:+.6f}{fd}")
        return "\n".join(lines) + "\n"

    def method(self) -> str:
        how = "symbolically and numerically" if self.symbolic else "numerically (not shown symbolically)"
        scope = f"every entry at K = {self.classes}, d = {self.features}"
        if self.single:
            scope = f"every entry at d = {self.features}"
            if not self.claim.concrete:
                scope += f", generic d, and every entry at d = {self.features + 1}"
        elif not self.claim.concrete:
            count = min(SAMPLE, len(entries(self.claim.wrt, self.classes + 1, self.features + 1)))
            scope += f", generic K and d, and {count} entries at K = {self.classes + 1}, d = {self.features + 1}"
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

    def latex_parts(self) -> dict:
        """The claim, truth and difference printed as LaTeX (for the report's check section)."""
        return {"lhs": latex(self.lhs), "claim": latex(self.claim.expr), "truth": latex(self.truth), "difference": latex(self.difference)}

    def _repr_latex_(self) -> str:
        parts = self.latex_parts()
        out = rf"{parts['lhs']} \overset{{?}}{{=}} {parts['claim']} \quad \text{{{self.verdict}}}"
        if self.verdict != CORRECT:
            out += rf" \quad \text{{claim}} - \text{{truth}} = {parts['difference']}"
        return f"$\\displaystyle {out}$"


# ---------------------------------------------------------------- the driver


def check(
    claim: str | claims.Claim,
    wrt: str | None = None,
    assume: bool = True,
    latex: bool | None = None,
    classes: int = 2,
    features: int = 2,
    model: Model | str = "softmax",
    constants: dict | None = None,
) -> CheckResult:
    """Judge ``claim`` for dH/dW_ij (or dH/db_j, dH/dw_i, dH/db) of ``model`` against the engine's derivative.

    A single-output model (logistic, linear) has K = 1 whatever ``classes`` says.
    ``constants`` fixes strengths (lambda, epsilon) for the counterexample at the
    model's example; elsewhere they are random.  Raises
    :class:`derive.claims.ClaimError` (an InputError) for a claim that cannot be read.
    """
    model = get_model(model) if isinstance(model, str) else model
    classes = 1 if model.output_index is None else classes
    if isinstance(claim, str):
        claim = claims.parse(claim, wrt, latex, classes, features, model)
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
    counter = seed_counterexample(claim, model, exact_truth, constants) if (classes, features) == example_size(model) else None
    counter = counter or random_counterexample(claim, judged.mismatch)
    return _result(claim, INCORRECT, assume, shown_truth, judged, explanation, counter, classes, features, model)


def _result(claim, verdict, assume, truth, comparison: Comparison, explanation, counter, classes, features, model=None) -> CheckResult:
    difference = sp.Integer(0) if comparison.equal else tidy(comparison.difference)
    return CheckResult(claim, verdict, assume, truth, difference, comparison.symbolic, explanation, counter, classes, features, model)


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


def seed_checks(assume: bool = True) -> dict[str, CheckResult]:
    """The verdicts on the seed's claims (the accepted answer, the student's): data for report sections."""
    return {name: check(claim, assume=assume) for name, claim in SEED_CLAIMS.items()}


def section_data(assume: bool = True) -> list[dict]:
    """What a "Check your derivation" section shows, one dict per seed claim.

    Plain values from :meth:`CheckResult.as_dict` plus ``name`` and ``latex``
    (lhs, claim, truth, difference printed by :class:`CheckLatexPrinter`);
    templates lay these out and format nothing themselves.
    """
    return [
        {"name": name, **result.as_dict(), "latex": result.latex_parts(), "method": result.method()}
        for name, result in seed_checks(assume).items()
    ]
