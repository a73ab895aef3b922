"""Numeric checking: values of symbolic expressions at points, finite differences, step soundness.

Shipped inside the package (as autograd ships its ``check_grads``) so that a
user can check their own formulas the way the tests check the engine's.

A *valuation* gives every quantity of a model a number for concrete K and d:
the inputs (W, b, x, P) are drawn or given, and the intermediates (z, then a)
are computed from the model's own definitions, unless they are *held*: holding
a quantity makes it an independent variable, which is how the factor
dH/da_k of the chain rule is checked without going through the softmax.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import sympy as sp

from . import symbols as S
from .derivation import CHAIN, Derivation, Step
from .models import Model

Valuation = dict[sp.Indexed, float]


def random_inputs(model: Model, classes: int, features: int, rng: np.random.Generator, normalised: bool = True) -> Valuation:
    """Random W, b, x and labels P (a probability vector when ``normalised``)."""
    labels = rng.uniform(0.05, 1.0, classes)
    labels = labels / labels.sum() if normalised else labels * rng.uniform(0.5, 2.0)
    values: Valuation = {model.label[k + 1]: float(p) for k, p in enumerate(labels)}
    for i in range(1, features + 1):
        values[S.x[i]] = float(rng.normal())
        for j in range(1, classes + 1):
            values[S.W[i, j]] = float(rng.normal())
    for j in range(1, classes + 1):
        values[S.b[j]] = float(rng.normal())
    return values


def intermediates(model: Model) -> tuple[tuple[sp.Indexed, sp.Expr, sp.Symbol], ...]:
    """(name, definition, index) of each computed quantity, in the order they are computed."""
    return (
        (model.logit, model.logit_definition, model.logit.indices[0]),
        (model.activation, model.activation_definition, model.output_index),
    )


def valuation(model: Model, classes: int, features: int, inputs: Mapping, held: Iterable[sp.IndexedBase] = ()) -> Valuation:
    """``inputs`` completed with z and a from their definitions (except the ``held`` ones)."""
    values = dict(inputs)
    held = set(held)
    for name, definition, index in intermediates(model):
        if name.base in held:
            continue
        generic = S.instantiate(definition, classes, features)
        for q in range(1, classes + 1):
            values[name.base[q]] = float(generic.xreplace({index: q}).xreplace(values))
    return values


def value(expr: sp.Expr, classes: int, features: int, values: Mapping, indices: Mapping | None = None) -> float:
    """The number ``expr`` takes at ``values`` for concrete K, d and free indices."""
    concrete = S.instantiate(expr, classes, features, dict(indices or {}))
    result = concrete.xreplace(dict(values))
    try:
        return float(result)
    except TypeError:
        raise ValueError(f"expression still has free symbols after substitution: {result}") from None


def definition_of(model: Model, quantity: sp.Expr) -> tuple[sp.Expr, sp.Symbol | None]:
    """(definition, its free index) of H, a_k or z_j."""
    if quantity == S.H:
        return model.loss, None
    for name, definition, index in intermediates(model):
        if isinstance(quantity, sp.Indexed) and quantity.base == name.base:
            return definition, index
    raise KeyError(f"no definition for {quantity}")


def finite_difference(
    model: Model, derivative: sp.Derivative, classes: int, features: int, inputs: Mapping, indices: Mapping, h: float = 1e-6
) -> float:
    """Central difference of the quantity ``derivative`` differentiates, at concrete indices."""
    quantity, variable = derivative.expr, derivative.variables[0]
    definition, index = definition_of(model, quantity)
    base = valuation(model, classes, features, inputs)
    variable = variable.subs(dict(indices))
    q_index = {index: quantity.subs(dict(indices)).indices[0]} if index is not None else {}

    def at(offset: float) -> float:
        values = {**base, variable: base[variable] + offset}
        values = valuation(model, classes, features, values, held=_held_by(model, variable))
        return value(definition, classes, features, values, q_index)

    return (at(h) - at(-h)) / (2 * h)


def _held_by(model: Model, variable: sp.Indexed) -> tuple:
    """Perturbing an intermediate means holding it (and what it is computed from) fixed."""
    order = [name.base for name, _, _ in intermediates(model)]
    if variable.base in order:
        return tuple(order[: order.index(variable.base) + 1])
    return ()


@dataclass(frozen=True)
class StepCheck:
    """A step's value beside the finite-difference value of its left-hand side."""

    step: Step
    value: float
    reference: float

    @property
    def ok(self) -> bool:
        return abs(self.value - self.reference) <= 1e-6 * max(1.0, abs(self.reference))


def check_steps(
    derivation: Derivation, classes: int, features: int, rng: np.random.Generator | None = None
) -> list[StepCheck]:
    """Evaluate every step (but the chain-rule statement) at one random point and index choice.

    Each main step must equal the finite difference of H; each factor step the
    finite difference of its own definition.  Labels are normalised exactly when
    the derivation used that assumption.
    """
    rng = rng or np.random.default_rng(0)
    model = derivation.model
    inputs = random_inputs(model, classes, features, rng, normalised=bool(derivation.assumptions))
    indices = {S.i: int(rng.integers(1, features + 1)), S.j: int(rng.integers(1, classes + 1))}
    indices[S.k] = int(rng.integers(1, classes + 1))
    values = valuation(model, classes, features, inputs)
    checks = []
    for step in derivation.steps:
        if step.kind == CHAIN:
            continue
        got = value(step.rhs, classes, features, values, indices)
        ref = finite_difference(model, step.lhs, classes, features, inputs, indices)
        checks.append(StepCheck(step, got, ref))
    return checks


def loss_function(model: Model, classes: int, features: int):
    """The loss as a NumPy function ``f(W, b, x, P)`` of concrete shapes, from its definition alone.

    The loss is composed with the activation and logit definitions and
    lambdified; no derivative is involved, so it is an independent reference.
    """
    expr = S.instantiate(model.loss, classes, features)
    for name, definition, index in reversed(intermediates(model)):
        generic = S.instantiate(definition, classes, features)
        expr = expr.xreplace({name.base[q]: generic.xreplace({index: q}) for q in range(1, classes + 1)})
    W = [[S.W[r, c] for c in range(1, classes + 1)] for r in range(1, features + 1)]
    b = [S.b[q] for q in range(1, classes + 1)]
    x = [S.x[q] for q in range(1, features + 1)]
    P = [model.label[q] for q in range(1, classes + 1)]
    # NumPy's exp and log (inf rather than OverflowError at huge logits), the rest from math: the
    # "numpy" module would run `from numpy import *`, 0.3 s of imports on the first call of a process
    f = sp.lambdify((W, b, x, P), expr, modules=[{"exp": np.exp, "log": np.log}, "math"])
    return lambda W_, b_, x_, P_: float(f(np.asarray(W_).tolist(), list(b_), list(x_), list(P_)))
