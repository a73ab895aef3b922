"""PyTorch printing of the array expressions that :mod:`derive.codegen.lowering` lowers the gradient to.

SymPy's ``TorchPrinter`` (``torch.exp``, ``torch.log`` from its table of functions) with the
array operations of :class:`~derive.printing.numpy.ArrayOperations`, the mixin the NumPy printer
uses: operators, ``.T``, ``[:, None]`` and ``.sum()`` are the same in PyTorch.  What PyTorch
spells differently has its own method here: reductions take ``dim`` and the maximum is ``amax``
(``Tensor.max(dim=...)`` returns values *and* indices); ``torch.vdot`` takes 1-D tensors only, so
the sum of an entrywise product is ``(U * V).sum()``; a contiguous copy is ``.contiguous()``;
``torch.logaddexp`` takes no Python number, so logaddexp(0, u) = -log sigma(-u) is
``-torch.nn.functional.logsigmoid(-u)``, exact and finite for any u; powers print as operators.

Importing SymPy's ``sympy.printing.pytorch`` imports torch when it is installed (about 2 s), so
the backend imports this module only when it prints (:mod:`derive.render.backends.torch`).
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.pytorch import TorchPrinter

from derive.core.primitives import softplus
from derive.printing.numpy import ArrayOperations

#: module -> alias: none, PyTorch code names its functions in full (``torch.exp``)
TORCH_ALIASES: dict[str, str] = {}


class TorchArrayPrinter(ArrayOperations, TorchPrinter):
    """PyTorch code for :mod:`derive.codegen.arrays`' array expressions: ``X.T @ G``, ``E.sum(dim=0)``."""

    printmethod = "_derive_torch"
    aliases = TORCH_ALIASES
    untranspose_products = True

    def _print_SumOver(self, expr: sp.Expr) -> str:
        array, axis = expr.args
        return f"{self._operand(array)}.sum(dim={self._print(axis)})"

    def _print_MaxOver(self, expr: sp.Expr) -> str:
        array, axis = expr.args
        return f"{self._operand(array)}.amax(dim={self._print(axis)})"

    def _print_Inner(self, expr: sp.Expr) -> str:
        left, right = expr.args
        return f"{self._operand(left * right)}.sum()"

    def _print_Contiguous(self, expr: sp.Expr) -> str:
        return f"{self._operand(expr.args[0])}.contiguous()"

    def _log_sigmoid(self, u: sp.Expr) -> str:
        return f"{self._module_format('torch.nn.functional.logsigmoid')}({self._print(u)})"

    def _print_softplus(self, expr: sp.Expr) -> str:
        return f"-{self._log_sigmoid(-expr.args[0])}"

    def _print_Mul(self, expr: sp.Mul) -> str:
        # -c logaddexp(0, u) = c log sigma(-u): a negative product absorbs the softplus's own minus (no "--")
        coeff, factors = expr.as_coeff_mul()
        soft = [f for f in factors if isinstance(f, softplus)]
        if not (coeff.is_negative and len(soft) == 1):
            return super()._print_Mul(expr)
        rest = sp.Mul(-coeff, *(f for f in factors if f is not soft[0]))
        log_sigmoid = self._log_sigmoid(-soft[0].args[0])
        return log_sigmoid if rest == 1 else f"{self.parenthesize(rest, PRECEDENCE['Mul'])} * {log_sigmoid}"

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        # u**2 and 1 / u as Python operators (SymPy's TorchPrinter prints torch.pow(u, 2))
        if expr.exp == -1:
            return f"1 / {self.parenthesize(expr.base, precedence(expr), strict=True)}"
        return self._hprint_Pow(expr, rational=rational)


def torch_code(expr: sp.Expr) -> str:
    """``expr`` as one PyTorch expression."""
    return TorchArrayPrinter().doprint(expr)
