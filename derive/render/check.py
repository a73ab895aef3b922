"""A verdict of ``derive check`` shown: plain text for the terminal, LaTeX for Jupyter.

The verdict itself (:class:`derive.claims.verdict.CheckResult`) is data; here
its formulas are printed by the one text printer and the one LaTeX printer.
"""

from __future__ import annotations

from derive.claims.verdict import ASSUMED, CORRECT, CheckResult
from derive.printing.latex import latex
from derive.printing.text import text


def report(result: CheckResult) -> str:
    """The verdict as ``derive check`` prints it: the claim as read, the truth, claim - truth, why, a counterexample."""
    assumption = "assuming Sum_k P_k = 1" if result.assume else "exact, for any labels (--exact)"
    assumption = f"model {result.model.name}, no assumption needed" if result.single else assumption
    lines = [
        f"claim:      {result.claim.text}",
        f"read as:    {text(result.lhs)} = {text(result.claim.expr)}   ({result.claim.notation} notation)",
        f"truth:      {text(result.lhs)} = {text(result.truth)}   ({assumption})",
        f"verdict:    {result.verdict.upper()} (exit {result.exit_code})",
    ]
    if result.verdict != CORRECT or result.difference != 0:
        lines.append(f"difference: claim - truth = {text(result.difference)}")
    if result.verdict == ASSUMED:
        lines.append("why:        the claim holds only when the labels sum to 1 (Sum_k P_k = 1), which --exact drops")
    if result.explanation:
        lines.append(f"why:        {result.explanation}")
    lines.append(f"checked:    {result.method()}")
    return "\n".join(lines + counterexample_lines(result)) + "\n"


def counterexample_lines(result: CheckResult) -> list[str]:
    found = result.counterexample
    if not found:
        return []
    fd = f" (finite differences {found.finite_difference:+.6f})" if found.finite_difference is not None else ""
    return [
        f"counterexample: {found.description}",
        f"            the claim gives {found.claim:+.6f}, the truth {found.truth:+.6f}{fd}",
    ]


def latex_parts(result: CheckResult) -> dict:
    """The left-hand side, the claim, the truth and claim - truth, printed as LaTeX."""
    sides = {"lhs": result.lhs, "claim": result.claim.expr, "truth": result.truth, "difference": result.difference}
    return {name: latex(expr) for name, expr in sides.items()}


def repr_latex(result: CheckResult) -> str:
    """dH/dW_ij =? claim, the verdict, and claim - truth when it is not 0: one line of display math."""
    parts = latex_parts(result)
    out = rf"{parts['lhs']} \overset{{?}}{{=}} {parts['claim']} \quad \text{{{result.verdict}}}"
    if result.verdict != CORRECT:
        out += rf" \quad \text{{claim}} - \text{{truth}} = {parts['difference']}"
    return f"$\\displaystyle {out}$"
