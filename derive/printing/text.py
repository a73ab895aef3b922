"""Plain-text printing in the seed's notation: P_j, a_j, x_i, W_ij, dH/dW_ij.

A subclass of SymPy's ``StrPrinter``; like every printer here it adds
``_print_<Class>`` methods and never edits printed strings afterwards.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.str import StrPrinter


class TextPrinter(StrPrinter):
    """``-(P_j - a_j)*x_i`` rather than ``-(P[j] - a[j])*x[i]``."""

    printmethod = "_derive_text"

    def __init__(self, settings: dict | None = None):
        super().__init__(settings)
        self._add_order = self._settings["order"]

    def _print_Mul(self, expr: sp.Mul) -> str:
        # factors in their stored order, so an unevaluated -P_j*(1 - a_j)*x_i prints as written
        # (evaluated products are stored in canonical order anyway); sums keep the default order
        return _in_order(self, super()._print_Mul, expr, "none")

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        return _in_order(self, lambda e: super(TextPrinter, self)._print_Add(e, order), expr, self._add_order)

    def _print_WrittenSum(self, expr: sp.Add) -> str:
        return _in_order(self, super()._print_Add, expr, "none")

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        return f"{self._print(expr.base.label)}_{subscript(self, expr.indices)}"

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        variables = "".join(f"d{self._print(v)}" for v in expr.variables)
        if not isinstance(expr.expr, sp.Symbol | sp.Indexed | sp.MatrixSymbol):
            return f"d/{variables}({self._print(expr.expr)})"  # an operator on an expression: d/dW_ij(P_j*log(a_j))
        return f"d{self._print(expr.expr)}/{variables}"

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        inner = expr.arg
        shown = self._print(inner)
        return f"{shown}^T" if isinstance(inner, sp.MatrixSymbol) else f"({shown})^T"

    def _print_HessianBlock(self, expr) -> str:
        parameter = expr.parameter
        name = parameter.label if isinstance(parameter, sp.IndexedBase) else parameter
        return f"nabla^2_{self._print(name)} {self._print(expr.loss)}"

    def _print_DiagMatrix(self, expr: sp.DiagMatrix) -> str:
        return f"diag({self._print(expr.args[0])})"

    def _print_KroneckerProduct(self, expr: sp.KroneckerProduct) -> str:
        return " (x) ".join(f"({self._print(f)})" if compound(f) else self._print(f) for f in expr.args)

    def _print_OneMatrix(self, expr: sp.OneMatrix) -> str:
        return "1^T" if expr.shape[0] == 1 else "1"

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta) -> str:
        return f"delta_{subscript(self, expr.args)}"

    def _print_sigmoid(self, expr: sp.Function) -> str:
        # the sigmoid primitive is sigma(u), as the models name its output
        return self._print(sp.Function("sigma")(*expr.args))


def compound(factor: sp.Basic) -> bool:
    """A factor of a Kronecker product that needs brackets: a sum, or a product with a scalar in it."""
    scaled = isinstance(factor, sp.MatMul) and any(not isinstance(a, sp.MatrixExpr) for a in factor.args)
    return isinstance(factor, sp.MatAdd) or scaled


def _in_order(printer: StrPrinter, method, expr: sp.Basic, order: str | None) -> str:
    """``method(expr)`` with the printer's order setting temporarily ``order``."""
    settings = printer._settings
    saved, settings["order"] = settings["order"], order
    try:
        return method(expr)
    finally:
        settings["order"] = saved


def subscript(printer: StrPrinter, indices) -> str:
    """ij for one-character indices, 1,12 when any is longer."""
    parts = [printer._print(q) for q in indices]
    return "".join(parts) if all(len(p) == 1 for p in parts) else ",".join(parts)


def text(expr: sp.Basic) -> str:
    """``expr`` in the seed's plain-text notation."""
    return TextPrinter().doprint(expr)


def equation(lhs: sp.Basic, rhs: sp.Basic) -> str:
    """``lhs = rhs`` in plain text."""
    return f"{text(lhs)} = {text(rhs)}"


#: the relations of a fact about a matrix (derive.graph.structure): equal, positive semi-definite, positive definite
RELATIONS = {"=": "=", "psd": ">= 0 (positive semi-definite)", "pd": "> 0 (positive definite)"}


def statement(fact) -> str:
    """``nabla^2_W H = (diag(a) - a*a^T) (x) x*x^T``, ``x*x^T >= 0 (positive semi-definite)``."""
    right = f" {text(fact.rhs)}" if fact.relation == "=" else ""
    return f"{text(fact.lhs)} {RELATIONS[fact.relation]}{right}"
