"""The section "Checking the accepted answer": a whole derivation as posted, judged line by line.

The caller judges the model's posted derivations (:func:`derive.claims.judge.judge_text`); this
module prints the lines with their marks (:func:`derive.render.judgement.latex_lines`), the first
wrong step's explanation, the term it loses and the numbers where it differs, for the templates.
"""

from __future__ import annotations

import sympy as sp

from derive.claims.judge import Judgement
from derive.core import symbols as S
from derive.printing.latex import latex
from derive.render.document.steps import Tex
from derive.render.judgement import latex_lines


def derivation_checks(judged: tuple[tuple[str, Judgement], ...]) -> list[dict] | None:
    """One entry per judged derivation (name, rows, the first wrong step), None when there is none."""
    if not judged:
        return None
    return [_judged(name, judgement) for name, judgement in judged]


def _judged(name: str, judgement: Judgement) -> dict:
    tex = Tex()
    found = judgement.counterexample
    return {
        "name": name,
        "rows": latex_lines(judgement),
        "first": judgement.first_wrong_line,
        "lines": len(judgement.lines),
        "verdict": judgement.verdict,
        "exit_code": judgement.exit_code,
        "why": judgement.why or "",
        "lost": latex(judgement.missing) if judgement.missing is not None else "",
        "truth": tex(sp.Derivative(S.H, judgement.written.wrt), judgement.truth),
        "numbers": _numbers(judgement, found) if found is not None else None,
    }


def _numbers(judgement: Judgement, found) -> dict:
    entry = judgement.written.wrt.xreplace({q: found.indices[str(q)] for q in judgement.written.wrt.indices})
    return {
        "entry": latex(sp.Derivative(S.H, entry)),
        "place": found.description,
        "before": latex(sp.Float(found.truth)),
        "after": latex(sp.Float(found.claim)),
    }
