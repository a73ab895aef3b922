"""Numba printing of the fused kernel's epilogue: the elements of one row, as statements.

The fused form (:mod:`derive.codegen.fused`) turns a program's kernel into ``sympy.codegen.ast``
statements over the elements of one row (``S[k] = Z[k] - Z_max``, ``t3 += t2[k]``).  Numba compiles
NumPy's functions of numbers (``np.exp``, ``np.log``, ``np.logaddexp``) and Python's arithmetic,
so this printer is NumPy's array printer (:class:`~derive.printing.numpy.ArrayPrinter`, SymPy's
``NumPyPrinter``: the functions, the assignments, arithmetic laid out as ruff formats it) with
what a loop over elements needs besides:

- ``For(k, Range(K), body)`` as ``for k in range(K):`` and the body (SymPy's Python printers have ``While`` only);
- ``Assignment(S[k], ...)`` of elements as written (NumPy's printer turns indexed assignments into whole-array ones);
- ``Max(m, v)`` as Python's ``max(m, v)`` of two numbers (NumPy's printer writes ``np.amax((m, v), axis=0)``,
  an array per call);
- ``Label(P, n, k)`` as ``_label(P, n, k)``, the generated module's helper that reads a label from one-hot or
  soft labels P (N, K) or from class indices (N,);
- powers spaced as ruff formats them (``G[r, 0] ** 2``, ``t0**2``).

Whole-array operations (``Dot``, ``SumOver``, ``Transposed`` ...) have no element: the fused form
replaces them, and printing one is an error rather than wrong code.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from derive.printing.numpy import ArrayPrinter

#: the array operations of derive.codegen.arrays, which the fused form replaces by elements
WHOLE_ARRAYS = ("Dot", "Transposed", "Column", "Contiguous", "SumOver", "MaxOver", "Total", "Inner")


class NumbaPrinter(ArrayPrinter):
    """Numba code for the statements of one row of the fused kernel: ``for k in range(K): t3 += t2[k]``."""

    printmethod = "_derive_numba"

    def _print_For(self, expr: sp.Basic) -> str:
        iterable = expr.iterable
        if not isinstance(iterable, sp.Range) or iterable.start != 0 or iterable.step != 1:
            raise NotImplementedError(f"a loop over {iterable}: only range(stop) is printed")
        body = "\n".join(self._print(statement) for statement in expr.body)
        return (
            f"for {self._print(expr.target)} in range({self._print(iterable.stop)}):\n{self._indent_codestring(body)}"
        )

    def _print_Assignment(self, expr: sp.Basic) -> str:
        # as written: SymPy's array printers turn an assignment of indexed elements into one of whole arrays
        return f"{self._print(expr.lhs)} = {self._print(expr.rhs)}"

    def _print_Max(self, expr: sp.Expr) -> str:
        return f"max({', '.join(self._print(arg) for arg in expr.args)})"

    def _print_Label(self, expr: sp.Expr) -> str:
        return f"_label({', '.join(self._print(arg) for arg in expr.args)})"

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        # ruff formats u**2 hugged only when both operands are simple (names, numbers): G[r, 0] ** 2
        if expr.exp == -1 or expr.exp == sp.S.Half:
            return super()._print_Pow(expr, rational=rational)
        level = PRECEDENCE["Pow"]
        base = self.parenthesize(expr.base, level, strict=True)
        exponent = self.parenthesize(expr.exp, level, strict=False)
        simple = all(isinstance(e, (sp.Symbol, sp.Number)) for e in (expr.base, expr.exp))
        return f"{base}**{exponent}" if simple else f"{base} ** {exponent}"

    def _print_whole_array(self, expr: sp.Expr) -> str:
        raise TypeError(f"{type(expr).__name__} is a whole-array operation: the fused kernel prints elements only")

    for _name in WHOLE_ARRAYS:
        locals()[f"_print_{_name}"] = _print_whole_array
    del _name


def numba_code(expr: sp.Basic) -> str:
    """``expr`` (an element, or a statement) as Numba code."""
    return NumbaPrinter().doprint(expr)
