"""The interactive session's Markdown: the engine's objects printed into contexts of ``markdown/session-*.md.jinja``.

Pure functions of the engine's values (derivations, worked examples, models, generated
source): each prints its formulas with :mod:`derive.printing.latex` and the document's
helpers (:mod:`derive.render.document`) and renders one template.  The session's views
(:mod:`derive.app.views`) call them for ``_repr_markdown_``; nothing here formats a
formula by hand.  Also the written-out Jacobian that ``Session.jacobian(K)`` displays.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from derive.core import symbols as S
from derive.core.derivation import Derivation
from derive.core.models import Model
from derive.core.rules import WrittenSum
from derive.printing.latex import Gradient, equation
from derive.render import document
from derive.render.environment import render
from derive.verify.example import Example


def definitions(model: Model) -> tuple[tuple[sp.Basic, sp.Basic], ...]:
    """(lhs, rhs) of the model's loss, activation and logit: H = ..., a_k = ..., z_j = ..."""
    return (
        (S.H, model.loss + model.penalty),
        (model.activation, model.activation_definition),
        (model.logit, model.logit_definition),
    )


def model_markdown(model: Model, derivations: tuple[Derivation, ...]) -> str:
    """The model's title, its definitions and its closed forms."""
    return render(
        "markdown",
        "session-model.md.jinja",
        title=model.title,
        definitions=[equation(*sides) for sides in definitions(model)],
        results=[equation(d.lhs, d.result) for d in derivations],
    )


def gradients_markdown(derivations: tuple[Derivation, ...]) -> str:
    """Every closed form, then the assumptions they rely on (or that they need none)."""
    first = derivations[0]
    assumptions = [a.statement for a in first.model.assumptions if a.name in first.assumptions]
    return render(
        "markdown",
        "session-gradients.md.jinja",
        results=[equation(d.lhs, d.result) for d in derivations],
        assumptions=[equation(a.lhs, a.rhs) for a in assumptions],
    )


def steps_markdown(derivation: Derivation, steps, start: int) -> str:
    """``steps`` of ``derivation``, numbered from ``start``, each with the words of its rule."""
    tex = document.Tex()
    used = frozenset(derivation.model.assumption(n).rule.name for n in derivation.assumptions)
    statement = document.assumption_statement(derivation, tex)
    return render("markdown", "session-steps.md.jinja", lines=document.lines(steps, tex, used, start, statement))


def code_markdown(source: str) -> str:
    """Generated source as a highlighted Python block."""
    return render("markdown", "session-code.md.jinja", source=source)


def example_markdown(example: Example, derivations: tuple[Derivation, ...]) -> str:
    """The worked example's numbers as math: inputs, outputs, loss, gradients, the descent step."""
    return render("markdown", "session-example.md.jinja", **example_context(example, derivations))


def jacobian_matrix(model: Model, factor: sp.Expr, classes: int) -> tuple[sp.Basic, sp.Basic]:
    """(da/dz, the K x K matrix of the Jacobian's entry ``factor`` da_k/dz_j at every k, j), written out."""
    k, j = model.output_index, model.logit.indices[0]
    entries = sp.ImmutableMatrix(classes, classes, lambda r, c: document.written(factor.subs({k: r + 1, j: c + 1})))
    a, z = (sp.MatrixSymbol(str(q.base), classes, 1) for q in (model.activation, model.logit))
    return sp.Derivative(a, z, evaluate=False), entries


# --- the worked example's context ----------------------------------------------------------------


def example_context(example: Example, derivations: tuple[Derivation, ...]) -> dict:
    """The worked example's formulas, printed, for markdown/session-example.md.jinja."""
    model = derivations[0].model
    arrays = dict(zip((i.base for i in model.inputs), (example.W, example.b, example.x, example.P)))
    outputs = [(S.key(model.logit), example.z), (S.key(model.activation), example.a)]
    gradients = [_gradient(d.wrt, v) for d, v in zip(derivations, (example.grad_W, example.grad_b))]
    return {
        "title": model.title,
        "inputs": [equation(*_quantity(base, values)) for base, values in arrays.items()],
        "outputs": [equation(*_quantity(base, values)) for base, values in outputs],
        "loss": equation(S.H, sp.Float(example.loss)),
        "gradients": [equation(*g) for g in gradients],
        "fd_error": document.fd_gap(example, equation),
        "dropped": example.dropped_reason() if example.dropped else "",
        **_descent_context(example, derivations, gradients),
    }


def _descent_context(example: Example, derivations: tuple[Derivation, ...], gradients: list) -> dict:
    """eta and the descent step of each parameter, printed (None and none without a learning rate)."""
    if example.lr is None:
        return {"eta": None, "descent": []}
    now = [_quantity(S.key(d.wrt), v) for d, v in zip(derivations, (example.W, example.b))]
    after = [_quantity(S.key(d.wrt), v)[1] for d, v in zip(derivations, (example.W_next, example.b_next))]
    return {
        "eta": equation(document.ETA, sp.Float(example.lr), decimals=None),
        "descent": [_descent(q, g[0], n, g[1], a) for (q, n), g, a in zip(now, gradients, after)],
    }


def _quantity(base: sp.Basic, values: np.ndarray) -> tuple[sp.Basic, sp.Basic]:
    """(the quantity, its numbers): a bold vector or matrix and a matrix, or a scalar and a Float."""
    values = np.asarray(values, dtype=float)
    if values.size == 1 and not isinstance(base, sp.IndexedBase):
        return base, sp.Float(float(values.reshape(())))
    shape = values.shape if values.ndim == 2 else (values.size, 1)
    return sp.MatrixSymbol(str(base.label), *shape), document.numbers(values)


def _gradient(parameter: sp.Basic, values: np.ndarray) -> tuple[sp.Basic, sp.Basic]:
    """(nabla_W H or dH/db, its numbers)."""
    quantity, numbers = _quantity(S.key(parameter), values)
    return (Gradient(S.H, quantity) if isinstance(quantity, sp.MatrixSymbol) else sp.Derivative(S.H, quantity)), numbers


def _descent(theta: sp.Basic, grad: sp.Basic, now: sp.Basic, step: sp.Basic, after: sp.Basic) -> str:
    """theta' = theta - eta grad = now - eta step = after, printed."""
    matrix = isinstance(theta, sp.MatrixSymbol)
    new = sp.MatrixSymbol(f"{theta.name}'", *theta.shape) if matrix else sp.Symbol(f"{theta.name}'")
    if matrix:
        sides = [
            sp.MatAdd(t, sp.MatMul(-1, document.ETA, g, evaluate=False), evaluate=False)
            for t, g in ((theta, grad), (now, step))
        ]
    else:  # a scalar sum prints in its written order only as a WrittenSum
        sides = [
            WrittenSum.written(t, sp.Mul(-1, document.ETA, g, evaluate=False)) for t, g in ((theta, grad), (now, step))
        ]
    return equation(new, *sides, after)
