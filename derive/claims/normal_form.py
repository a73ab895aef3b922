"""The symbolic normal form of a difference claim - truth: zero exactly when the claim is right.

The engine's own rules reduce the difference (:func:`normal_form`): the model's
naming rules, Sum_k a_k = 1, the assumption Sum_k P_k = 1 when it is on, the
derivation's :data:`~derive.core.rules.SIMPLIFY` chain, and expansion, repeated
until nothing changes.  :func:`concrete_forms` writes the difference out at each
concrete entry (sums expanded, the softmax named, a_K and P_K eliminated), within
a deterministic work bound.
"""

from __future__ import annotations

import math

import sympy as sp

from derive.core import rules
from derive.core import symbols as S
from derive.core.models import Model
from derive.core.strategies import Exhaust, Rule, chain, exhaust

#: rounds of the normal form's rules at most
ROUNDS = 3
#: at most this many terms after eliminating a_K and P_K in a per-entry symbolic check
ELIMINATED_TERMS = 400
#: work bound of the per-entry symbolic check: each entry costs ENTRY_COST plus its terms
WORK, ENTRY_COST = 600, 20


def label_totals(model: Model, classes: int | None) -> list[Rule]:
    """Sum_k P_k -> 1 (and P_1 + ... + P_K -> 1 at a concrete K): the assumption as rules."""
    found = [a.rule for a in model.assumptions]
    if classes is not None and model.output_index is not None:
        concrete = sp.Add(*(model.label[q] for q in range(1, classes + 1)))
        found.append(rules.substitute("labels_sum_to_one", concrete, sp.Integer(1), "P_1 + ... + P_K = 1"))
    return found


def softmax_total(model: Model) -> Rule:
    """Sum_k a_k -> 1: true for every softmax output, assumed or not."""
    total = S.class_sum(model.activation.base[S.k])
    return rules.substitute("softmax_sums_to_one", total, sp.Integer(1), "the softmax outputs sum to 1")


def normal_form(expr: sp.Expr, model: Model, assume: bool, classes: int | None = None) -> sp.Expr:
    """expr reduced by the engine's rules until nothing changes (at most three rounds)."""
    return strategy(model, assume, classes)(expr)


def strategy(model: Model, assume: bool, classes: int | None = None) -> Exhaust:
    """Name the activation and its totals, simplify as the derivation does, name again, expand; repeat."""
    naming = chain(*model.naming, *([softmax_total(model)] if model.output_index is not None else []))
    naming = chain(naming, *(label_totals(model, classes) if assume else []))
    return exhaust(chain(naming, rules.SIMPLIFY, naming, rules.RULES["expand"]), limit=ROUNDS)


def concrete_forms(
    expr: sp.Expr, model: Model, assume: bool, classes: int, features: int, cells: list[dict]
) -> list[sp.Expr]:
    """expr at each concrete entry: sums written out, the softmax named, P_K (if assumed) and a_K eliminated.

    The sizes are substituted once; each entry is then one substitution of i, j and an expansion.
    Stops early (fewer forms than cells) when the work bound :data:`WORK` is used up.
    """
    if model.output_index is None:
        return _scalar_forms(expr, model, features, cells)
    at_size = _name_softmax(S.instantiate(expr, classes, features), model, classes)
    last = {model.activation.base[classes]: 1 - sum(model.activation.base[q] for q in range(1, classes))}
    if assume:
        last[model.label[classes]] = 1 - sum(model.label[q] for q in range(1, classes))
    budget = WORK
    forms = []
    for entry in cells:
        concrete = sp.expand(_name_softmax(at_size.xreplace(entry).doit(), model, classes))
        size = _eliminated_size(concrete, last, classes)
        budget -= ENTRY_COST + size
        if budget < 0:
            break  # deterministic work bound: the remaining entries are decided by the numbers
        forms.append(sp.expand(concrete.xreplace(last)) if size <= ELIMINATED_TERMS else concrete)
    return forms


def _scalar_forms(expr: sp.Expr, model: Model, features: int, cells: list[dict]) -> list[sp.Expr]:
    """expr at each entry of a single-output model: sums written out, the activation named."""
    at_size = S.instantiate(expr, 1, features)
    return [sp.expand(chain(*model.naming)(sp.expand(at_size.xreplace(entry).doit()))) for entry in cells]


def _eliminated_size(expanded: sp.Expr, last: dict, classes: int) -> int:
    """Terms after writing a_K = 1 - a_1 - ... (and P_K) into ``expanded``: a term of degree n gives C(K - 1 + n, n).

    Too large a result is not substituted: the entry is then decided by the numbers alone.
    """
    total = 0
    for term in sp.Add.make_args(expanded):
        degree = 0
        for factor in sp.Mul.make_args(term):
            base, exponent = factor.as_base_exp()
            if base in last:
                degree += int(abs(exponent)) if exponent.is_Integer else ELIMINATED_TERMS
        total += math.comb(classes - 1 + degree, degree)
    return total


def _name_softmax(expr: sp.Expr, model: Model, classes: int) -> sp.Expr:
    """exp(z_q) / (exp(z_1) + ... + exp(z_K)) -> a_q at a concrete K: the model's naming rule, written out."""
    z, a, k = model.logit.base, model.activation.base, model.output_index
    written_out = sp.exp(z[k]) / sp.Add(*(sp.exp(z[q]) for q in range(1, classes + 1)))
    return rules.name_quantity(a[k], written_out, k, "name the softmax output at K = {0}", (classes,))(expr)
