"""The steps of a derivation as the document shows them: numbered lines in blocks, one section per gradient.

:class:`Tex` prints SymPy expressions (with K and d made concrete when the document has sizes);
:func:`section` groups a derivation's steps after the chain rule into :class:`Block` s of
:class:`Line` s (the factors, the labels' total, the main line, the penalty), and refers to a block
shown in an earlier section instead of repeating it.  :func:`written` puts a product in the
textbook's order.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import sympy as sp

from derive.core import symbols as S
from derive.core.derivation import FACTOR, LABEL, Derivation
from derive.printing.latex import equation


@dataclass(frozen=True)
class Tex:
    """Prints SymPy expressions, with the sizes K and d made concrete when they are given."""

    sizes: tuple[tuple[sp.Symbol, int], ...] = ()

    def concrete(self, expr: sp.Basic) -> sp.Basic:
        return expr.xreplace(dict(self.sizes)) if self.sizes else expr

    def __call__(self, *sides: sp.Basic, **settings) -> str:
        """``a = b = c``, each side printed by the LaTeX printer."""
        return equation(*(self.concrete(side) for side in sides), **settings)


@dataclass(frozen=True)
class Line:
    """One step: ``lhs = rhs`` (lhs empty when it continues the line before), and why.

    ``equation`` is the whole ``lhs = rhs`` for layouts that do not align steps;
    ``justification`` is prose as pieces ("text", words) and ("math", printed formula).
    """

    number: int
    lhs: str
    rhs: str
    equation: str
    justification: tuple[tuple[str, str], ...]
    assumption: str = ""


@dataclass(frozen=True)
class Block:
    """Consecutive steps of one quantity, aligned on their equals signs.

    ``kind`` says what the steps derive: "factor" (of the chain rule), "labels"
    (defined labels sum to one), "main" (the chain rule's product reduced),
    "penalty" (dR/dtheta of an L2 penalty) or "total" (data term plus penalty).
    ``see`` is (derivation, first, last) when the same steps were shown before; ``lines`` is then empty.
    """

    lhs: str
    lines: tuple[Line, ...]
    see: tuple[str, int, int] | None = None
    kind: str = "factor"


@dataclass(frozen=True)
class Section:
    """The derivation of one gradient: the chain rule, then its blocks of steps in order, the result."""

    lhs: str
    chain: Line
    blocks: tuple[Block, ...]
    result: str
    assumption_steps: tuple[int, ...]

    def block(self, kind: str) -> Block | None:
        """The first block of that kind, None when there is none."""
        return next((b for b in self.blocks if b.kind == kind), None)


def written(expr: sp.Expr) -> sp.Expr:
    """A product in the textbook's order: sign, quantities, brackets, the feature x last.

    a_j*x_i*(1 - P_j) -> a_j*(1 - P_j)*x_i, (1 - a_1)*a_1 -> a_1*(1 - a_1); kept unevaluated.
    """
    factors = sp.Mul.make_args(expr)
    return sp.Mul(*sorted(factors, key=_place), evaluate=False) if len(factors) > 1 else expr


def _place(factor: sp.Expr) -> int:
    if factor.is_Number:
        return 0
    if factor.has(S.x):
        return 3
    return 2 if isinstance(factor, sp.Add) else 1


def explained(step, tex: Tex) -> tuple[tuple[str, str], ...]:
    """The step's justification as ("text", words) and ("math", formula) pieces, in order."""
    pieces = []
    for words, field, _, _ in string.Formatter().parse(step.justification):
        if words:
            pieces.append(("text", words))
        if field is not None:
            pieces.append(("math", tex(step.terms[int(field)])))
    return tuple(pieces)


def lines(steps, tex: Tex, used: frozenset[str], start: int, statement: str) -> tuple[Line, ...]:
    """Numbered lines; the left-hand side printed on the first line and wherever it changes."""
    return tuple(
        Line(
            start + n,
            tex(s.lhs) if n == 0 or s.lhs != steps[n - 1].lhs else "",
            tex(s.rhs),
            tex(s.lhs, s.rhs),
            explained(s, tex),
            statement if s.rule in used else "",
        )
        for n, s in enumerate(steps)
    )


def runs(steps) -> list[tuple[str, tuple]]:
    """Consecutive steps of the same kind and left-hand side, each with the kind of its block."""
    groups: list[list] = []
    for step in steps:
        if groups and (groups[-1][0].kind, groups[-1][0].lhs) == (step.kind, step.lhs):
            groups[-1].append(step)
        else:
            groups.append([step])
    kinds = []
    for group in groups:
        first = group[0]
        if first.kind == FACTOR:
            kinds.append("penalty" if first.lhs.expr == S.R else "factor")
        elif first.kind == LABEL:
            kinds.append("labels")
        else:
            kinds.append("total" if "main" in kinds else "main")
    return list(zip(kinds, map(tuple, groups)))


def section(derivation: Derivation, tex: Tex, shown: dict) -> Section:
    """The steps of ``derivation`` after the chain rule, in blocks: factors, labels, main line, penalty.

    A block whose steps are in ``shown`` (from an earlier derivation) refers to them
    instead of repeating them; new ones are added to ``shown``.
    """
    model, steps = derivation.model, derivation.steps
    used = frozenset(model.assumption(n).rule.name for n in derivation.assumptions)
    statement = assumption_statement(derivation, tex)
    blocks, first = [], 2
    for kind, group in runs(steps[1:]):
        if kind in ("factor", "labels", "penalty") and group in shown:
            blocks.append(Block(tex(group[0].lhs), (), see=shown[group], kind=kind))
        else:
            blocks.append(Block(tex(group[0].lhs), lines(group, tex, used, first, statement), kind=kind))
            shown.setdefault(group, (tex(derivation.lhs), first, first + len(group) - 1))
        first += len(group)
    return Section(
        lhs=tex(derivation.lhs),
        chain=lines(steps[:1], tex, used, 1, statement)[0],
        blocks=tuple(blocks),
        result=tex(derivation.lhs, derivation.result),
        assumption_steps=tuple(n for n, s in enumerate(steps, 1) if s.rule in used),
    )


def assumption_statement(derivation: Derivation, tex: Tex) -> str:
    """Sum_k P_k = 1, printed, or "" when the derivation assumes nothing."""
    model = derivation.model
    return "; ".join(
        tex(a.statement.lhs, a.statement.rhs) for a in model.assumptions if a.name in derivation.assumptions
    )
