"""The worked example: the engine's closed form evaluated at one sample.

Every number comes from the model's symbolic definitions and the derivation's
symbolic result (substituted at the sample), never from a second hand-written
formula; central finite differences of the loss cross-check the gradient.  The
common mistakes from the question this project answers are evaluated beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from derive.core import symbols as S
from derive.core.derivation import derive
from derive.core.models import SOFTMAX, Model, get_model
from derive.verify import checking

#: central finite differences (h = 1e-6) agree with an exact gradient far below this
FD_TOLERANCE = 1e-8

#: largest worked example: each entry is evaluated symbolically
MAX_CLASSES, MAX_FEATURES = 50, 50


@dataclass(frozen=True)
class Example:
    """A sample, the engine's values at it, and their finite-difference cross-check."""

    x: np.ndarray
    W: np.ndarray
    b: np.ndarray
    P: np.ndarray
    z: np.ndarray
    a: np.ndarray
    loss: float
    grad_W: np.ndarray
    grad_b: np.ndarray
    fd_W: np.ndarray
    fd_b: np.ndarray
    lr: float | None = None
    mistakes: dict[str, np.ndarray] = field(default_factory=dict)
    assume: bool = True
    #: the model's assumption was asked for, but these labels break it: the numbers are the exact form's
    dropped: tuple[str, ...] = ()

    @property
    def classes(self) -> int:
        return len(self.a)

    @property
    def features(self) -> int:
        return len(self.x)

    @property
    def W_next(self) -> np.ndarray | None:
        """W after one gradient-descent step, W - lr * dH/dW."""
        return None if self.lr is None else self.W - self.lr * self.grad_W

    @property
    def b_next(self) -> np.ndarray | None:
        return None if self.lr is None else self.b - self.lr * self.grad_b

    @property
    def fd_agrees(self) -> bool:
        """Finite differences and the engine agree to :data:`FD_TOLERANCE` (reports say this, not the
        gap itself, whose last digits depend on the machine's floating point)."""
        return self.fd_error < FD_TOLERANCE

    @property
    def fd_error(self) -> float:
        """Largest difference between the engine's gradient and finite differences."""
        return float(max(np.abs(self.grad_W - self.fd_W).max(), np.abs(self.grad_b - self.fd_b).max(initial=0.0)))

    def as_dict(self) -> dict:
        """Plain lists, for JSON: matrices as lists of rows."""
        out = {
            "z": self.z.tolist(),
            "a": self.a.tolist(),
            "loss": self.loss,
            "grad_W": self.grad_W.tolist(),
            "grad_b": self.grad_b.tolist(),
        }
        if self.lr is not None:
            out.update(lr=self.lr, W_next=self.W_next.tolist(), b_next=self.b_next.tolist())
        out["assumption"] = "labels_sum_to_one" if self.assume and self.classes > 1 else None
        if self.dropped:
            out["assumption_not_applicable"] = self.dropped_reason()
        return out

    def dropped_reason(self) -> str:
        """Why the assumption was not used: the labels' total, and which gradient was computed instead."""
        return (
            f"labels_sum_to_one: the labels sum to {float(np.sum(self.P)):.6f}, not 1, "
            "so the gradients are the exact form (a_j Sum_k P_k - P_j) x_i"
        )


def inputs(x, W, b, P, model: Model) -> dict:
    """The valuation of the sample, 1-based as in the notation.

    ``W`` and ``b`` are the model's two parameters (W_ij and b_j; w_i and the
    scalar b), ``P`` its label (P_j; the scalar y), in ``model.inputs`` order.
    """
    arrays = dict(zip((i.base for i in model.inputs), (W, b, x, P)))
    values = {}
    for base, _, _ in model.inputs:
        for position, number in np.ndenumerate(np.asarray(arrays[base], dtype=float)):
            values[checking.entry(base, position)] = float(number)
    return values


def worked_example(
    x=None, W=None, b=None, P=None, lr: float | None = None, model: Model | str = "softmax", assume: bool = True,
    constants: dict | None = None,
) -> Example:  # fmt: skip
    """Evaluate the model and the derived gradients at one sample (shapes checked by the caller).

    Missing values come from the model's own example (the seed's sample for
    softmax regression); ``constants`` fixes symbolic strengths such as the L2
    lambda: {symbols.lam: 0.01}.
    """
    model = get_model(model) if isinstance(model, str) else model
    given = dict(zip(("x", "W", "b", "P"), (x, W, b, P)))
    x, W, b, P = (
        np.asarray(model.example[n] if given[n] is None else given[n], dtype=float) for n in ("x", "W", "b", "P")
    )
    features = len(x)
    classes = W.shape[1] if W.ndim == 2 else 1
    constants = {**model.constants, **(constants or {})}
    dropped = tuple(a.name for a in model.assumptions) if assume and not labels_sum_to_one(model, P) else ()
    assume = assume and not dropped
    values = checking.valuation(model, classes, features, {**inputs(x, W, b, P, model), **constants})
    grad = {p: _matrix(derive(model, p, assume).result, p, classes, features, values) for p in model.parameters}
    grad_W, grad_b = (grad[p] for p in model.parameters)
    mistakes = {name: _matrix(expr, model.parameters[0], classes, features, values) for name, expr, _ in model.mistakes}
    fd_W, fd_b = finite_differences(model, x, W, b, P, constants=constants)
    z, a = (_outputs(values, q, classes) for q in (model.logit, model.activation))
    loss = checking.value(model.loss + model.penalty, classes, features, values)
    return Example(
        x, W, b, P, z=z, a=a, loss=loss,
        grad_W=grad_W, grad_b=grad_b, fd_W=fd_W, fd_b=fd_b, lr=lr, mistakes=mistakes, assume=assume, dropped=dropped,
    )  # fmt: skip


#: labels within this of summing to one satisfy the assumption Sum_k P_k = 1
LABEL_TOLERANCE = 1e-9


def labels_sum_to_one(model: Model, P) -> bool:
    """Whether the sample's labels satisfy the model's assumption (always, for a model without one)."""
    if not model.assumptions or model.label_kind != "distribution":
        return True
    return abs(float(np.sum(P)) - 1.0) <= LABEL_TOLERANCE * max(1, np.size(P))


def _outputs(values: dict, quantity: sp.Basic, classes: int) -> np.ndarray:
    """z_1..z_K (or the single z) as an array."""
    if isinstance(quantity, sp.Indexed):
        return np.array([values[quantity.base[q]] for q in range(1, classes + 1)])
    return np.array([values[quantity]])


def _matrix(expr: sp.Expr, parameter: sp.Basic, classes: int, features: int, values: dict) -> np.ndarray:
    """expr at every concrete index of ``parameter`` (W: d x K, b: K, w: d, scalar b: ())."""
    indices = getattr(parameter, "indices", ())
    shape = tuple(features if q == S.i else classes for q in indices)
    out = np.empty(shape)
    for position in np.ndindex(shape):
        concrete = {q: n + 1 for q, n in zip(indices, position)}
        out[position] = checking.value(expr, classes, features, values, concrete)
    return out


def finite_differences(
    model: Model, x, W, b, P, h: float = 1e-6, constants: dict | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of the loss (from its definition alone) in every entry of both parameters."""
    classes = W.shape[1] if np.ndim(W) == 2 else 1
    loss = checking.loss_function(model, classes, len(x), constants)

    def central(arr: np.ndarray, at) -> np.ndarray:
        out = np.empty_like(arr)
        for pos in np.ndindex(arr.shape):
            step = np.zeros_like(arr)
            step[pos] = h
            out[pos] = (at(arr + step) - at(arr - step)) / (2 * h)
        return out

    return (
        central(W, lambda w: loss(w, b, x, P)),
        central(b, lambda v: loss(W, v, x, P)),
    )


def two_class_pair(model: Model) -> tuple[Example, Example] | None:
    """The sigmoid model and the 2-class softmax at the seed's sample, w = W_.1 - W_.2, b = b_1 - b_2, y = P_1.

    Both worked examples computed by the engine (None for a model that is not a plain sigmoid of one logit):
    the logistic model *is* the 2-class softmax with z = z_1 - z_2, and their numbers show it.
    """
    if model.activation != S.sigma or model.penalty != 0:
        return None
    seed = {n: np.asarray(SOFTMAX.example[n], dtype=float) for n in ("x", "W", "b", "P")}
    W, b, P = seed["W"], seed["b"], seed["P"]
    binary = worked_example(x=seed["x"], W=W[:, 0] - W[:, 1], b=b[0] - b[1], P=P[0], model=model)
    return binary, worked_example(model=SOFTMAX)
