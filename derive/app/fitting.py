"""Full-batch training of softmax regression over a dataset on disk, with the derived gradient.

Each iteration is one pass of an engine (:mod:`derive.app.engines`: in-process or on Dask) that
returns the mean loss and its gradient over every row.  Two methods:

* ``gd``: gradient descent, W <- W - lr dH/dW, b <- b - lr dH/db, one pass per step;
* ``lbfgs``: ``scipy.optimize.minimize(method="L-BFGS-B", jac=True)`` on the parameters flattened
  into one vector, the pass giving both the loss and the gradient (the line search may take a
  few passes per iteration).

``report(iteration, loss)`` is called after each iteration with the mean loss at its start (gd)
or end (lbfgs), counting on from the ``start`` iteration of resumed weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: the methods of derive train --data
METHODS = ("lbfgs", "gd")

Report = Callable[[int, float], None]


@dataclass(frozen=True)
class Fit:
    """The trained weights, the loss of each iteration, the final mean loss, and the passes over the data."""

    method: str
    W: np.ndarray
    b: np.ndarray
    losses: tuple[float, ...]
    loss: float
    iterations: int
    passes: int
    message: str = ""


def fit(engine, W, b, method: str, iterations: int, lr: float, start: int = 0, report: Report | None = None) -> Fit:
    """Train from (W, b) for ``iterations`` iterations of ``method``; the iteration count goes on from ``start``."""
    report = report or (lambda iteration, loss: None)
    if method == "gd":
        return descend(engine, W, b, iterations, lr, start, report)
    return lbfgs(engine, W, b, iterations, start, report)


def descend(engine, W, b, iterations: int, lr: float, start: int, report: Report) -> Fit:
    """Gradient descent; the loss before each step, and a last pass for the loss of the final weights."""
    losses = []
    for n in range(iterations):
        H, dW, db = engine.loss_and_grad(W, b)
        W, b = W - lr * dW, b - lr * db
        losses.append(H)
        report(start + n + 1, H)
    final = engine.loss_and_grad(W, b)[0]
    return Fit("gd", W, b, tuple(losses), final, start + iterations, iterations + 1)


def lbfgs(engine, W, b, iterations: int, start: int, report: Report) -> Fit:
    """L-BFGS-B of SciPy with the derived gradient; stops after ``iterations`` iterations or on convergence."""
    from scipy.optimize import minimize

    shape, losses = W.shape, []

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        H, dW, db = engine.loss_and_grad(*split(theta, shape))
        return H, np.concatenate([dW.ravel(), db])

    def callback(intermediate_result) -> None:
        losses.append(float(intermediate_result.fun))
        report(start + len(losses), losses[-1])

    theta = np.concatenate([W.ravel(), b])
    result = minimize(
        loss_and_gradient, theta, jac=True, method="L-BFGS-B", callback=callback, options={"maxiter": iterations}
    )
    W, b = split(result.x, shape)
    return Fit("lbfgs", W, b, tuple(losses), float(result.fun), start + len(losses), int(result.nfev), result.message)


def split(theta: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) from the flat vector [W raveled, b]."""
    size = shape[0] * shape[1]
    return theta[:size].reshape(shape), theta[size:]
