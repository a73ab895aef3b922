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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.core import symbols as S
from derive.core.derivation import CHAIN, LABEL, Derivation, Step
from derive.core.models import Model
from derive.verify.evaluate import Valuation, environment, evaluate


def random_inputs(
    model: Model, classes: int, features: int, rng: np.random.Generator, normalised: bool = True
) -> Valuation:
    """Random values for the model's inputs; labels as its ``label_kind`` says.

    A "distribution" label (P) is a probability vector when ``normalised``, a
    "probability" label (y) lies in (0, 1), a "real" one is any number.
    """
    sizes = {"d": features, "K": classes}
    values: Valuation = {}
    for base, shape, _ in model.inputs:
        if base == model.label:
            continue
        for position in np.ndindex(*(sizes[n] for n in shape)):
            values[entry(base, position)] = float(rng.normal())
    values.update(_random_labels(model, classes, rng, normalised))
    return values


def entry(base: sp.Basic, position: tuple[int, ...]) -> sp.Basic:
    """base[position + 1] for an IndexedBase, the scalar itself for ()."""
    return base[tuple(p + 1 for p in position)] if position else base


def _random_labels(model: Model, classes: int, rng: np.random.Generator, normalised: bool) -> Valuation:
    if model.label_definition is not None:
        return defined_labels(model, classes, float(rng.uniform(0.05, 0.5)), int(rng.integers(1, classes + 1)))
    if model.label_kind == "distribution":
        labels = rng.uniform(0.05, 1.0, classes)
        labels = labels / labels.sum() if normalised else labels * rng.uniform(0.5, 2.0)
        return {model.label[k + 1]: float(p) for k, p in enumerate(labels)}
    value = rng.uniform(0.05, 0.95) if model.label_kind == "probability" else rng.normal()
    return {model.label: float(value)}


def defined_labels(model: Model, classes: int, strength: float, true_class: int) -> Valuation:
    """P_k from the model's label definition (label smoothing), with epsilon and c themselves."""
    values: Valuation = {S.eps: strength, S.c: true_class}
    env = environment(values, classes, 1)
    for k in range(1, classes + 1):
        values[model.label[k]] = evaluate(model.label_definition, {**env, model.output_index: k})
    return values


def intermediates(model: Model) -> tuple[tuple[sp.Basic, sp.Expr, sp.Symbol | None], ...]:
    """(name, definition, index) of each computed quantity, in the order they are computed."""
    logit_index = model.logit.indices[0] if isinstance(model.logit, sp.Indexed) else None
    return (
        (model.logit, model.logit_definition, logit_index),
        (model.activation, model.activation_definition, model.output_index),
    )


def valuation(model: Model, classes: int, features: int, inputs: Mapping, held: Iterable[sp.Basic] = ()) -> Valuation:
    """``inputs`` completed with z and a from their definitions (except the ``held`` ones)."""
    values = dict(inputs)
    held = set(held)
    for name, definition, index in intermediates(model):
        if S.key(name) in held:
            continue
        env = environment(values, classes, features)
        if index is None:
            values[name] = evaluate(definition, env)
            continue
        for q in range(1, classes + 1):
            values[name.base[q]] = evaluate(definition, {**env, index: q})
    return values


def value(expr: sp.Expr, classes: int, features: int, values: Mapping, indices: Mapping | None = None) -> float:
    """The number ``expr`` takes at ``values`` for concrete K, d and free indices."""
    try:
        return evaluate(expr, environment(values, classes, features, indices))
    except KeyError as missing:
        raise ValueError(f"{expr} needs a value for {missing}") from None


def definition_of(model: Model, quantity: sp.Expr) -> tuple[sp.Expr, sp.Symbol | None]:
    """(definition, its free index) of H, a_k or z_j; a scalar's index is None."""
    whole = {S.H: model.loss + model.penalty, S.L: model.loss, S.R: model.penalty}
    if quantity in whole:
        return whole[quantity], None
    for name, definition, index in intermediates(model):
        if S.key(quantity) == S.key(name):
            return definition, index
    raise KeyError(f"no definition for {quantity}")


def finite_difference(
    model: Model,
    derivative: sp.Derivative,
    classes: int,
    features: int,
    inputs: Mapping,
    indices: Mapping,
    h: float = 1e-6,
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


def _held_by(model: Model, variable: sp.Basic) -> tuple:
    """Perturbing an intermediate means holding it (and what it is computed from) fixed."""
    order = [S.key(name) for name, _, _ in intermediates(model)]
    if S.key(variable) in order:
        return tuple(order[: order.index(S.key(variable)) + 1])
    return ()


def penalty_strength(model: Model, rng: np.random.Generator) -> Valuation:
    """A random positive value for every strength (lambda) in the model's penalty."""
    return {q: float(rng.uniform(0.1, 1.0)) for q in model.penalty.free_symbols if q.is_positive}


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
    inputs.update(penalty_strength(model, rng))
    indices = {S.i: int(rng.integers(1, features + 1)), S.j: int(rng.integers(1, classes + 1))}
    indices[S.k] = int(rng.integers(1, classes + 1))
    values = valuation(model, classes, features, inputs)
    checks = []
    for step in derivation.steps:
        if step.kind == CHAIN:
            continue
        got = value(step.rhs, classes, features, values, indices)
        if step.kind == LABEL:
            ref = sum(values[model.label[k]] for k in range(1, classes + 1))
        else:
            ref = finite_difference(model, step.lhs, classes, features, inputs, indices)
        checks.append(StepCheck(step, got, ref))
    return checks


def loss_function(model: Model, classes: int, features: int, constants: Mapping | None = None):
    """The loss as a function of the model's input arrays, in ``model.inputs`` order, from its definition alone.

    For softmax regression that is ``f(W, b, x, P)``.  The loss (with any
    penalty, its strengths fixed by ``constants``) is composed with the
    activation and logit definitions and lambdified; no derivative is involved,
    so it is an independent reference.
    """
    explicit = S.Explicit(classes, features)
    expr = explicit(model.loss + model.penalty).xreplace(dict(constants or {}))
    for name, definition, index in reversed(intermediates(model)):
        if index is None:
            expr = expr.xreplace({name: explicit(definition)})
        else:
            names = {
                explicit.symbol(name.base, (q,)): explicit(definition, **{str(index): q}) for q in range(1, classes + 1)
            }
            expr = expr.xreplace(names)
    sizes = {"d": features, "K": classes}
    symbols = [
        explicit.symbol(base, tuple(p + 1 for p in pos)) if shape else base
        for base, shape, _ in model.inputs
        for pos in np.ndindex(*(sizes[n] for n in shape))
    ]
    # plain symbols, not Indexed ones: lambdify would first substitute dummies for them, a second of work
    # NumPy's exp and log (inf rather than OverflowError at huge logits), the rest from math: the
    # "numpy" module would run `from numpy import *`, 0.3 s of imports on the first call of a process
    f = sp.lambdify(symbols, expr, modules=[{"exp": np.exp, "log": np.log}, "math"])

    def loss(*arrays) -> float:
        return float(f(*(v for array in arrays for v in np.ravel(array))))

    return loss
