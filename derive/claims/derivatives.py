"""Derivatives as a person writes them, given their meaning by the model's definitions.

A formula may hold ``\\frac{\\partial}{\\partial W_{ij}}(P_j \\log Q_j)``, ``\\frac{\\partial a_k}{\\partial z_j}``
or ``dH/dW_ij``: the builder keeps them as unevaluated ``sp.Derivative`` objects, and
:func:`resolve` replaces each by what it means for the model.  The quantity differentiated is
written down to the level of the variable (the loss H in the activations, the activations in
the logits, the logits in the parameters), SymPy differentiates it, and the engine's
``COLLAPSE`` rules take the Kronecker deltas out; so a line such as
``-\\frac{\\partial}{\\partial W_{i,j}}(P_j \\log Q_j)`` means exactly what it says.

>>> from derive.core.models import SOFTMAX
>>> resolve(sp.Derivative(S.z[S.j], S.b[S.j], evaluate=False), SOFTMAX)
1
"""

from __future__ import annotations

import sympy as sp

from derive.core import symbols as S
from derive.core.models import Model
from derive.core.rules import COLLAPSE
from derive.core.strategies import chain, exhaust


def resolve(expr: sp.Expr, model: Model) -> sp.Expr:
    """``expr`` with every derivative in it replaced by its value under the model's definitions."""
    if not expr.has(sp.Derivative):
        return expr
    return expr.replace(lambda e: isinstance(e, sp.Derivative), lambda e: derivative(e, model))


def derivative(expr: sp.Derivative, model: Model) -> sp.Expr:
    """d(quantity)/d(variable): the quantity written down to the variable's level, SymPy's diff, then the
    definitions named again (logits as z, activations as a: the model's naming rules) and the deltas collapsed."""
    inner = resolve(expr.expr, model)
    for variable in expr.variables:
        written, named = written_down_to(inner, variable, model)
        inner = sp.diff(written, variable)
        for names in named:
            inner = inner.xreplace(names)
        inner = chain(*model.naming)(inner)
    return exhaust(COLLAPSE, 3)(inner)


def written_down_to(expr: sp.Expr, variable: sp.Basic, model: Model) -> tuple[sp.Expr, list[dict]]:
    """``expr`` with the definitions above ``variable``'s level written in (H -> the loss, a -> softmax(z),
    z -> the logits of W), and the written-in definitions to name again, innermost first."""
    levels = definitions(model)
    below = [key for key, _ in levels]
    stop = below.index(S.key(variable)) if S.key(variable) in below else len(levels)
    named: list[dict] = []
    for _, define in levels[:stop]:
        expr, names = define(expr)
        named.insert(0, names)
    return expr, named


def definitions(model: Model) -> list[tuple[sp.Basic, object]]:
    """(what is defined, how to write it in) from the top down: the loss H, the activation, the logit."""
    return [
        (S.H, lambda e: (e.xreplace({S.H: model.loss + model.penalty}), {})),
        (S.key(model.activation), _writer(model.activation, model.activation_definition, model.output_index)),
        (S.key(model.logit), _writer(model.logit, model.logit_definition, _index(model.logit))),
    ]


def _writer(quantity: sp.Basic, definition: sp.Expr, index: sp.Symbol | None):
    """A function writing ``quantity``'s definition in for every occurrence (a_q for any index q); it returns
    the expression and {definition at q: quantity at q} to name them again."""
    if index is None:
        return lambda e: (e.xreplace({quantity: definition}), {definition: quantity})

    def write(expr: sp.Expr) -> tuple[sp.Expr, dict]:
        found = {q for q in expr.atoms(sp.Indexed) if q.base == quantity.base}
        names = {q: definition.xreplace({index: q.indices[0]}) for q in found}
        back = {value: q for q, value in names.items()}
        return expr.xreplace(names), {**back, **{-value: -q for value, q in back.items()}}

    return write


def _index(quantity: sp.Basic) -> sp.Symbol | None:
    return quantity.indices[0] if isinstance(quantity, sp.Indexed) else None
