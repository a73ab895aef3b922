"""The section "Checking the accepted answer": a whole derivation as posted, judged line by line.

The caller judges the model's posted derivations (:func:`derive.claims.judge.judge_text`); this
module prints the lines with their marks (:func:`latex_lines`), the first
wrong step's explanation, the term it loses and the numbers where it differs, for the templates.
"""

from __future__ import annotations

import sympy as sp

from derive.claims.judge import Judgement
from derive.core import symbols as S
from derive.printing.latex import latex
from derive.render.document.steps import Tex


def derivation_checks(checked: tuple[tuple[str, Judgement], ...]) -> list[dict] | None:
    """One entry per judged derivation (name, rows, the first wrong step), None when there is none."""
    if not checked:
        return None
    return [judged(name, judgement) for name, judgement in checked]


def judged(name: str, judgement: Judgement) -> dict:
    """What the templates show of one judged derivation: its rows, the first wrong step, why, the numbers."""
    tex = Tex()
    found = judgement.counterexample
    return {
        "name": name,
        "rows": latex_lines(judgement),
        "first": judgement.first_wrong_line,
        "before": judgement.compared_with,
        "later": _later(judgement),
        "lines": len(judgement.lines),
        "verdict": judgement.verdict,
        "exit_code": judgement.exit_code,
        "why": judgement.why or "",
        "lost": latex(judgement.missing) if judgement.missing is not None else "",
        "truth": tex(sp.Derivative(S.H, judgement.written.wrt), judgement.truth),
        "numbers": _numbers(judgement, found) if found is not None else None,
    }


def latex_lines(judgement: Judgement) -> list[dict]:
    """Each line printed as LaTeX, its mark (✓/✗) and notes: data for the LaTeX report and the documents."""
    rows = []
    for verdict in judgement.lines:
        line = verdict.line
        printed = [latex(side.raw) for side in (line.sides if line.fresh else line.sides[1:])]
        lhs, rest = (printed[0], printed[1:]) if line.fresh else ("", printed)
        rows.append(
            {
                "number": line.number,
                "lhs": lhs,
                "equals": bool(rest),  # a first line of one side (no equals sign) has nothing after "&"
                "rhs": " = ".join(rest),
                "holds": verdict.holds,
                "truth": verdict.equal_to_truth,
                "assumption": verdict.uses_assumption,
            }
        )
    return rows


def _later(judgement: Judgement) -> str:
    """After the first wrong step: "follow" (every later step holds, the result is wrong), "cancel" (the last
    line is right again: two errors cancel), or "" (more wrong steps)."""
    first = judgement.first_wrong_line
    if first is None:
        return ""
    later = [v for v in judgement.lines if v.line.number > first]
    if not later:
        return ""
    if judgement.lines[-1].equal_to_truth:
        return "cancel"
    return "follow" if all(v.holds for v in later) else ""


def _numbers(judgement: Judgement, found) -> dict:
    entry = judgement.written.wrt.xreplace({q: found.indices[str(q)] for q in judgement.written.wrt.indices})
    return {
        "entry": latex(sp.Derivative(S.H, entry)),
        "place": found.description,
        "before": latex(sp.Float(found.truth)),
        "after": latex(sp.Float(found.claim)),
    }
