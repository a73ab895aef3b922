r"""Matrix forms of a gradient: ``\nabla_W H = x(a - P)^\top``, read as matrices and judged entry by entry.

In a derivation whose first line is ``\nabla_W H`` (or ``\frac{\partial H}{\partial W}``, a
parameter without its indices), names without indices are the model's vectors and matrices in
the seed's layout: x is d x 1, a, P, z and b are K x 1, W is d x K (rows are features), as
:data:`SHAPES` says.  :func:`index_form` turns a matrix expression into the index expression of
its entry (i, j), which the judge compares as it compares any line; an expression of the
transposed shape is compared as its transpose and marked, so that ``(a - P)x^\top`` is called
the transpose of the truth (numerator against denominator layout) rather than just wrong.
"""

from __future__ import annotations

import sympy as sp

from derive.core import symbols as S

#: the shape of each vector and matrix of the seed's layout, by its name (features are rows)
SHAPES = {
    "x": (S.d, 1), "a": (S.K, 1), "P": (S.K, 1), "z": (S.K, 1), "b": (S.K, 1), "W": (S.d, S.K), "w": (S.d, 1),
}  # fmt: skip


def matrix_symbol(base: str) -> sp.MatrixSymbol | None:
    """The vector or matrix a name without indices stands for in a matrix form (None: not a vector)."""
    shape = SHAPES.get(base)
    return sp.MatrixSymbol(base, *shape) if shape is not None else None


def is_matrix(expr) -> bool:
    return isinstance(expr, sp.MatrixExpr)


def parameter_of(matrix: sp.MatrixSymbol, parameters) -> sp.Basic | None:
    """The model's parameter a matrix names: W -> W_ij, b -> b_j, w -> w_i."""
    return next((p for p in parameters if str(S.key(p)) == matrix.name), None)


def index_form(expr: sp.MatrixExpr, parameter: sp.Basic) -> tuple[sp.Expr, bool]:
    """(the entry of ``expr`` at the parameter's indices as an index expression, whether ``expr`` had the
    transposed shape).  W_ij's entry is (i, j), b_j's is (j, 1)."""
    indices = list(getattr(parameter, "indices", ()))
    target = tuple(matrix_symbol(str(S.key(parameter))).shape)
    transposed = tuple(expr.shape) != target and tuple(expr.shape)[::-1] == target
    if transposed:
        expr = sp.Transpose(expr)
    row, column = (indices + [None, None])[:2]
    entry = expr[row - 1, (column - 1) if column is not None else 0]
    return _indexed(sp.expand(entry.doit() if hasattr(entry, "doit") else entry)), transposed


def _indexed(expr: sp.Expr) -> sp.Expr:
    """MatrixElement(x, i - 1, 0) -> x_i; MatrixElement(W, i - 1, j - 1) -> W_ij: the engine's own symbols."""

    def quantity(element: sp.matrices.expressions.matexpr.MatrixElement) -> sp.Expr:
        base = {"x": S.x, "a": S.a, "P": S.P, "z": S.z, "b": S.b, "W": S.W, "w": S.w}[element.parent.name]
        row, column = element.i + 1, element.j + 1
        return base[row, column] if element.parent.shape[1] != 1 else base[row]

    return expr.replace(lambda e: isinstance(e, sp.matrices.expressions.matexpr.MatrixElement), quantity)
