"""Claim against truth: every entry at random points, then the symbolic difference, generic and per entry.

The numbers come from the one evaluator (:mod:`derive.verify.evaluate`) at random
valuations of the model (:mod:`derive.verify.checking`), labels normalised or not;
the symbols from :mod:`derive.claims.normal_form`.  A :class:`Comparison` keeps
both, and whether they agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import sympy as sp

from derive.claims.claim import Claim
from derive.claims.normal_form import concrete_forms, normal_form
from derive.core import symbols as S
from derive.core.models import Model
from derive.verify import checking
from derive.verify.evaluate import Valuation, environment, number

#: random points per comparison
POINTS = 3
#: entries checked at the second size K + 1, d + 1 (all entries are checked at K, d)
SAMPLE = 6
TOLERANCE = 1e-8


def entries(parameter: sp.Indexed, classes: int, features: int) -> list[dict]:
    """Every concrete index assignment of W_ij (or b_j): [{i: 1, j: 1}, {i: 1, j: 2}, ...]."""
    indices = [q for q in getattr(parameter, "indices", ()) if q.is_Symbol]  # W_i1: the class is fixed
    shape = tuple(features if q == S.i else classes for q in indices)
    return [{q: n + 1 for q, n in zip(indices, position)} for position in np.ndindex(shape)]


def agree(got: float, want: float) -> bool:
    return bool(np.isfinite(got)) and abs(got - want) <= TOLERANCE * max(1.0, abs(want))


@dataclass(frozen=True)
class Mismatch:
    """One entry at one point where the claim and the truth differ."""

    entry: dict
    claim: float
    truth: float
    values: Valuation = field(repr=False)
    classes: int = 2
    features: int = 2

    @property
    def gap(self) -> float:
        return abs(self.claim - self.truth) if np.isfinite(self.claim) else float("inf")


@lru_cache(maxsize=64)
def points(model: Model, classes: int, features: int, normalised: bool, seed: int = 0) -> tuple[Point, ...]:
    """POINTS random valuations (inputs from :func:`derive.verify.checking.random_inputs`, z and a computed)."""
    rng = np.random.default_rng([seed, classes, features, normalised])
    valuations = (
        checking.valuation(model, classes, features, _random_point(model, classes, features, rng, normalised))
        for _ in range(POINTS)
    )
    return tuple(Point(values, environment(values, classes, features)) for values in valuations)


def _random_point(model: Model, classes: int, features: int, rng: np.random.Generator, normalised: bool) -> dict:
    """Random inputs and, for a penalised model, a random strength lambda."""
    return {
        **checking.random_inputs(model, classes, features, rng, normalised=normalised),
        **checking.penalty_strength(model, rng),
    }


@dataclass(frozen=True)
class Point:
    """A random point: its valuation and the evaluator's environment of it."""

    values: Valuation
    env: dict


def sizes_of(model: Model, classes: int, features: int) -> list[tuple[int, int]]:
    """The sizes a generic claim is checked at: (K, d) and (K + 1, d + 1); one output stays one."""
    more = classes if model.output_index is None else classes + 1
    return [(classes, features), (more, features + 1)]


def numeric_mismatch(
    claim, truth, model, parameter, normalised, classes, features, seed=0, sample=None
) -> Mismatch | None:
    """The worst entry over POINTS random points, or None when the claim agrees everywhere.

    Every entry is checked, or ``sample`` of them drawn at random (for the second size).
    """
    rng = np.random.default_rng(seed)
    cells = entries(parameter, classes, features)
    if sample is not None and sample < len(cells):
        cells = [cells[n] for n in sorted(rng.choice(len(cells), size=sample, replace=False))]
    worst = None
    for point in points(model, classes, features, normalised, seed):
        for entry in cells:
            env = {**point.env, **entry}
            got, want = number(claim, env), number(truth, env)
            if not agree(got, want):
                found = Mismatch(entry, got, want, point.values, classes, features)
                worst = found if worst is None or found.gap > worst.gap else worst
    return worst


def more_sizes(claim, model: Model, classes: int, features: int) -> list[tuple[int, int]]:
    """Further sizes for a claim that names K or d itself (outside a sum's limits): a polynomial in them, such as
    (K - 2)(K - 3), may vanish at the two sizes checked first."""
    if claim.concrete:
        return []
    bare = claim.expr.replace(lambda e: isinstance(e, sp.Sum), lambda e: e.function).free_symbols & {S.K, S.d}
    if not bare:
        return []
    grow = 0 if model.output_index is None else 1
    return [(classes + grow * step, features + step) for step in (2, 4, 7, 11)]


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


def compare(
    claim: Claim, truth: sp.Expr, model: Model, normalised: bool, classes: int, features: int, reduce: bool = True
) -> Comparison:
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
    for k_, d_ in more_sizes(claim, model, classes, features) if mismatch is None else ():
        mismatch = mismatch or numeric_mismatch(claim.expr, truth, model, claim.wrt, normalised, k_, d_, sample=SAMPLE)
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
