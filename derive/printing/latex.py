r"""LaTeX printing in the seed's notation: P_{j}, W_{ij}, \delta_{kj}, \frac{\partial H}{\partial W_{ij}}.

A subclass of SymPy's ``LatexPrinter`` with ``_print_<Class>`` methods, like
:mod:`derive.printing.text` for plain text; printed strings are never edited
afterwards.  Numbers (``Float``) are printed with a fixed number of decimals
(the ``decimals`` setting) so that the worked example reads like a table.

>>> from derive.core import symbols as S
>>> print(latex(S.W[S.i, S.j]))
W_{ij}
>>> print(latex(sp.Derivative(S.H, S.W[S.i, S.j])))
\frac{\partial H}{\partial W_{ij}}
"""

from __future__ import annotations

from functools import cache, cmp_to_key
from typing import ClassVar

import sympy as sp
from sympy.printing.latex import LatexPrinter

from derive.printing.text import _in_order, compound, subscript


class Gradient(sp.MatrixExpr):
    """The gradient of a scalar with respect to a matrix or vector, printed as nabla_W H.

    Notation only (it has the shape of ``wrt`` so that it can stand in matrix
    equations); it is never differentiated or evaluated.
    """

    def __new__(cls, scalar: sp.Expr, wrt: sp.MatrixExpr):
        return super().__new__(cls, scalar, wrt)

    @property
    def scalar(self) -> sp.Expr:
        return self.args[0]

    @property
    def wrt(self) -> sp.MatrixExpr:
        return self.args[1]

    @property
    def shape(self) -> tuple:
        return self.wrt.shape


class DeriveLatexPrinter(LatexPrinter):
    r"""``- \left(P_{j} - a_{j}\right) x_{i}`` rather than ``- \left({P}_{j} - {a}_{j}\right) {x}_{i}``."""

    printmethod = "_derive_latex"
    #: vectors and matrices (MatrixSymbol) in bold; ``decimals``: digits after the point of a Float
    #: (None: SymPy's shortest form, for numbers such as a learning rate of 0.1)
    _default_settings: ClassVar[dict] = {**LatexPrinter._default_settings, "mat_symbol_style": "bold", "decimals": 6}

    def __init__(self, settings: dict | None = None):
        super().__init__(settings)
        self._add_order = self._settings["order"]

    def _print_Mul(self, expr: sp.Mul) -> str:
        factors = expr.args
        if factors[0] is sp.S.NegativeOne and len(factors) > 1 and not any(_is_denominator(f) for f in factors):
            # -(P_j - a_j)*x_i: the sign, then the product as written
            return "- " + self._product(factors[1:])
        if any(isinstance(f, sp.Mul) for f in factors):
            # an unevaluated product of products (a chain rule): every factor kept whole
            return self._product(factors)
        # factors in their stored order, so an unevaluated P_j*(1 - a_j)*x_i prints as written
        return _in_order(self, super()._print_Mul, expr, "none")

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        # an unevaluated sum (truth = mistake + missing term) as written, others in the printer's order
        written = isinstance(expr, sp.Add) and list(expr.args) != sorted(expr.args, key=_canonical)
        print_add = lambda e: super(DeriveLatexPrinter, self)._print_Add(e, order)
        return _in_order(self, print_add, expr, "none" if written else self._add_order)

    def _print_WrittenSum(self, expr: sp.Add) -> str:
        # a difference the engine wrote with the label first (P_j - a_j, y - sigma): as written
        return _in_order(self, lambda e: super(DeriveLatexPrinter, self)._print_Add(e), expr, "none")

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        # as written: SymPy's own printer multiplies a numeric coefficient into an explicit matrix
        return f"- {self._factor(_negated(expr))}" if _negative(expr) else self._product(expr.args)

    def _print_MatAdd(self, expr: sp.MatAdd) -> str:
        # positive terms first: a - P rather than -P + a
        first, *rest = sorted(expr.args, key=_negative)
        tex = self._print(first)
        for term in rest:
            tex += f" - {self._factor(_negated(term))}" if _negative(term) else f" + {self._print(term)}"
        return tex

    def _product(self, factors) -> str:
        return " ".join(self._factor(f, last=n == len(factors) - 1) for n, f in enumerate(factors))

    def _factor(self, factor: sp.Expr, last: bool = True) -> str:
        """A factor of a product, in brackets when it is a sum, a product or negative (or a sum not last)."""
        tex = self._print(factor)
        # (MatAdd and MatMul are SymPy Add and Mul too; a product of matrices needs no brackets)
        bracket = isinstance(factor, (sp.Add, sp.Mul)) and not isinstance(factor, sp.MatMul)
        bracket = bracket or (isinstance(factor, sp.Sum) and not last)
        bracket = bracket or factor.could_extract_minus_sign()
        return rf"\left({tex}\right)" if bracket else tex

    def _print_Sum(self, expr: sp.Sum) -> str:
        limits = "".join(
            rf"\sum_{{{self._print(q)}={self._print(lo)}}}^{{{self._print(hi)}}} " for q, lo, hi in expr.limits
        )
        body = expr.function
        bracket = isinstance(body, sp.Add) or body.could_extract_minus_sign()
        return limits + (rf"\left({self._print(body)}\right)" if bracket else self._print(body))

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        return f"{self._print(expr.base.label)}_{{{subscript(self, expr.indices)}}}"

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta, exp: str | None = None) -> str:
        tex = rf"\delta_{{{subscript(self, expr.args)}}}"
        return tex if exp is None else rf"{tex}^{{{exp}}}"

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        denominator = " ".join(rf"\partial {self._print(v)}" for v in expr.variables)
        if not isinstance(expr.expr, sp.Symbol | sp.Indexed | sp.MatrixSymbol):
            return rf"\frac{{\partial}}{{{denominator}}} \left({self._print(expr.expr)}\right)"
        return rf"\frac{{\partial {self._print(expr.expr)}}}{{{denominator}}}"

    def _print_sigmoid(self, expr: sp.Function, exp: str | None = None) -> str:
        # the sigmoid primitive is sigma(u), as the models name its output
        return self._print_Function(sp.Function("sigma")(*expr.args), exp)

    def _print_Gradient(self, expr: Gradient) -> str:
        return rf"\nabla_{{{self._print(expr.wrt)}}} {self._print(expr.scalar)}"

    def _print_HessianBlock(self, expr) -> str:
        return rf"\nabla^2_{{{self._print(expr.parameter)}}} {self._print(expr.loss)}"

    def _print_OneMatrix(self, expr: sp.OneMatrix) -> str:
        # a row of ones is the ones vector transposed
        return r"\mathbf{1}^{T}" if expr.shape[0] == 1 else r"\mathbf{1}"

    def _print_DiagMatrix(self, expr: sp.DiagMatrix) -> str:
        return rf"\operatorname{{diag}}\left({self._print(expr.args[0])}\right)"

    def _print_KroneckerProduct(self, expr: sp.KroneckerProduct) -> str:
        return r" \otimes ".join(
            rf"\left({self._print(f)}\right)" if compound(f) else self._print(f) for f in expr.args
        )

    def _print_Float(self, expr: sp.Float) -> str:
        digits = self._settings["decimals"]
        if digits is None:
            return super()._print_Float(expr)
        value = float(expr)
        # a value that rounds to zero prints as 0.000000, never as -0.000000
        return f"{0.0 if round(value, digits) == 0 else value:.{digits}f}"


#: the order in which SymPy stores the terms of an evaluated sum (as sympy.core.add._addsort does)
_canonical = cmp_to_key(sp.Basic.compare)


def _negative(term: sp.Basic) -> bool:
    """A matrix product with a negative scalar coefficient, such as -P or -eta*G."""
    return isinstance(term, sp.MatMul) and term.args[0].could_extract_minus_sign()


def _negated(term: sp.MatMul) -> sp.MatrixExpr:
    """-term, kept unevaluated: -(-eta*G) -> eta*G, -(-P) -> P."""
    coefficient, *rest = term.args
    factors = rest if -coefficient == 1 else [-coefficient, *rest]
    return factors[0] if len(factors) == 1 else sp.MatMul(*factors, evaluate=False)


def _is_denominator(factor: sp.Expr) -> bool:
    return isinstance(factor, sp.Pow) and factor.exp.is_negative is True


@cache
def _printer(settings: tuple) -> DeriveLatexPrinter:
    # building a LatexPrinter costs more than printing a short formula; printers keep no state between calls
    return DeriveLatexPrinter(dict(settings))


def latex(expr: sp.Basic, **settings) -> str:
    """``expr`` as LaTeX math in the seed's notation."""
    return _printer(tuple(sorted(settings.items()))).doprint(expr)


def equation(*sides: sp.Basic, **settings) -> str:
    """``a = b = c``: each side printed, in the order given."""
    return " = ".join(latex(side, **settings) for side in sides)


def index_range(index: sp.Symbol, low: sp.Expr, high: sp.Expr) -> str:
    r"""``i = 1, \dots, d``."""
    return rf"{latex(index)} = {latex(low)}, \dots, {latex(high)}"


#: the relations of a fact about a matrix (derive.graph.structure)
RELATIONS = {"=": "=", "psd": r"\succeq 0", "pd": r"\succ 0"}


def statement(fact) -> str:
    r"""``\nabla^2_{W} H = ...``, ``\mathbf{x} \mathbf{x}^{T} \succeq 0``."""
    right = f" {latex(fact.rhs)}" if fact.relation == "=" else ""
    return f"{latex(fact.lhs)} {RELATIONS[fact.relation]}{right}"
