"""The primitives of the models: one definition each, as SymPy functions that know their derivatives.

Each is a SymPy ``Function`` with ``fdiff`` (as ``sympy.codegen.numpy_nodes.logaddexp``
has), so ``sympy.diff`` goes through it, and a rewrite to exponentials
(``f.rewrite(sp.exp)``), which is how a model writes its definition out and how
the numbers are checked:

============  =====================================  ==========================================
primitive     definition                             derivative
============  =====================================  ==========================================
sigmoid(u)    1/(1 + exp(-u))                        sigmoid(u) (1 - sigmoid(u))
softplus(u)   log(1 + exp(u))                        sigmoid(u)
softmax(u,v)  exp(u)/(exp(u) + exp(v) + ...)         the share of the first argument, as a Jacobian row
logsumexp     log(exp(u) + exp(v) + ...)             softmax of the argument differentiated by
relu(u)       max(0, u)                              step(u), almost everywhere (not at u = 0)
step(u)       1 for u > 0, 0 otherwise               0, almost everywhere
============  =====================================  ==========================================

:func:`indexed_softmax` writes the softmax over an index, exp(z_k)/Sum_m exp(z_m),
the one definition the softmax models, the claims and user losses share.

>>> u, v = sp.symbols("u v")
>>> sp.diff(sigmoid(u), u)
(1 - sigmoid(u))*sigmoid(u)
>>> sigmoid(u).rewrite(sp.exp)
1/(1 + exp(-u))
>>> sp.diff(logsumexp(u, v), v)
softmax(v, u)
"""

from __future__ import annotations

import sympy as sp


class sigmoid(sp.Function):
    """The logistic sigmoid 1/(1 + exp(-u)); its derivative is sigmoid(u)(1 - sigmoid(u))."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, u, **kwargs) -> sp.Expr:
        return 1 / (1 + sp.exp(-u))


class softplus(sp.Function):
    """log(1 + exp(u)), finite for every u; its derivative is sigmoid(u)."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, u, **kwargs) -> sp.Expr:
        return sp.log(1 + sp.exp(u))


class softmax(sp.Function):
    """softmax(u, v, ...) = exp(u)/(exp(u) + exp(v) + ...): the first argument's share.

    Differentiated by the first argument: s (1 - s); by another, -s softmax(that one, the rest).
    """

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        if argindex == 1:
            return self * (1 - self)
        args = list(self.args)
        other = args.pop(argindex - 1)
        return -self * softmax(other, *args)

    def _eval_rewrite_as_exp(self, *args, **kwargs) -> sp.Expr:
        return sp.exp(args[0]) / sp.Add(*(sp.exp(a) for a in args))


class logsumexp(sp.Function):
    """log(exp(u) + exp(v) + ...); its derivative by one argument is that argument's softmax share."""

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        args = list(self.args)
        chosen = args.pop(argindex - 1)
        return softmax(chosen, *args)

    def _eval_rewrite_as_exp(self, *args, **kwargs) -> sp.Expr:
        return sp.log(sp.Add(*(sp.exp(a) for a in args)))


class step(sp.Function):
    """The unit step: 1 for u > 0, 0 otherwise (at 0 too); its derivative is 0 almost everywhere."""

    nargs = 1

    @classmethod
    def eval(cls, u):
        if u.is_number and u.is_real:
            return sp.S.One if u > 0 else sp.S.Zero
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.S.Zero

    def _eval_rewrite_as_Heaviside(self, u, **kwargs) -> sp.Expr:
        return sp.Heaviside(u, 0)


class relu(sp.Function):
    """max(0, u); its derivative is step(u) almost everywhere (relu has no derivative at 0)."""

    nargs = 1

    @classmethod
    def eval(cls, u):
        if u.is_number and u.is_real:
            return u if u > 0 else sp.S.Zero
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return step(self.args[0])

    def _eval_rewrite_as_Max(self, u, **kwargs) -> sp.Expr:
        return sp.Max(0, u)


def indexed_softmax(z: sp.IndexedBase, index: sp.Symbol, dummy: sp.Symbol, upper: sp.Expr) -> sp.Expr:
    """exp(z_index) / Sum_{dummy=1..upper} exp(z_dummy): the softmax over an index, written out."""
    return sp.exp(z[index]) / sp.Sum(sp.exp(z[dummy]), (dummy, 1, upper))


#: the primitives by name
PRIMITIVES = {f.__name__: f for f in (sigmoid, softplus, softmax, logsumexp, relu, step)}
