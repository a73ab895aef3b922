"""Wrong formulas beside the truth: the model's common mistakes, and the seed claims as ``derive check`` judged them.

:func:`mistakes` is the section "A common mistake" (the term each mistake drops, computed by
SymPy, and the entries where it differs at the worked example); :func:`checks` the section
"Check your derivation" (each verdict, with the entry where claim and truth differ most).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from derive.claims.verdict import CheckResult
from derive.core import symbols as S
from derive.core.derivation import Derivation
from derive.core.models import Model
from derive.render.document.steps import Tex, written
from derive.render.document.worked import numbers
from derive.verify.example import Example


def missing_term(derivation: Derivation, formula: sp.Expr) -> sp.Expr:
    """truth - formula, under the derivation's assumptions, factored: what the formula drops."""
    difference = derivation.result - formula
    for name in derivation.assumptions:
        difference = derivation.model.assumption(name).rule(difference)
    return written(sp.factor_terms(sp.expand(difference)))


def mistakes(derivation: Derivation, example: Example, tex: Tex) -> list[dict]:
    """Each of the model's common mistakes beside the truth: the term it drops and the entries where it differs."""
    model = derivation.model
    out = []
    for name, formula, why in model.mistakes:
        missing = missing_term(derivation, formula)
        given = example.mistakes[name]
        differ = [
            (r, c)
            for (r, c), v in np.ndenumerate(given)
            if not np.isclose(v, example.grad_W[r, c], rtol=1e-9, atol=1e-12)
        ]
        out.append(
            {
                "name": name,
                "why": why,
                "claim": tex(derivation.lhs, formula),
                "missing": tex(missing),
                "identity": tex(derivation.result, sp.Add(formula, missing, evaluate=False)),
                "matrix": tex(numbers(given)),
                "differences": [_difference(derivation, given, example, position, tex) for position in differ],
            }
        )
    return out


def _difference(derivation: Derivation, given, example: Example, position, tex: Tex) -> dict:
    """One entry where a mistake differs: its value, the truth and the dropped term there (truth - mistake)."""
    r, c = position
    i, j = derivation.wrt.indices
    at = {i: r + 1, j: c + 1}
    dropped = float(example.grad_W[position] - given[position])
    return {
        "entry": tex(sp.Derivative(S.H, derivation.wrt.subs(at))),
        "given": tex(sp.Float(given[position])),
        "truth": tex(sp.Float(example.grad_W[position])),
        "dropped": tex(sp.Float(dropped)),
        "dropped_value": dropped,
        "position": position,
    }


def checks(model: Model, judged: tuple[tuple[str, CheckResult], ...], assume: bool) -> dict | None:
    """The model's seed claims as judged by ``derive check`` (``judged``, at its example); None when there are none.

    The claims and the truth are generic in K and d (the verdict is), so they are printed without the
    document's concrete sizes.
    """
    if not judged:
        return None
    tex = Tex()
    x = np.asarray(model.example["x"], dtype=float)
    classes = model.names("classes", len(model.example["P"]))
    return {
        "lhs": tex(judged[0][1].lhs),
        "exact": not assume,
        "assumption": "; ".join(tex(a.statement.lhs, a.statement.rhs) for a in model.assumptions) if assume else "",
        "sample": [tex(S.x[q], sp.Float(v), decimals=None) for q, v in enumerate(x, 1)],
        "label": classes[int(np.argmax(model.example["P"]))],
        "claims": [checked(model, name, result, tex) for name, result in judged],
    }


def checked(model: Model, name: str, result: CheckResult, tex: Tex) -> dict:
    """One verdict: the claim as typed and as read, the truth, claim - truth, why, and a counterexample."""
    found = result.counterexample
    return {
        "name": name,
        "typed": result.claim.text,
        "claim": tex(result.lhs, written(result.claim.expr)),
        "truth": tex(result.lhs, result.truth),
        "verdict": result.verdict,
        "exit_code": result.exit_code,
        "difference": tex(written(result.difference)),
        "explanation": result.explanation or "",
        "method": result.method(),
        "counterexample": counterexample(model, result, tex) if found else None,
    }


def counterexample(model: Model, result: CheckResult, tex: Tex) -> dict:
    """The entry where claim and truth differ most: its name, both values, the finite difference of the loss.

    ``place`` names the entry's feature and class at the question's sample, or (``seed`` False) describes
    the random point where the claim fails.
    """
    found = result.counterexample
    entry = result.claim.wrt.xreplace({q: found.indices[str(q)] for q in result.claim.wrt.indices})
    seed = found.where == "seed"
    features = model.names("features", len(model.example["x"]))
    classes = model.names("classes", len(model.example["P"]))
    place = [features[found.indices["i"] - 1]] if "i" in found.indices else []
    return {
        "seed": seed,
        "entry": tex(sp.Derivative(S.H, entry)),
        "place": ", ".join([*place, classes[found.indices["j"] - 1]]) if seed else found.description,
        "claim": tex(sp.Float(found.claim)),
        "truth": tex(sp.Float(found.truth)),
        "finite_difference": None if found.finite_difference is None else tex(sp.Float(found.finite_difference)),
    }
