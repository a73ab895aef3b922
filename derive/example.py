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

from . import checking
from . import symbols as S
from .derivation import derive
from .models import Model, get_model

#: the student's sample: petal length and width of an iris Setosa, label Setosa
SEED = {
    "x": (1.9, 0.4),
    "W": ((0.1, 0.5), (0.1, 0.5)),
    "b": (0.0, 0.0),
    "P": (1.0, 0.0),
}
SEED_CLASSES = ("Setosa", "Non-Setosa")
SEED_FEATURES = ("petal length", "petal width")

#: formulas people wrote for dH/dW_ij, evaluated beside the truth
MISTAKES: dict[str, tuple[sp.Expr, str]] = {
    "accepted answer": (
        sp.Mul(-1, S.P[S.j], 1 - S.a[S.j], S.x[S.i], evaluate=False),
        "keeps only the k = j term of the chain rule (the diagonal of the softmax Jacobian)",
    ),
    "student's answer": (
        sp.Mul(-1, 1 - S.a[S.j], S.x[S.i], S.label_total(), evaluate=False),
        "replaces every P_k by its own diagonal term a_k(1 - a_k)",
    ),
}

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

    @property
    def classes(self) -> int:
        return self.W.shape[1]

    @property
    def features(self) -> int:
        return self.W.shape[0]

    @property
    def W_next(self) -> np.ndarray | None:
        """W after one gradient-descent step, W - lr * dH/dW."""
        return None if self.lr is None else self.W - self.lr * self.grad_W

    @property
    def b_next(self) -> np.ndarray | None:
        return None if self.lr is None else self.b - self.lr * self.grad_b

    @property
    def fd_error(self) -> float:
        """Largest difference between the engine's gradient and finite differences."""
        return float(max(np.abs(self.grad_W - self.fd_W).max(), np.abs(self.grad_b - self.fd_b).max()))

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
        return out


def inputs(x, W, b, P, model: Model) -> dict:
    """The valuation of x, W, b and P, 1-based as in the notation."""
    values = {S.x[i + 1]: float(v) for i, v in enumerate(x)}
    values.update({S.b[j + 1]: float(v) for j, v in enumerate(b)})
    values.update({model.label[j + 1]: float(v) for j, v in enumerate(P)})
    for (i, j), v in np.ndenumerate(np.asarray(W, dtype=float)):
        values[S.W[i + 1, j + 1]] = float(v)
    return values


def worked_example(
    x=SEED["x"], W=SEED["W"], b=SEED["b"], P=SEED["P"], lr: float | None = None, model: Model | str = "softmax", assume: bool = True
) -> Example:
    """Evaluate the model and the derived gradients at one sample (shapes checked by the caller)."""
    model = get_model(model) if isinstance(model, str) else model
    x, W, b, P = (np.asarray(v, dtype=float) for v in (x, W, b, P))
    features, classes = W.shape
    values = checking.valuation(model, classes, features, inputs(x, W, b, P, model))
    grad = {p: _matrix(derive(model, p, assume).result, p, classes, features, values) for p in model.parameters}
    grad_W, grad_b = (grad[p] for p in model.parameters)
    mistakes = {name: _matrix(expr, model.parameters[0], classes, features, values) for name, (expr, _) in MISTAKES.items()}
    fd_W, fd_b = finite_differences(model, x, W, b, P)
    return Example(
        x, W, b, P,
        z=np.array([values[model.logit.base[q]] for q in range(1, classes + 1)]),
        a=np.array([values[model.activation.base[q]] for q in range(1, classes + 1)]),
        loss=checking.value(model.loss, classes, features, values),
        grad_W=grad_W, grad_b=grad_b, fd_W=fd_W, fd_b=fd_b, lr=lr, mistakes=mistakes, assume=assume,
    )  # fmt: skip


def _matrix(expr: sp.Expr, parameter: sp.Indexed, classes: int, features: int, values: dict) -> np.ndarray:
    """expr at every concrete index of ``parameter`` (W: d x K, b: K)."""
    shape = tuple(features if q == S.i else classes for q in parameter.indices)
    out = np.empty(shape)
    for position in np.ndindex(shape):
        concrete = {q: n + 1 for q, n in zip(parameter.indices, position)}
        out[position] = checking.value(expr, classes, features, values, concrete)
    return out


def finite_differences(model: Model, x, W, b, P, h: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of the loss (from its definition alone) in every W_ij and b_j."""
    loss = checking.loss_function(model, W.shape[1], W.shape[0])

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
