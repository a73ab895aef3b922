"""The results in other forms: the softmax Jacobian, the matrix (vector) forms, the exact results.

:func:`matrix_forms` turns the engine's index results (dH/dW_ij = x_i g_j, dH/db_j = g_j) into
nabla_W H = x g^T and nabla_b H = g, one case per index shape; :func:`jacobian` writes the
engine's factor da_k/dz_j as a K x K matrix; :func:`exact_results` derives each gradient again
without the model's assumptions.
"""

from __future__ import annotations

import sympy as sp

from derive.core import symbols as S
from derive.core.derivation import Derivation
from derive.core.models import Model
from derive.printing.latex import Gradient, equation
from derive.render.document.notation import words
from derive.render.document.steps import Tex, written


def jacobian(derivation: Derivation, classes: int, tex: Tex) -> dict:
    """The softmax Jacobian for concrete K: the engine's factor da_k/dz_j at every k, j."""
    model = derivation.model
    lhs = sp.Derivative(model.activation, model.logit)
    factor = derivation.factor(lhs)
    k, j = model.output_index, model.logit.indices[0]
    entries = sp.Matrix(classes, classes, lambda r, c: written(factor.subs({k: r + 1, j: c + 1})))
    a, z = (sp.MatrixSymbol(str(q.base), classes, 1) for q in (model.activation, model.logit))
    return {
        "entry": tex(lhs, factor),
        "matrix": tex(sp.Derivative(a, z, evaluate=False), entries),
        "size": equation(S.K, sp.Integer(classes)),
        "diagonal": tex(written(factor.subs(k, j))),
        "off_diagonal": tex(written(factor.subs(sp.KroneckerDelta(j, k), 0))),
    }


def exact_results(exact: tuple[Derivation, ...], tex: Tex) -> list[str]:
    """Each result of the derivations without the model's assumptions (for any labels), printed."""
    return [tex(d.lhs, d.result) for d in exact]


def vector(expr: sp.Expr, index: sp.Symbol, length: sp.Expr) -> sp.MatrixExpr:
    """The index expression g_j as a vector: each quantity q_j becomes the column q (bold)."""
    expr = sp.expand(expr)
    columns = {q: sp.MatrixSymbol(str(q.base), length, 1) for q in expr.atoms(sp.Indexed) if q.indices == (index,)}
    return expr.xreplace(columns)


def array(quantity: sp.Basic) -> sp.Basic:
    """The matrix (bold) that holds every entry of an indexed quantity: W_ij -> W (d x K), b_j -> b, w_i -> w.

    A scalar stays itself.
    """
    if not isinstance(quantity, sp.Indexed):
        return quantity
    sizes = [S.INDEX_RANGES[q][1] for q in quantity.indices]
    return sp.MatrixSymbol(str(quantity.base), sizes[0], sizes[1] if len(sizes) > 1 else 1)


def gradient_symbol(parameter: sp.Basic) -> sp.Basic:
    """nabla_W H for a vector or matrix parameter, dH/db for a scalar one."""
    holder = array(parameter)
    return Gradient(S.H, holder) if isinstance(holder, sp.MatrixSymbol) else sp.Derivative(S.H, holder)


def matrix_form(derivation: Derivation) -> tuple[sp.Basic, sp.Basic]:
    """(nabla_theta H, its closed form in matrices) from the engine's result, one case per index shape.

    dH/dW_ij = x_i g_j -> x g^T; dH/db_j = g_j -> g; dH/dw_i = x_i s -> s x; dH/db = s; a penalty's
    dR/dW_ij = lambda W_ij adds lambda W.  Raises ValueError when the data term is not of that shape.
    """
    wrt, data = derivation.wrt, derivation.data_result
    indices = getattr(wrt, "indices", ())
    if S.i in indices:
        row = sp.expand(data / S.x[S.i])
        if row.has(S.x):
            raise ValueError(f"dH/d{wrt} = {data} is not x_i times a row")
        x = array(S.x[S.i])
        if len(indices) == 2:
            form = sp.MatMul(x, sp.Transpose(vector(row, indices[1], S.K)), evaluate=False)
        else:
            form = sp.MatMul(row, x, evaluate=False)
    else:
        form = vector(data, indices[0], S.K) if indices else sp.expand(data)
    penalty = derivation.penalty_result
    if penalty != 0:
        form = sp.MatAdd(form, penalty.xreplace({wrt: array(wrt)}), evaluate=False)
    return gradient_symbol(wrt), form


def matrix_forms(derivations: tuple[Derivation, ...]) -> list[tuple[sp.Basic, sp.Basic]]:
    """(nabla_W H, x g^T) and (nabla_b H, g) from the engine's results dH/dW_ij = x_i g_j, dH/db_j = g_j.

    Raises ValueError when dH/dW_ij is not x_i times an expression free of x.
    """
    return [matrix_form(d) for d in derivations]


def columns(model: Model, tex: Tex) -> list[dict]:
    """The columns the matrix forms are written in: x (features), and a, P for a model with classes."""
    quantities = [(S.x, "features")]
    if model.output_index is not None:
        quantities += [
            (S.key(model.activation), words(model)["activation"]),
            (S.key(model.label), words(model)["label"]),
        ]
    return [{"symbol": tex(sp.MatrixSymbol(str(q), 1, 1)), "words": w} for q, w in quantities]
