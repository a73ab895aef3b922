"""Named rewrites of array expressions: the stabilising ones (finite at any logit) and the economising ones.

Rewrites are data (the engine's one :class:`~derive.core.strategies.Rule` type: a
name, the identity it uses, a function), grouped in chains that run in order.  A rule whose pattern
is absent changes nothing, so every model goes through the same chains: the
sigmoid rules do nothing to a softmax, and the softmax rules nothing to a sigmoid.
``STABILISE`` turns the naive softmax and sigmoid into max-shifted log-sum-exp
and logaddexp forms; ``ECONOMISE`` changes no value but the work (each rule
saves a pass over a (K, N) array).  Each rule is checked numerically in the tests.
"""

from __future__ import annotations

import sympy as sp

from derive.codegen.arrays import (
    ARRAYS,
    CLASS_AXIS,
    Contiguous,
    Dot,
    Grouped,
    Inner,
    MaxOver,
    Sh,
    SumOver,
    Total,
    Transposed,
    Z,
)
from derive.core.primitives import sigmoid, softplus
from derive.core.strategies import Chain, Rule, chain, run, where

# --------------------------------------------------------------------------- stabilise


def class_sum(expr: sp.Expr) -> SumOver:
    return SumOver(expr, CLASS_AXIS)


#: the largest logit of each sample
M = MaxOver(Z, CLASS_AXIS)


def row_constant(expr: sp.Expr) -> bool:
    """Whether ``expr`` is the same for every class of a sample: no array outside a class reduction
    (or a total, which is one number)."""
    reduced = [r for r in expr.atoms(SumOver, MaxOver) if r.args[1] == CLASS_AXIS] + list(expr.atoms(Total, Inner))
    hidden = expr.xreplace({r: sp.Dummy() for r in reduced})
    return not (hidden.free_symbols & ARRAYS)


def _factor_row_constants(expr: sp.Expr) -> sp.Expr:
    def out(total: SumOver) -> sp.Expr:
        inside = sp.Mul.make_args(total.args[0])
        constant = [f for f in inside if row_constant(f)]
        return sp.Mul(*constant) * class_sum(sp.Mul(*(f for f in inside if f not in constant)))

    return expr.replace(lambda e: isinstance(e, SumOver) and e.args[1] == CLASS_AXIS and e.args[0].is_Mul, out)


_u = sp.Wild("u")


def _log_of_quotient(expr: sp.Expr) -> sp.Expr:
    """log(exp(u) * c / T) -> u + log c - log T: only the log of a product holding an exponential is split.

    The other factors are positive there (a class sum of exponentials, constants); other logs are
    left alone, since expanding log(X*y) whatever the signs would not be an identity.
    """

    def holds_exp(e: sp.Basic) -> bool:
        return isinstance(e, sp.log) and any(isinstance(f, sp.exp) for f in sp.Mul.make_args(e.args[0]))

    def split(log: sp.log) -> sp.Expr:
        terms = []
        for factor in sp.Mul.make_args(log.args[0]):
            base, power = factor.as_base_exp()
            if isinstance(factor, sp.exp):
                terms.append(factor.args[0])
            elif power.is_Integer:
                terms.append(power * sp.log(base))
            else:
                terms.append(sp.log(factor))
        return sp.Add(*terms)

    return expr.replace(holds_exp, split)


def _reflect_softplus(expr: sp.Expr) -> sp.Expr:
    """softplus(u) -> u + softplus(-u) where both occur, then the totals collected in u (the y*softplus terms cancel)."""
    atoms = expr.atoms(softplus)
    pairs = {s for s in atoms if softplus(-s.args[0]) in atoms and not s.args[0].could_extract_minus_sign()}
    if not pairs:
        return expr
    expr = expr.xreplace({s: s.args[0] + softplus(-s.args[0]) for s in pairs})
    arguments = [s.args[0] for s in pairs]
    return expr.replace(lambda t: isinstance(t, Total), lambda t: Total(sp.collect(sp.expand(t.args[0]), arguments)))


#: the rules, in order, that turn the naive sigmoid and softmax into forms finite for any logits: a rule
#: whose pattern is absent changes nothing, so every model goes through the same chain
STABILISE: Chain = chain(
    Rule(
        "name_sigmoid",
        "1/(1 + exp(-u)) = sigma(u)",
        where(1 / (1 + sp.exp(_u)), sigmoid(-_u)),
    ),
    Rule(
        "sigmoid_complement",
        "1 - sigma(u) = sigma(-u): no cancellation when sigma(u) is close to 1",
        where(1 - sigmoid(_u), sigmoid(-_u)),
    ),
    Rule(
        "log_sigmoid",
        "log sigma(u) = -log(1 + exp(-u)) = -logaddexp(0, -u): finite for any u, never the log of 0",
        where(sp.log(sigmoid(_u)), -softplus(-_u)),
    ),
    Rule(
        "softplus_reflect",
        "logaddexp(0, u) = u + logaddexp(0, -u): one logaddexp serves both log sigma and log(1 - sigma)",
        lambda e: _reflect_softplus(e),
    ),
    Rule(
        "sigmoid_by_softplus",
        "sigma(u) = exp(-logaddexp(0, -u)): exp of a number <= 0 never overflows, and shares logaddexp with the loss",
        where(sigmoid(_u), sp.exp(-softplus(-_u))),
    ),
    Rule(
        "shift_by_max",
        "exp(Z) = exp(M) exp(S) with M = max_k Z_k, S = Z - M <= 0, so exp(S) cannot overflow",
        lambda e: e.xreplace({sp.exp(Z): sp.exp(M) * sp.exp(Sh)}),
    ),
    Rule(
        "max_out_of_class_sum",
        "Sum_k c F_k = c Sum_k F_k for c the same for every class; exp(M) then cancels in a_j",
        _factor_row_constants,
    ),
    Rule(
        "log_of_quotient",
        "log(exp(S)/T) = S - log T: the log-softmax never takes the log of an underflowed a_j",
        _log_of_quotient,
    ),
)


def contiguous(expr: sp.Expr) -> sp.Expr:
    """Transposed inputs used outside a matrix product become one contiguous copy.

    ``P.T`` is a strided view: BLAS takes it for free, but elementwise arithmetic, the
    class reductions and ``np.vdot`` on it are slow (or copy on every use).
    """
    copies = {c: c.args[0] for c in expr.atoms(Contiguous) if isinstance(c.args[0], Transposed)}
    expr = expr.xreplace(copies)  # copies made before are made again below, once: the rule is idempotent
    in_products = {arg for dot in expr.atoms(Dot) for arg in dot.args}
    loose = {t for t in expr.atoms(Transposed) if t.args[0] in ARRAYS and t not in in_products}
    return expr.xreplace({t: Contiguous(t) for t in loose})


#: the definition of the shifted logits that the rules above introduce
SHIFTED = (Sh, Z - M)


CONTIGUOUS = Rule("contiguous", "a transposed input used outside a matrix product is copied once", contiguous)


def _row_constants_first(expr: sp.Expr) -> sp.Expr:
    """t1 * s * c / T -> t1 * (s * c / T): the factors that are the same for every class multiplied first."""

    def group(product: sp.Mul) -> sp.Expr:
        constant = [f for f in product.args if row_constant(f)]
        varying = [f for f in product.args if not row_constant(f)]
        if len(constant) < 2 or not varying:
            return product
        return sp.Mul(*varying, Grouped(sp.Mul(*constant)))

    return expr.replace(lambda e: e.is_Mul, group)


def _split_inner(expr: sp.Expr) -> sp.Expr:
    """Inner(U, V + r) -> Inner(U, V) + Inner(Sum_k U, r) for r the same for every class of a sample."""

    def split(inner: Inner) -> sp.Expr:
        for u, v in (inner.args, inner.args[::-1]):
            terms = sp.Add.make_args(v)
            per_row = [t for t in terms if row_constant(t) and t.free_symbols & ARRAYS]
            rest = [t for t in terms if t not in per_row]
            if per_row and rest and not row_constant(u):
                r = sp.Add(*per_row)
                sign = -1 if r.could_extract_minus_sign() else 1
                return Inner(u, sp.Add(*rest)) + sign * Inner(class_sum(u), sign * r)
        return inner

    return expr.replace(lambda e: isinstance(e, Inner), split)


#: rewrites that change no value but the work: each saves a pass over a (K, N) array
ECONOMISE: Chain = chain(
    Rule(
        "row_constants_first",
        "a_j s / T = a_j (s / T): the per-sample factors are multiplied together before they meet the classes",
        _row_constants_first,
    ),
    Rule(
        "split_inner",
        "Sum_k P_k (S_k - log T) = Sum_k P_k S_k - (Sum_k P_k) log T: no (K, N) array for S - log T",
        _split_inner,
    ),
)


#: the order in which a kernel's expressions are rewritten: stabilised, inputs made contiguous (which can
#: expose more to stabilise), then made cheaper
KERNEL: Chain = chain(STABILISE, CONTIGUOUS, STABILISE, ECONOMISE)


def fired(expr: sp.Expr, rules: Chain = STABILISE) -> tuple[Rule, ...]:
    """The rules that changed ``expr`` on its way through ``rules``."""
    _, applied = run(rules, expr)
    return tuple(a.rule for a in applied)


def bounded_exponent(arg: sp.Expr) -> bool:
    """Whether exp(arg) cannot overflow: arg is the shifted logits S <= 0 or -logaddexp(0, u) <= 0."""
    return arg == Sh or (arg.could_extract_minus_sign() and isinstance(-arg, softplus))
