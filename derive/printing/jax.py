"""JAX printing of the array expressions that :mod:`derive.codegen.lowering` lowers the gradient to.

SymPy's ``JaxPrinter`` (a ``NumPyPrinter`` whose module is ``jax.numpy``) with the array
operations of :class:`~derive.printing.numpy.ArrayOperations`, the mixin the NumPy printer
uses: ``jax.numpy`` spells them as NumPy does (``X.T @ G``, ``E.sum(axis=0)``, ``jnp.vdot``),
printed with the alias ``jnp``.  The one difference: XLA chooses the layout of every array, so
a contiguous copy (``np.ascontiguousarray(P.T)``) is the array itself.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.numpy import JaxPrinter

from derive.printing.numpy import ArrayOperations

#: module -> the alias the generated code imports it as
JAX_ALIASES = {"jax.numpy": "jnp"}


class JaxArrayPrinter(ArrayOperations, JaxPrinter):
    """JAX code for :mod:`derive.codegen.arrays`' array expressions: ``X.T @ G``, ``jnp.exp(S).sum(axis=0)``."""

    printmethod = "_derive_jax"
    aliases = JAX_ALIASES
    untranspose_products = True

    def _print_Contiguous(self, expr: sp.Expr) -> str:
        # XLA lays out arrays itself: a copy in another memory order is not something jax.numpy can ask for
        return self._print(expr.args[0])


def jax_code(expr: sp.Expr) -> str:
    """``expr`` as one JAX expression."""
    return JaxArrayPrinter().doprint(expr)
