"""A judged derivation shown: a line per line of the derivation with ✓ or ✗, in text and in LaTeX.

The judgement itself is :class:`derive.claims.judge.Judgement`; here its formulas are printed by
the one text printer and the one LaTeX printer, for ``derive check`` (text, ``--format latex``),
Jupyter and the documents' section "Checking the accepted answer".
"""

from __future__ import annotations

from derive.claims.judge import Judgement, LineVerdict
from derive.printing.text import text
from derive.render.document.judged import judged, latex_lines
from derive.render.environment import render

MARKS = {True: "✓", False: "✗"}
CHECKED = "derivation"
CHECK, CROSS = r"\checkmark", r"\times"


def report(judgement: Judgement) -> str:
    """The derivation line by line, then the first wrong step: why, the term lost, numbers, the verdict."""
    wrt = text(judgement.written.wrt)
    assumption = "assuming Sum_k P_k = 1" if judgement.assume and judgement.model.assumptions else "exact"
    lines = [f"derivation of dH/d{wrt}, {_lines(len(judgement.lines))} (model {judgement.model.name}, {assumption})"]
    for verdict in judgement.lines:
        lines += _line(verdict)
    lines += _first_wrong(judgement)
    lines.append(f"truth:      dH/d{wrt} = {text(judgement.truth)}")
    lines.append(f"verdict:    {judgement.verdict.upper()} (exit {judgement.exit_code})")
    return "\n".join(lines) + "\n"


def _lines(count: int) -> str:
    return f"{count} line{'' if count == 1 else 's'}"


def _line(verdict: LineVerdict) -> list[str]:
    read = " = ".join(text(side.raw) for side in verdict.line.sides[1:])
    notes = [] if verdict.equal_to_truth else ["not the truth"]
    notes += ["uses Sum_k P_k = 1"] if verdict.uses_assumption else []
    shown = f"  ({'; '.join(notes)})" if notes else ""
    return [
        f"{verdict.line.number:2d} {MARKS[verdict.holds]}  {verdict.line.text}",
        f"      read as: = {read}{shown}",
    ]


def _first_wrong(judgement: Judgement) -> list[str]:
    if judgement.first_wrong_line is None:
        return ["every step holds"]
    number = judgement.first_wrong_line
    lines = [f"first wrong line: {number}"]
    if judgement.why:
        lines.append(f"why:        {judgement.why}")
    if judgement.missing is not None:
        lines.append(f"difference: line {number} - {judgement.compared_with} = {text(judgement.missing)}")
    found = judgement.counterexample
    if found is not None:
        lines.append(f"numbers:    {found.description}")
        before = judgement.compared_with
        lines.append(f"            {before} gives {found.truth:+.6f}, line {number} gives {found.claim:+.6f}")
    return lines


def report_latex(judgement: Judgement) -> str:
    """The derivation as an ``align*`` with a ✓ or ✗ column (amssymb's \\checkmark, \\times), then the first wrong
    step: why, the term lost, the numbers (the documents' section, for one derivation)."""
    return render("latex", "judgement.tex.jinja", d=judged(CHECKED, judgement))


def repr_latex(judgement: Judgement) -> str:
    """The same as one display for Jupyter (MathJax's aligned)."""
    rows = [
        f"{row['lhs']} &{'= ' if row['equals'] else ''}{row['rhs']} && {CHECK if row['holds'] else CROSS}"
        for row in latex_lines(judgement)
    ]
    return "$$\\begin{aligned}" + " \\\\ ".join(rows) + "\\end{aligned}$$"
