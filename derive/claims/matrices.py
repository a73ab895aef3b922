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

from dataclasses import dataclass

import sympy as sp

from derive.core import symbols as S
from derive.notation.bounds import ClaimError

#: the index of a matrix product's sum (the rows of a batch: n = 1..N)
ROW = sp.Symbol("n", integer=True, positive=True)
#: the shape of each vector and matrix of the seed's layout, by its name (features are rows)
SHAPES = {
    "x": (S.d, 1), "a": (S.K, 1), "P": (S.K, 1), "z": (S.K, 1), "b": (S.K, 1), "W": (S.d, S.K), "w": (S.d, 1),
}  # fmt: skip


@dataclass(frozen=True)
class Layout:
    """The matrices a matrix form may name: each one's shape, and the index quantity its entries are."""

    shapes: dict
    entries: dict

    def symbol(self, base: str) -> sp.MatrixSymbol | None:
        """The vector or matrix a name without indices stands for (None: not one of this layout's)."""
        shape = self.shapes.get(base)
        return sp.MatrixSymbol(base, *shape) if shape is not None else None


#: one sample: x is d x 1, a, P, z and b are K x 1, W is d x K
SEED = Layout(SHAPES, {"x": S.x, "a": S.a, "P": S.P, "z": S.z, "b": S.b, "W": S.W, "w": S.w})


def is_matrix(expr) -> bool:
    return isinstance(expr, sp.MatrixExpr)


def parameter_of(matrix: sp.MatrixSymbol, parameters) -> sp.Basic | None:
    """The model's parameter a matrix names: W -> W_ij, b -> b_j, w -> w_i."""
    return next((p for p in parameters if str(S.key(p)) == matrix.name), None)


def index_form(expr: sp.MatrixExpr, parameter: sp.Basic, layout: Layout = SEED) -> tuple[sp.Expr, bool]:
    """(the entry of ``expr`` at the parameter's indices as an index expression, whether ``expr`` had the
    transposed shape).  W_ij's entry is (i, j), b_j's is (j, 1)."""
    indices = list(getattr(parameter, "indices", ()))
    target = tuple(layout.symbol(str(S.key(parameter))).shape)
    transposed = tuple(expr.shape) != target and tuple(expr.shape)[::-1] == target
    if tuple(expr.shape) != target and not transposed:
        rows, columns = expr.shape
        raise ClaimError(
            f"this side is a {rows} x {columns} matrix, and the gradient by {S.key(parameter)} is"
            f" {target[0]} x {target[1]}: its shapes do not fit"
        )
    if transposed:
        expr = sp.Transpose(expr)
    row, column = (indices + [None, None])[:2]
    entry = expr[row - 1, (column - 1) if column is not None else 0]
    return _rows_from_one(_indexed(sp.expand(entry.doit() if hasattr(entry, "doit") else entry), layout)), transposed


def _rows_from_one(expr: sp.Expr) -> sp.Expr:
    """A matrix product's sum over a dummy from 0 (Sum(X[_d + 1, i] ..., (_d, 0, N - 1))) as Sum_{n=1}^N of X_ni."""

    def renamed(total: sp.Sum) -> sp.Sum:
        ((variable, low, _),) = total.limits
        return total.change_index(variable, variable + 1, ROW) if isinstance(variable, sp.Dummy) and low == 0 else total

    return expr.replace(lambda e: isinstance(e, sp.Sum) and len(e.limits) == 1, renamed)


def _indexed(expr: sp.Expr, layout: Layout) -> sp.Expr:
    """MatrixElement(x, i - 1, 0) -> x_i; MatrixElement(W, i - 1, j - 1) -> W_ij: the engine's own symbols."""

    def quantity(element: sp.matrices.expressions.matexpr.MatrixElement) -> sp.Expr:
        base = layout.entries[element.parent.name]
        row, column = element.i + 1, element.j + 1
        return base[row, column] if element.parent.shape[1] != 1 else base[row]

    return expr.replace(lambda e: isinstance(e, sp.matrices.expressions.matexpr.MatrixElement), quantity)


def held_replace(expr: sp.Basic, mapping: dict) -> sp.Basic:
    """``expr.xreplace(mapping)`` keeping the engine's held form: -(P_1 - a_1) x_i, not -x_i (-a_1 + P_1)."""
    if expr in mapping:
        return mapping[expr]
    if not expr.args:
        return expr
    args = [held_replace(a, mapping) for a in expr.args]
    return expr.func(*args, evaluate=False) if isinstance(expr, sp.Add | sp.Mul | sp.Pow) else expr.func(*args)
