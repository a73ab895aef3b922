"""A judged derivation shown: a line per line of the derivation with ✓ or ✗, in text and in LaTeX.

The judgement itself is :class:`derive.claims.judge.Judgement`; here its formulas are printed by
the one text printer and the one LaTeX printer, for ``derive check`` (text, ``--format latex``),
Jupyter and the documents' section "Checking the accepted answer".
"""

from __future__ import annotations

from derive.claims.judge import Judgement, LineVerdict
from derive.printing.latex import latex
from derive.printing.text import text

MARKS = {True: "✓", False: "✗"}
CHECK, CROSS = r"\checkmark", r"\times"


def report(judgement: Judgement) -> str:
    """The derivation line by line, then the first wrong step: why, the term lost, numbers, the verdict."""
    wrt = text(judgement.written.wrt)
    assumption = "assuming Sum_k P_k = 1" if judgement.assume and judgement.model.assumptions else "exact"
    lines = [f"derivation of dH/d{wrt}, {len(judgement.lines)} lines (model {judgement.model.name}, {assumption})"]
    for verdict in judgement.lines:
        lines += _line(verdict)
    lines += _first_wrong(judgement)
    lines.append(f"truth:      dH/d{wrt} = {text(judgement.truth)}")
    lines.append(f"verdict:    {judgement.verdict.upper()} (exit {judgement.exit_code})")
    return "\n".join(lines) + "\n"


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
        lines.append(f"difference: line {number} - the line before = {text(judgement.missing)}")
    found = judgement.counterexample
    if found is not None:
        lines.append(f"numbers:    {found.description}")
        lines.append(f"            the line before gives {found.truth:+.6f}, line {number} gives {found.claim:+.6f}")
    return lines


def latex_lines(judgement: Judgement) -> list[dict]:
    """Each line printed as LaTeX, its mark (✓/✗) and notes: data for the LaTeX report and the documents."""
    rows = []
    for verdict in judgement.lines:
        sides = verdict.line.sides if verdict.line.number == 1 and judgement.written.lhs else verdict.line.sides[1:]
        printed = " = ".join(latex(side.raw) for side in sides)
        rows.append(
            {
                "number": verdict.line.number,
                "lhs": latex(sides[0].raw) if verdict.line.number == 1 and judgement.written.lhs else "",
                "rhs": printed.split(" = ", 1)[1] if verdict.line.number == 1 and judgement.written.lhs else printed,
                "holds": verdict.holds,
                "truth": verdict.equal_to_truth,
                "assumption": verdict.uses_assumption,
            }
        )
    return rows


def report_latex(judgement: Judgement) -> str:
    """An ``align*`` of the derivation with a ✓ or ✗ column (amssymb's \\checkmark, \\times) and the first wrong step."""
    rows = []
    for row in latex_lines(judgement):
        first = row["number"] == judgement.first_wrong_line
        mark = CHECK if row["holds"] else CROSS + (r" \ \text{first wrong step}" if first else "")
        rows.append(f"{row['lhs']} &= {row['rhs']} && {mark}")
    body = " \\\\\n".join(rows)
    return f"\\begin{{align*}}\n{body}\n\\end{{align*}}\n"


def repr_latex(judgement: Judgement) -> str:
    """The same as one display for Jupyter (MathJax's aligned)."""
    rows = [f"{row['lhs']} &= {row['rhs']} && {CHECK if row['holds'] else CROSS}" for row in latex_lines(judgement)]
    return "$$\\begin{aligned}" + " \\\\ ".join(rows) + "\\end{aligned}$$"
