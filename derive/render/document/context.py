"""The driver: the context of the derivation templates, section by section, from the caller's values.

The caller passes everything computed elsewhere: the derivations, the worked example, the
verdicts on the seed claims (``judged``) and the 2-class pair (``pair``); nothing here runs a
check or computes an example.
"""

from __future__ import annotations

from derive.claims.verdict import CheckResult
from derive.core import symbols as S
from derive.core.derivation import Derivation
from derive.printing.latex import Gradient
from derive.render.document.forms import columns, exact_results, jacobian, matrix_forms
from derive.render.document.judged import derivation_checks
from derive.render.document.mistakes import checks, mistakes
from derive.render.document.notation import assumptions, definitions, losses, notation, symbols, words
from derive.render.document.steps import Tex, section
from derive.render.document.variants import activation_derivative, penalty, smoothing, two_class_softmax
from derive.render.document.worked import worked
from derive.verify.example import Example


def document(
    derivations: tuple[Derivation, ...],
    example: Example,
    sizes: tuple[int, int] | None = None,
    constants: dict | None = None,
    judged: tuple[tuple[str, CheckResult], ...] = (),
    pair: tuple[Example, Example] | None = None,
    exact: tuple[Derivation, ...] | None = None,
    judged_derivations: tuple = (),
    hessian: dict | None = None,
) -> dict:
    """The context of the derivation templates: generic K and d unless ``sizes`` (K, d) are given.

    ``constants`` are the values of the model's symbolic strengths (lambda, epsilon) in the
    worked example, by default the model's own.  ``judged`` are the model's seed claims with
    their verdicts (the section "Check your derivation"), ``pair`` the worked examples of a
    sigmoid model and of the 2-class softmax at the seed's sample (the section on their
    equivalence), ``judged_derivations`` the model's posted derivations judged line by line (the
    section "Checking the accepted answer"), ``exact`` the derivations without the model's assumptions (the derivations
    themselves when None: they assume nothing), ``hessian`` the section "Second derivatives" (the context of
    :func:`derive.render.document.network.second_order`, from the model's file); all are computed by the caller.  Raises
    ValueError when ``sizes`` differ from the worked example's.
    """
    if sizes is not None and tuple(sizes) != (example.classes, example.features):
        raise ValueError(f"sizes {tuple(sizes)} differ from the worked example's {(example.classes, example.features)}")
    model = derivations[0].model
    constants = {**model.constants, **(constants or {})}
    tex = Tex(((S.K, sizes[0]), (S.d, sizes[1]))) if sizes else Tex()
    forms = matrix_forms(derivations)
    shown: dict = {}
    sections = [section(d, tex, shown) for d in derivations]
    many = model.output_index is not None
    return {
        "title": model.title,
        "many": many,
        "words": words(model),
        "symbols": symbols(model, tex),
        "notation": notation(model, tex),
        "loss": losses(model, tex),
        "definitions": definitions(model, tex),
        "sections": sections,
        "jacobian": jacobian(derivations[0], example.classes, tex) if many else None,
        "derivative": activation_derivative(derivations[0], sections[0], tex),
        "assumptions": assumptions(derivations[0], tex),
        "smoothing": smoothing(derivations, sections, tex),
        "penalty": penalty(derivations, sections, tex),
        "exact": exact_results(exact or derivations, tex),
        "matrix_forms": [tex(lhs, rhs) for lhs, rhs in forms if isinstance(lhs, Gradient)],
        "columns": columns(model, tex),
        "example": worked(example, model, forms, tex, constants),
        "mistakes": mistakes(derivations[0], example, tex),
        "equivalence": two_class_softmax(model, pair, tex),
        "check": checks(model, judged, bool(derivations[0].assumptions)),
        "derivation_check": derivation_checks(judged_derivations),
        "hessian": hessian,
    }
