"""The worked example in numbers: the sample, the question's table, z, a, H, the gradients, one descent step.

The numbers come from :class:`derive.verify.example.Example` (computed by the caller); here they
become explicit matrices (:func:`numbers`, :func:`value`) of the example's sizes (:func:`sized`)
and printed equations.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from derive.core import symbols as S
from derive.core.models import Model
from derive.core.rules import WrittenSum
from derive.printing.latex import Gradient, equation, latex
from derive.render.document.forms import array
from derive.render.document.steps import Tex
from derive.verify.example import FD_TOLERANCE, Example

#: the learning rate, as a symbol in the update W <- W - eta * grad
ETA = sp.Symbol("eta")


def numbers(values: np.ndarray) -> sp.ImmutableMatrix:
    """An array as an explicit matrix of Floats (a vector as a column)."""
    data = np.asarray(values, dtype=float)
    return sp.ImmutableMatrix(data.reshape(-1, 1) if data.ndim == 1 else data)


def value(holder: sp.Basic, values) -> sp.Basic:
    """The numbers of a quantity: an explicit matrix for a matrix symbol, a Float for a scalar."""
    if isinstance(holder, sp.MatrixSymbol):
        return numbers(values)
    return sp.Float(float(np.asarray(values, dtype=float).reshape(-1)[0]))


def sized(holder: sp.Basic, K: int, d: int) -> sp.Basic:
    """A matrix symbol with the sizes of the worked example."""
    if not isinstance(holder, sp.MatrixSymbol):
        return holder
    return sp.MatrixSymbol(holder.name, *(n.xreplace({S.K: K, S.d: d}) for n in holder.shape))


def worked(example: Example, model: Model, forms, tex: Tex, constants: dict) -> dict:
    """The worked example: the sample, the seed's table, z, a, H, the gradients, one descent step."""
    K, d = example.classes, example.features
    many = model.output_index is not None
    label = model.label[S.j] if many else model.label
    W, b, P, z, a = (sized(array(q), K, d) for q in (*model.parameters, label, model.logit, model.activation))
    x = sized(array(S.x[S.i]), K, d)
    j = model.logit.indices[0] if many else None
    strengths = [tex(symbol, sp.Float(number), decimals=None) for symbol, number in constants.items()]
    if model.label_definition is not None:
        strengths.append(tex(S.c, sp.Integer(int(np.argmax(example.P)) + 1)))
    logit = (
        sp.MatAdd(sp.MatMul(sp.Transpose(W), x), b) if many else WrittenSum.written(sp.MatMul(sp.Transpose(W), x), b)
    )
    return {
        "table": _question_table(example, model, j, tex) if many else None,
        "features_table": [
            {"meaning": name, "symbol": tex(S.x[q]), "value": tex(sp.Float(v))}
            for q, (name, v) in enumerate(zip(model.names("features", d), example.x), 1)
        ],
        "inputs": [tex(W, value(W, example.W)), tex(b, value(b, example.b)), tex(P, value(P, example.P))],
        "strengths": strengths,
        "z": tex(z, logit, value(z, example.z)),
        "a": tex(a, value(a, example.a)),
        "loss": tex(S.H, _loss(model, K, d), sp.Float(example.loss)),
        "gradients": [
            # labels that break the assumption get the exact form's numbers, which the matrix form does not give
            tex(lhs, value(sized(array(p), K, d), v))
            if example.dropped
            else tex(lhs, rhs, value(sized(array(p), K, d), v))
            for (lhs, rhs), p, v in zip(forms, model.parameters, (example.grad_W, example.grad_b))
        ],
        "fd_error": fd_gap(example, tex),
        "labels_total": tex(S.label_total().subs(S.K, K), sp.Float(example.P.sum())) if many else "",
        "assumption_fails": bool(example.dropped),
        "descent": descent(example, (W, b)) if example.lr is not None else None,
    }


def fd_gap(example: Example, printer) -> str:
    """The finite-difference gap as the bound "< 10^{-8}" when it is below it (the gap's own last
    digits depend on the machine), else the gap itself."""
    if example.fd_agrees:
        return "< " + printer(sp.Float(FD_TOLERANCE, 1), decimals=None)
    return printer(sp.Float(example.fd_error, 2), decimals=None)


def _loss(model: Model, K: int, d: int) -> sp.Expr:
    """The loss for the example's number of classes (and features, in a penalty): H, or L + R written so."""
    if model.penalty == 0:
        return model.loss.subs(S.K, K)
    return WrittenSum.written(*(term.subs({S.K: K, S.d: d}) for term in (model.loss, model.penalty)))


def _question_table(example: Example, model: Model, j: sp.Symbol, tex: Tex) -> dict:
    """The question's table: meaning | a_j = Q(x_j) | j | y_j = P(x_j), one row per class."""
    return {
        "header_a": tex(model.activation.base[j], sp.Function("Q")(S.x[j])),
        "header_y": tex(sp.IndexedBase("y")[j], sp.Function("P")(S.x[j])),
        "header_j": tex(j),
        "rows": [
            {"meaning": name, "a": tex(sp.Float(av)), "j": tex(sp.Integer(q)), "y": tex(sp.Float(pv))}
            for q, (name, av, pv) in enumerate(zip(model.names("classes", example.classes), example.a, example.P), 1)
        ],
    }


def descent(example: Example, parameters) -> dict:
    """One gradient-descent step: theta' = theta - eta nabla_theta H, symbolically and in numbers.

    Each step is the list of the sides of theta' = ... = ... = (the new values), printed.
    """
    steps = []
    for theta, now, grad, after in zip(
        parameters, (example.W, example.b), (example.grad_W, example.grad_b), (example.W_next, example.b_next)
    ):
        if isinstance(theta, sp.MatrixSymbol):
            new = sp.MatrixSymbol(f"{theta.name}'", *theta.shape)
            rule = sp.MatAdd(theta, sp.MatMul(-1, ETA, Gradient(S.H, theta), evaluate=False), evaluate=False)
            numeric = sp.MatAdd(numbers(now), sp.MatMul(-1, ETA, numbers(grad), evaluate=False), evaluate=False)
        else:
            new = sp.Symbol(f"{theta.name}'")
            rule = WrittenSum.written(theta, sp.Mul(-1, ETA, sp.Derivative(S.H, theta), evaluate=False))
            numeric = WrittenSum.written(value(theta, now), sp.Mul(-1, ETA, value(theta, grad), evaluate=False))
        steps.append([latex(side) for side in (new, rule, numeric, value(theta, after))])
    return {"eta": equation(ETA, sp.Float(example.lr), decimals=None), "steps": steps}
