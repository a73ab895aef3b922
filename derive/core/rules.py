"""Named rewrite rules: the engine's only way of changing an expression.

Each rule is a small function whose docstring *is* its rewrite; the table
:data:`RULES` maps its name to a :class:`~derive.core.strategies.Rule` with a
one-line justification in words, which the derivation records next to the step it
produced.  Rules that depend on a model (naming its activation, its assumptions)
are built by the factories below from the model's own definitions.  The orders in
which rules run are named chains at the bottom (:data:`SIMPLIFY`, :data:`COLLAPSE`,
:data:`LABEL_TOTAL`); a driver composes them with a model's own rules (naming its
activation, its assumptions, the sign) and nothing else.

No rule calls ``sympy.simplify``: on indexed sums with Kronecker deltas it is
slow and can crash, and it would hide which identity was used.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp
from sympy.simplify.simplify import factor_sum as _factor_sum

from derive.core import symbols as S
from derive.core.strategies import Rewrite, Rule, chain, where

RULES: dict[str, Rule] = {}


def rule(name: str, justification: str, *terms: sp.Basic) -> Callable[[Rewrite], Rewrite]:
    """Register ``fn`` in :data:`RULES` under ``name``."""

    def register(fn: Rewrite) -> Rewrite:
        RULES[name] = Rule(name, justification, fn, terms)
        return fn

    return register


@rule("evaluate_product", "multiply the factors out; common factors cancel")
def evaluate_product(expr: sp.Expr) -> sp.Expr:
    """Mul(f, g, evaluate=False) -> f*g, also inside sums."""
    return where(lambda e: isinstance(e, sp.Mul), lambda e: sp.Mul(*e.args))(expr)


@rule("split_sum", "a sum of terms is the sum of the sums (linearity)")
def split_sum(expr: sp.Expr) -> sp.Expr:
    """Sum_k (f_k + g_k) -> Sum_k f_k + Sum_k g_k (after expanding products)."""
    return sp.expand(expr)


@rule(
    "collapse_delta",
    "{0} is 1 when its two indices are equal and 0 otherwise, so only one term of the sum survives",
    sp.KroneckerDelta(S.k, S.j),
)
def collapse_delta(expr: sp.Expr) -> sp.Expr:
    """Sum_k f(k) delta_kj -> f(j), and Sum_l W_lj x_l -> x_i when differentiated."""
    return expr.doit()


@rule("index_in_range", "the index lies in its range (1 to {0} for classes, 1 to {1} for features)", S.K, S.d)
def index_in_range(expr: sp.Expr) -> sp.Expr:
    """Piecewise((f, N >= n), (0, True)) -> f when n is an index with upper bound N."""
    return where(lambda e: isinstance(e, sp.Piecewise) and _in_range(e), lambda e: e.args[0][0])(expr)


def _in_range(pw: sp.Piecewise) -> bool:
    (_, cond), *rest = pw.args
    if not (len(rest) == 1 and rest[0] == (0, True) and isinstance(cond, sp.GreaterThan)):
        return False
    upper, index = cond.args
    return index in S.INDEX_RANGES and S.INDEX_RANGES[index][1] == upper


@rule("factor_out_of_sum", "factors that do not depend on the summation index move out of the sum")
def factor_out_of_sum(expr: sp.Expr) -> sp.Expr:
    """Sum_k c*f(k) -> c*Sum_k f(k) when c does not depend on k."""
    return where(lambda e: isinstance(e, sp.Sum), _factor_sum)(expr)


@rule("cancel", "cancel common factors of numerator and denominator")
def cancel(expr: sp.Expr) -> sp.Expr:
    """p/q -> the reduced fraction, for expressions without sums (SymPy's ``cancel``)."""
    return expr if expr.has(sp.Sum) else sp.cancel(expr)


@rule("factor", "take the common factor out")
def factor(expr: sp.Expr) -> sp.Expr:
    """f*x - g*x -> (f - g)*x."""
    return sp.factor_terms(expr)


class WrittenSum(sp.Add):
    """A sum whose terms print in the order they were written: P_j - a_j, y - sigma, yhat - y.

    SymPy sorts the terms of every ``Add`` for printing; the printers print this
    subclass (``_print_WrittenSum``) in its stored order.  Arithmetic on it is
    ordinary addition.
    """

    @classmethod
    def written(cls, *terms: sp.Expr) -> WrittenSum:
        return cls._from_args(terms)


def lead_with(lead: sp.Basic, name: str = "label_first", words: str = "the label") -> Rule:
    """c*(a - P) -> -(P - a)*c: the difference written with ``lead`` first, as textbooks do.

    The results are unevaluated, so that printers show them as written.
    """

    def apply(expr: sp.Expr) -> sp.Expr:
        sign, factors = sp.S.One, list(sp.Mul.make_args(expr))
        diffs = [f for f in factors if isinstance(f, sp.Add) and any(_is_lead(t, lead) for t in f.args)]
        if len(diffs) != 1:
            return expr
        diff = diffs[0]
        if any(t.could_extract_minus_sign() and _is_lead(t, lead) for t in diff.args):
            sign, diff = sp.S.NegativeOne, -diff
        ordered = WrittenSum.written(*sorted(diff.args, key=lambda t: (not _is_lead(t, lead), not _mentions(t, lead))))
        rest = [f for f in factors if f is not diffs[0]]
        if sign == 1 and not rest:
            return ordered
        return sp.Mul(*([sign] if sign != 1 else []), ordered, *rest, evaluate=False)

    return Rule(name, f"write the difference with {words} first, as the textbook does", apply)


def _is_lead(term: sp.Expr, lead: sp.Basic) -> bool:
    """term is a multiple of the lead quantity itself: -P_j, 2*y."""
    core = term.as_coeff_Mul()[1]
    return core == lead or (isinstance(core, sp.Indexed) and core.base == lead)


def _mentions(term: sp.Expr, label: sp.Basic) -> bool:
    if isinstance(label, sp.IndexedBase):
        return any(q.base == label for q in term.atoms(sp.Indexed))
    return label in term.free_symbols


def name_quantity(
    name: sp.Indexed, definition: sp.Expr, index: sp.Symbol, justification: str, terms: tuple = ()
) -> Rule:
    """Name a quantity: replace definition(q) by name(q), e.g. exp(z_q)/Sum_m exp(z_m) -> a_q.

    Works by the exact identity numerator(q) = name(q) * denominator, so it also
    names numerators left over after differentiation; the denominators then cancel.
    """
    numer, denom = sp.fraction(definition)
    hole = sp.Dummy("denominator", positive=True)

    inverse = sp.exp(-numer.args[0]) if isinstance(numer, sp.exp) else None

    def apply(expr: sp.Expr) -> sp.Expr:
        held = expr.replace(lambda e: e == denom or (isinstance(e, sp.Sum) and e.dummy_eq(denom)), lambda e: hole)
        named = held.replace(
            lambda e: _instance_index(e, numer, index) is not None,
            lambda e: name.subs(index, _instance_index(e, numer, index)) * hole,
        )
        if inverse is not None:  # exp(-z_q) = 1/exp(z_q) = 1/(a_q * denominator)
            named = named.replace(
                lambda e: _instance_index(e, inverse, index) is not None,
                lambda e: 1 / (name.subs(index, _instance_index(e, inverse, index)) * hole),
            )
        return named.xreplace({hole: denom})

    return Rule(f"name_{name.base}", justification, apply, terms)


def _instance_index(expr: sp.Expr, pattern: sp.Expr, index: sp.Symbol):
    """The q for which expr == pattern.subs(index, q), or None."""
    if expr.func != pattern.func:
        return None
    q = sp.Wild("q")
    match = expr.match(pattern.subs(index, q))
    return None if match is None or q not in match else match[q]


def substitute(name: str, old: sp.Expr, new: sp.Expr, justification: str, terms: tuple = ()) -> Rule:
    """old -> new, matching sums whatever their dummy index is called."""

    def apply(expr: sp.Expr) -> sp.Expr:
        return where(lambda e: e == old or (isinstance(e, sp.Sum) and e.dummy_eq(old)), lambda e: new)(expr)

    return Rule(name, justification, apply, terms)


@rule("expand", "multiply out")
def expand(expr: sp.Expr) -> sp.Expr:
    """(a + b)*c -> a*c + b*c, everywhere."""
    return sp.expand(expr)


# --------------------------------------------------------------------------- the orders

#: a derivative of a definition: Sum_l W_lj x_l differentiated leaves deltas and an index-in-range Piecewise
COLLAPSE = chain(RULES["collapse_delta"], RULES["index_in_range"])
#: the order in which the driver reduces a chain-rule product to a closed form
SIMPLIFY = chain(
    *(
        RULES[n]
        for n in ("evaluate_product", "cancel", "split_sum", "collapse_delta", "index_in_range", "factor_out_of_sum")
    )
)
#: defined labels (label smoothing) summed over the classes: the proof that they sum to one
LABEL_TOTAL = chain(
    *(
        RULES[n]
        for n in ("split_sum", "collapse_delta", "index_in_range", "factor_out_of_sum", "collapse_delta", "cancel")
    )
)
