"""Counterexamples: where a wrong claim and the truth differ, in the model's own example or at a random point.

At the model's example (the seed's sample for softmax regression) the entry with
the largest error is shown with the truth cross-checked by a central finite
difference of the loss; otherwise the random point where the comparison found
the claim wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.claims.claim import Claim
from derive.claims.compare import Mismatch, agree, entries
from derive.core import symbols as S
from derive.core.models import Model
from derive.printing.text import text
from derive.verify import checking
from derive.verify.evaluate import environment, number
from derive.verify.example import inputs


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
    ex, classes = model.example, example_size(model)[0]
    given = {**inputs(ex["x"], ex["W"], ex["b"], ex["P"], model), **model.constants, **(constants or {})}
    if model.label_definition is not None:
        given.update(checking.defined_labels(model, classes, given[S.eps], int(np.argmax(ex["P"])) + 1))
    return given


def seed_counterexample(
    claim: Claim, model: Model, truth: sp.Expr, constants: dict | None = None
) -> Counterexample | None:
    """The entry with the largest error at the model's example (the seed's sample), or None if all agree.

    The truth is the engine's derivative at the sample, cross-checked by a
    central finite difference of the loss (:func:`derive.verify.checking.finite_difference`).
    """
    classes, features = example_size(model)
    given = example_point(model, constants)
    point = environment(checking.valuation(model, classes, features, given), classes, features)
    worst = None
    for entry in entries(claim.wrt, classes, features):
        env = {**point, **entry}
        got, want = number(claim.expr, env), number(truth, env)
        if not agree(got, want):
            gap = abs(got - want) if np.isfinite(got) else float("inf")
            worst = max(worst or (gap, entry, got, want), (gap, entry, got, want), key=lambda w: w[0])
    if worst is None:
        return None
    _, entry, got, want = worst
    fd = checking.finite_difference(model, sp.Derivative(S.H, claim.wrt), classes, features, given, entry)
    name = entry_name(claim.wrt, entry)
    return Counterexample("seed", name, plain(entry), got, want, fd, example_words(model, name, entry, given))


def example_words(model: Model, name: str, entry: dict, given: dict, label: int | None = None) -> str:
    """W_12 (petal length, Non-Setosa) at the seed's sample x = [1.9, 0.4], label Setosa (or the 1-based ``label``)."""
    ex = model.example
    features, classes = model.names("features", len(ex["x"])), model.names("classes", len(np.atleast_1d(ex["P"])))
    words = [features[entry[S.i] - 1]] if S.i in entry and "features" in ex else []
    if model.output_index is not None:
        words.append(classes[entry[S.j] - 1])
        label = label if label is not None else int(np.argmax(ex["P"])) + 1
        where = f"at the seed's sample x = {list(ex['x'])}, label {classes[label - 1]}"
    else:
        where = (
            f"at the {model.name} example x = {list(ex['x'])}, w = {list(ex['W'])}, b = {ex['b']}, target y = {ex['P']}"
        )
    strengths = ", ".join(f"{q} = {given[q]:g}" for q in (S.lam, S.eps) if q in given)
    shown = f"{name} ({', '.join(words)})" if words else name
    return f"{shown} {where}" + (f", {strengths}" if strengths else "")


def random_counterexample(claim: Claim, mismatch: Mismatch) -> Counterexample:
    return random_at(claim.wrt, mismatch)


def random_at(parameter: sp.Basic, mismatch: Mismatch) -> Counterexample:
    """The random point where a comparison found two sides differ, described."""
    name = entry_name(parameter, mismatch.entry)
    values = mismatch.values
    if S.P[1] not in values:
        point = ", ".join(f"{q} = {values[q]:.6f}" for q in (S.y, S.lam) if q in values)
        where = f"{name} at a random point with d = {mismatch.features}, {point}"
        return Counterexample("random", name, plain(mismatch.entry), mismatch.claim, mismatch.truth, None, where)
    labels = [values[S.P[q]] for q in range(1, mismatch.classes + 1)]
    shown = ", ".join(f"{p:.6f}" for p in labels)
    where = f"{name} at a random point with K = {mismatch.classes}, d = {mismatch.features}, labels P = ({shown}), Sum_k P_k = {sum(labels):.6f}"
    return Counterexample("random", name, plain(mismatch.entry), mismatch.claim, mismatch.truth, None, where)


def entry_name(parameter: sp.Basic, entry: dict) -> str:
    if not isinstance(parameter, sp.Indexed):
        return text(parameter)
    return text(parameter.base[tuple(entry.get(q, q) for q in parameter.indices)])  # W_i1: the class stays


def plain(entry: dict) -> dict:
    return {str(q): int(n) for q, n in entry.items()}
