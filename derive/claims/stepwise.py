"""What went wrong at a step of a derivation: the mistake in words, the term lost or gained, and numbers.

:func:`explain_step` tries the mistakes people make between two lines, each checked numerically
(never by the look of the text): a sum over k collapsed to its k = j term (the seed's accepted
answer: the terms through a_k, k != j, are lost), a sign lost, the factor x_i dropped, and a
line equal to one of the named wrong results of :mod:`derive.claims.mistakes`.
:func:`difference` is the line minus the line before, reduced by the engine's rules;
:func:`counterexample` finds the entry where the two lines differ at the model's own example,
trying each class as the label (a claim can agree with the truth at one label and not another),
and else at the random point the comparison found.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from derive.claims import batch
from derive.claims.claim import Claim
from derive.claims.compare import Mismatch, agree, entries, numeric_mismatch
from derive.claims.counterexample import (
    Counterexample,
    entry_name,
    example_point,
    example_size,
    example_words,
    plain,
    random_at,
)
from derive.claims.derivatives import resolve
from derive.claims.mistakes import explain
from derive.claims.normal_form import normal_form
from derive.claims.verdict import tidy
from derive.claims.written import Side, Written
from derive.core import symbols as S
from derive.core.models import Model
from derive.verify import checking
from derive.verify.evaluate import environment, number

#: differences larger than this (SymPy operations) are not reduced for display
SHOWN_OPS = 300


def explain_step(
    before: Side,
    after: Side,
    written: Written,
    model: Model,
    classes: int,
    features: int,
    assume: bool,
    earlier: str = "the line before",
) -> str | None:
    """The mistake between two lines, in words, when one of the known ones matches; None otherwise.
    ``earlier`` names what ``before`` is: the line before, the left-hand side, the side before."""
    if before.transposed != after.transposed:
        shape = "K x d" if after.transposed else "d x K"
        return (
            f"this line is the transpose of {earlier} ({shape}): the gradient of H by W has W's shape, d x K"
            " (rows are features), as derive writes it; the other is the numerator layout"
        )
    if _equal(after.expr, before.expr, written, model, classes, features, normalised=True):
        return "this step holds only when the labels sum to one (Sum_k P_k = 1), which --exact does not assume"
    collapsed = _collapsed_sum(before, after, written, model, classes, features)
    if collapsed is not None:
        return collapsed

    def same(a: sp.Expr, b: sp.Expr) -> bool:  # equal for any labels, or for labels summing to one when assumed
        return _equal(a, b, written, model, classes, features, normalised=assume)

    if same(after.expr, -before.expr):
        return f"the sign is lost: this line is minus {earlier}"
    if written.batch:
        return _batch_step(before.expr, after.expr, same, earlier)
    if S.i in getattr(written.wrt, "indices", ()) and same(after.expr * S.x[S.i], before.expr):
        return f"the factor x_i is lost: this line is {earlier} divided by x_i"
    truth = written.truth(model)
    general = written.parameter in (None, written.wrt)  # named mistakes are stated for the general entry W_ij
    if general and _equal(before.expr, truth, written, model, classes, features) and not after.expr.has(sp.Derivative):
        return explain(Claim("", after.expr, written.wrt, "", written.concrete), model, classes, features)
    return None


def _batch_step(before: sp.Expr, after: sp.Expr, same, earlier: str) -> str | None:
    """The mistakes of a batch form: the mean's 1/N lost (a sum over the batch) or applied twice."""
    if same(after, batch.N * before):
        return f"the 1/N of the mean is lost: this line is the sum over the batch, N times {earlier}"
    if same(after * batch.N, before):
        return f"this line divides by N once more: it is {earlier} divided by N"
    return None


def _collapsed_sum(
    before: Side, after: Side, written: Written, model: Model, classes: int, features: int
) -> str | None:
    """A sum over a class index k kept only at k = j: the terms with k != j are lost."""
    j = _class_index(written)
    for total in sorted(before.raw.atoms(sp.Sum), key=sp.default_sort_key):
        ((k, _, _),) = total.limits
        if j is None or k == j:
            continue
        kept = resolve(before.raw.xreplace({total: total.function.xreplace({k: j})}), model)
        if _equal(after.expr, kept, written, model, classes, features):
            return (
                f"the sum over {k} was collapsed to its {k} = {j} term: the terms with {k} != {j} are lost"
                f" (in the softmax, a_{k} depends on z_{j} for every {k}, not only for {k} = {j})"
            )
    return None


def _class_index(written: Written) -> sp.Expr | None:
    """The class the derivation differentiates for: j for W_ij, 1 for W_i1; None without one."""
    general = getattr(written.parameter if written.parameter is not None else written.wrt, "indices", ())
    return dict(zip(general, getattr(written.wrt, "indices", ()))).get(S.j)


def _equal(a, b, written: Written, model: Model, classes: int, features: int, normalised: bool = False) -> bool:
    defined = normalised or model.label_definition is not None
    return differ(a, b, written, model, defined, classes, features) is None


def differ(claim, truth, written: Written, model: Model, normalised: bool, classes: int, features: int, sample=None):
    """The worst entry where two sides differ at random points (random batches for a batch form), else None."""
    if written.batch:
        return batch.mismatch(claim, truth, model, written.wrt, normalised, classes, features)
    return numeric_mismatch(claim, truth, model, written.wrt, normalised, classes, features, sample=sample)


def difference(before: sp.Expr, after: sp.Expr, model: Model, assume: bool) -> sp.Expr | None:
    """after - before, reduced and factored; None when it is too large to show (or a batch form's entry)."""
    if before.has(batch.N) or after.has(batch.N) or sp.count_ops(before) + sp.count_ops(after) > SHOWN_OPS:
        return None
    reduced = normal_form(after - before, model, assume)
    return tidy(reduced) if reduced != 0 else None


def counterexample(
    before: sp.Expr,
    after: sp.Expr,
    written: Written,
    model: Model,
    classes: int,
    features: int,
    mismatch: Mismatch | None,
) -> Counterexample | None:
    """The entry where the two lines differ most at the model's example (each class tried as the label), else at
    the random point of ``mismatch``.  ``claim`` is the line's value, ``truth`` the line before's."""
    if written.batch:
        return batch.counterexample(written.wrt, mismatch) if mismatch is not None else None
    if (classes, features) == example_size(model):
        for label in _labels(model):
            found = _at_example(before, after, written, model, label)
            if found is not None:
                return found
    return random_at(written.wrt, mismatch) if mismatch is not None else None


def _labels(model: Model) -> list[int | None]:
    """The example's own label first, then each other class (None: a single output keeps its target)."""
    if model.output_index is None:
        return [None]
    own = int(np.argmax(model.example["P"])) + 1
    return [own, *(q for q in range(1, len(model.example["P"]) + 1) if q != own)]


def _at_example(before, after, written: Written, model: Model, label: int | None) -> Counterexample | None:
    classes, features = example_size(model)
    given = example_point(model)
    if label is not None and model.label_definition is None:
        given.update({model.label[q]: float(q == label) for q in range(1, classes + 1)})
    point = environment(checking.valuation(model, classes, features, given), classes, features)
    gaps = []
    parameter = written.wrt
    for entry in entries(parameter, classes, features):
        env = {**point, **entry}
        got, want = number(after, env), number(before, env)
        if not agree(got, want):
            gaps.append((abs(got - want) if np.isfinite(got) else float("inf"), entry, got, want))
    if not gaps:
        return None
    _, entry, got, want = max(gaps, key=lambda g: g[0])
    name = entry_name(parameter, entry)
    words = example_words(model, name, _roles(written, entry), given, label)
    return Counterexample("seed", name, plain(entry), got, want, None, words)


def _roles(written: Written, entry: dict) -> dict:
    """The entry as the model's indices: {i: 2, j: 1} for W_i1 at i = 2 (the class the derivation fixed)."""
    general = getattr(written.parameter if written.parameter is not None else written.wrt, "indices", ())
    return dict(zip(general, getattr(written.wrt.xreplace(entry), "indices", ())))
