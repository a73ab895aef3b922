"""Taylor tests of the generated gradients, as devito checks its adjoints.

For every float64 module in output/ (each model, with and without the L2 penalty), a
random point theta and a random direction V over all the parameters, and steps
h = 2^-k:

    |L(theta + h V) - L(theta)|                    is O(h):   slope 1 in log h
    |L(theta + h V) - L(theta) - h <grad L, V>|    is O(h^2): slope 2 only if the gradient is right

A gradient that is wrong in any entry V touches leaves an O(h) term in the second
error, and its slope drops to 1.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from derive.app.code import load_module

OUTPUT = Path(__file__).resolve().parent.parent / "output"
#: the generated float64 modules of the built-in models, one per configuration that derive all writes (W, b, X, P);
#: the model files' modules (mlp_grad.py) take their own arguments and have their Taylor test in test_network_code.py
MODULES = sorted(path.name for path in OUTPUT.glob("*_grad.py") if not path.name.startswith("mlp"))
#: steps h = 2^-k: small enough for the Taylor terms to dominate, large enough that rounding does not
STEPS = 2.0 ** -np.arange(6, 16)


def test_every_model_has_a_module():
    assert MODULES == [
        "linear_grad.py",
        "logistic_grad.py",
        "logistic_l2_grad.py",
        "softmax_grad.py",
        "softmax_l2_grad.py",
    ]


def point(module, rng: np.random.Generator, N: int = 20, d: int = 4, K: int = 3):
    """Random parameters, a random direction over them, and a batch (X, labels) that fits the module."""
    X = rng.standard_normal((N, d))
    if "P" in inspect.signature(module.loss).parameters:  # a model with classes: W (d, K), b (K,), P (N, K)
        P = rng.random((N, K))
        params = [rng.standard_normal((d, K)), rng.standard_normal(K)]
        return params, [rng.standard_normal(p.shape) for p in params], X, P / P.sum(axis=1, keepdims=True)
    labels = rng.random(N) if module.__name__.startswith("logistic") else rng.standard_normal(N)
    return [rng.standard_normal(d), float(rng.standard_normal())], [rng.standard_normal(d), 1.0], X, labels


def slope(steps: np.ndarray, errors: np.ndarray) -> float:
    """The slope of the least-squares line through (log h, log error)."""
    return float(np.polyfit(np.log(steps), np.log(errors), 1)[0])


def taylor_errors(module, params, direction, X, labels, steps):
    loss = module.loss(*params, X, labels)
    _, *grads = module.loss_and_grad(*params, X, labels)
    along = sum(float(np.vdot(g, v)) for g, v in zip(grads, direction))
    moved = np.array([module.loss(*(p + h * v for p, v in zip(params, direction)), X, labels) for h in steps])
    return np.abs(moved - loss), np.abs(moved - loss - steps * along)


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("seed", [0, 1])
def test_taylor(name, seed):
    module = load_module((OUTPUT / name).read_text(), name[:-3])
    params, direction, X, labels = point(module, np.random.default_rng(seed))
    first, second = taylor_errors(module, params, direction, X, labels, STEPS)
    assert slope(STEPS, first) == pytest.approx(1, abs=0.1)
    assert slope(STEPS, second) == pytest.approx(2, abs=0.1)
    # and step by step: halving h quarters the second error
    np.testing.assert_allclose(second[:-1] / second[1:], 4, rtol=0.05)


def test_a_wrong_gradient_fails_the_taylor_test():
    """The test can fail: one entry of dW off by 0.5 leaves an O(h) term, and the second slope falls to 1."""
    module = load_module((OUTPUT / "softmax_grad.py").read_text(), "softmax_grad")
    params, direction, X, labels = point(module, np.random.default_rng(0))

    class Wrong:
        loss = staticmethod(module.loss)

        @staticmethod
        def loss_and_grad(*args):
            H, dW, db = module.loss_and_grad(*args)
            dW = dW.copy()
            dW[0, 0] += 0.5
            return H, dW, db

    _, second = taylor_errors(Wrong, params, direction, X, labels, STEPS)
    assert slope(STEPS, second) < 1.2  # far from 2: the test above would fail
