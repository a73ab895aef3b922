"""NumPy printing of the array expressions that :mod:`derive.codegen.lowering` lowers the gradient to.

A subclass of SymPy's ``NumPyPrinter``: elementwise arithmetic, ``exp`` and ``log``
print as SymPy prints them, and each array operation of :mod:`derive.codegen.arrays` (a
SymPy ``Function`` such as ``Dot`` or ``SumOver``) gets its own ``_print_<Class>``
method.  Printed code never goes through string edits afterwards.  Those methods live in the
mixin :class:`ArrayOperations`, which the PyTorch and JAX printers (:mod:`derive.printing.torch`,
:mod:`derive.printing.jax`) share.

Module functions print qualified by the alias ``np`` (``np.exp``).  SymPy's
``fully_qualified_modules=False`` would print bare ``max`` and ``sum``, which
shadow Python's built-ins in generated code, so this printer refuses it.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE

#: module -> the alias the generated code imports it as
MODULE_ALIASES = {"numpy": "np"}

#: array operations printed with an operator (``A @ B``): they need parentheses as an operand
INFIX = frozenset({"Dot"})


class ArrayOperations:
    """The array operations of :mod:`derive.codegen.arrays`, for any printer of Python array code.

    A mixin placed before a SymPy printer class (``NumPyPrinter``, ``JaxPrinter``, ``TorchPrinter``):
    operators (``@``, ``.T``, ``[:, None]``), method calls (``.sum()``) and arithmetic laid out as
    ruff formats it are the same in every such library; module functions are ``self._module``'s
    (``numpy.vdot``, ``jax.numpy.vdot``), printed with the alias of :attr:`aliases`.  A backend whose
    library spells an operation differently overrides that one ``_print_<Class>`` method.
    """

    #: module -> the alias the generated code imports it as
    aliases = MODULE_ALIASES
    #: print a product of two transposes, A.T @ B.T, as (B @ A).T: for libraries that multiply two
    #: transposed views slowly (PyTorch, XLA); NumPy keeps the product as lowered (see derive.codegen.arrays)
    untranspose_products = False

    def __init__(self, settings: dict | None = None):
        settings = dict(settings or {})
        if not settings.get("fully_qualified_modules", True):
            raise ValueError("fully_qualified_modules=False prints bare max/sum, which shadow Python's built-ins")
        super().__init__(settings)

    def _module_format(self, fqn: str, register: bool = True) -> str:
        module, _, name = fqn.rpartition(".")
        if register and module:
            self.module_imports[module].add(name)
        return f"{self.aliases.get(module, module)}.{name}" if module else name

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        # positive terms first: a leading "-P + ..." would cost a whole extra array negation
        terms = sorted(self._as_ordered_terms(expr, order=order), key=lambda t: t.could_extract_minus_sign())
        return super()._print_Add(sp.Add(*terms, evaluate=False), order="none")

    def _print_Mul(self, expr: sp.Mul) -> str:
        # factors joined by " * " and " / " with spaces, as ruff format writes them
        # a rational coefficient p/q prints as "p * ... / q" (ruff writes 1 / 2, never 1/2)
        coeff, factors = expr.as_coeff_mul()
        numerator = [f for f in factors if not (f.is_Pow and f.exp == -1)]
        denominator = [f.base for f in factors if f.is_Pow and f.exp == -1]
        if coeff.is_Rational and coeff.q != 1:
            denominator.append(sp.Integer(coeff.q))
            coeff = sp.Integer(coeff.p)
        if abs(coeff) != 1 or not numerator:
            numerator.insert(0, abs(coeff))
        level = PRECEDENCE["Mul"]
        text = " * ".join(self.parenthesize(f, level) for f in numerator)
        text += "".join(f" / {self.parenthesize(f, level, strict=True)}" for f in denominator)
        return f"-{text}" if coeff < 0 else text

    def _operand(self, expr: sp.Expr) -> str:
        """``expr`` printed so that a method call, ``.T`` or ``@`` binds to all of it."""
        printed = self._print(expr)
        bare = isinstance(expr, (sp.Symbol, sp.Function)) and type(expr).__name__ not in INFIX
        return printed if bare or self._untransposed(expr) else f"({printed})"

    def _untransposed(self, expr: sp.Expr) -> bool:
        """Whether ``expr`` is a product of two transposes that prints as ``(B @ A).T``."""
        return (
            self.untranspose_products
            and type(expr).__name__ == "Dot"
            and all(type(a).__name__ == "Transposed" for a in expr.args)
        )

    def parenthesize(self, item: sp.Basic, level: int, strict: bool = False) -> str:
        # (B @ A).T binds like a name: no parentheses around it in a product
        return self._print(item) if self._untransposed(item) else super().parenthesize(item, level, strict)

    def _print_Dot(self, expr: sp.Expr) -> str:
        left, right = expr.args
        if self._untransposed(expr):
            return f"({self._operand(right.args[0])} @ {self._operand(left.args[0])}).T"
        return f"{self._operand(left)} @ {self._operand(right)}"

    def _print_Transposed(self, expr: sp.Expr) -> str:
        return f"{self._operand(expr.args[0])}.T"

    def _print_Inner(self, expr: sp.Expr) -> str:
        left, right = expr.args
        return f"{self._module_format(self._module + '.vdot')}({self._print(left)}, {self._print(right)})"

    def _print_Contiguous(self, expr: sp.Expr) -> str:
        return f"{self._module_format(self._module + '.ascontiguousarray')}({self._print(expr.args[0])})"

    def _print_Column(self, expr: sp.Expr) -> str:
        return f"{self._operand(expr.args[0])}[:, None]"

    def _print_SumOver(self, expr: sp.Expr) -> str:
        array, axis = expr.args
        return f"{self._operand(array)}.sum(axis={self._print(axis)})"

    def _print_MaxOver(self, expr: sp.Expr) -> str:
        array, axis = expr.args
        return f"{self._operand(array)}.max(axis={self._print(axis)})"

    def _print_Total(self, expr: sp.Expr) -> str:
        return f"{self._operand(expr.args[0])}.sum()"

    def _print_Grouped(self, expr: sp.Expr) -> str:
        return f"({self._print(expr.args[0])})"

    def _print_softplus(self, expr: sp.Expr) -> str:
        return f"{self._module_format(self._module + '.logaddexp')}(0, {self._print(expr.args[0])})"

    def _print_sigmoid(self, expr: sp.Expr) -> str:
        # the naive form, for checking the rewrites at moderate logits; generated code never contains it
        return f"(1 / (1 + {self._module_format(self._module + '.exp')}({self._print(-expr.args[0])})))"


class ArrayPrinter(ArrayOperations, NumPyPrinter):
    """NumPy code for :mod:`derive.codegen.arrays`' array expressions: ``X.T @ G``, ``E.sum(axis=1, keepdims=True)``."""

    printmethod = "_derive_numpy"


def numpy_code(expr: sp.Expr) -> str:
    """``expr`` as one NumPy expression."""
    return ArrayPrinter().doprint(expr)
