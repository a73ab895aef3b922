"""Judging a whole derivation: every step against the one before it, every line against the truth.

Each equals sign of a :class:`~derive.claims.written.Written` derivation is a step ``A = B``; it
*holds* when A and B are equal as functions of the model's variables, for all values: checked at
random points for every entry (labels normalised or not, :func:`derive.claims.compare.numeric_mismatch`)
and, where the expressions are small enough, symbolically with the engine's rules.  A step that
holds only for labels summing to one *uses* Sum_k P_k = 1 (allowed unless ``--exact``).  The first
step that does not hold is the first wrong line, even when a later error cancels it; for it the
judgement says why in words where a known mistake matches (:mod:`derive.claims.stepwise`), shows the
term that went missing or appeared, and gives numbers where the two sides differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.claims import batch
from derive.claims.compare import SAMPLE, Mismatch, sizes_of
from derive.claims.counterexample import Counterexample
from derive.claims.normal_form import normal_form
from derive.claims.stepwise import counterexample, differ, difference, explain_step
from derive.claims.verdict import ASSUMED, CORRECT, INCORRECT
from derive.claims.written import Line, Side, Written, read
from derive.core.models import Model, get_model
from derive.printing.text import text

HOLDS, USES_ASSUMPTION, WRONG = "holds", "uses the assumption", "wrong"
#: expressions larger than this (SymPy operations) are compared by their numbers alone
SYMBOLIC_OPS = 300


@dataclass(frozen=True)
class StepVerdict:
    """One equals sign: holds for any labels, only when they sum to one, or not at all."""

    kind: str
    mismatch: Mismatch | None
    symbolic: bool
    only_if_normalised: bool = False  # wrong under --exact, but it holds when the labels sum to one


@dataclass(frozen=True)
class LineVerdict:
    """A line: its steps' verdicts, and whether its last side equals the engine's derivative."""

    line: Line
    steps: tuple[StepVerdict, ...]
    equal_to_truth: bool
    truth_uses_assumption: bool

    @property
    def holds(self) -> bool:
        return all(step.kind != WRONG for step in self.steps)

    @property
    def uses_assumption(self) -> bool:
        return any(step.kind == USES_ASSUMPTION for step in self.steps)


@dataclass(frozen=True)
class Judgement:
    """The verdict on a derivation, line by line, with what is known about the first wrong step."""

    written: Written
    model: Model
    assume: bool
    truth: sp.Expr  # as shown: the closed form under the assumption when it is on
    lines: tuple[LineVerdict, ...]
    why: str | None
    missing: sp.Expr | None
    counterexample: Counterexample | None
    classes: int
    features: int

    @property
    def first_wrong_line(self) -> int | None:
        return next((v.line.number for v in self.lines if not v.holds), None)

    @property
    def compared_with(self) -> str:
        """What the first wrong step compares its line with: the line before, the line's own left-hand side, or
        the side before it in a chain A = B = C."""
        wrong = next((v for v in self.lines if not v.holds), None)
        if wrong is None:
            return "the line before"
        return _compared_with(wrong.line, next(n for n, step in enumerate(wrong.steps) if step.kind == WRONG))

    @property
    def verdict(self) -> str:
        return {0: CORRECT, 1: INCORRECT, 3: ASSUMED}[self.exit_code]

    @property
    def exit_code(self) -> int:
        """0 every step holds; 1 one does not; 3 the only wrong steps hold when the labels sum to one (--exact)."""
        wrong = [step for v in self.lines for step in v.steps if step.kind == WRONG]
        if not wrong:
            return 0
        return 3 if all(step.only_if_normalised for step in wrong) else 1


def is_derivation(text: str) -> bool:
    """Whether typed text is a whole derivation (lines, alignment, an environment, or two equals signs)."""
    level, equals = 0, 0
    for char in text:
        level += (char in "([{") - (char in ")]}")
        equals += char == "=" and level == 0
    return any(mark in text.strip() for mark in ("\\\\", "\n", "&", "\\begin")) or equals > 1


def judge_text(
    text: str,
    model: Model | str = "softmax",
    wrt: str | None = None,
    assume: bool = True,
    classes: int = 2,
    features: int = 2,
    lets: dict | None = None,
    batched: bool = False,
) -> Judgement:
    """Read and judge a whole derivation (raises ClaimError, an InputError, for unreadable input);
    ``batched``: a batch form such as X^T(A - P)/N."""
    model = get_model(model) if isinstance(model, str) else model
    classes = 1 if model.output_index is None else classes
    written = read(text, model, wrt, classes, features, lets, batched)
    return judge(written, model, assume, classes, features)


def judge(written: Written, model: Model, assume: bool, classes: int, features: int) -> Judgement:
    """Every step and every line of ``written`` against the one before and against the truth."""
    truth = written.truth(model)
    judged = []
    for line in written.lines:
        steps = tuple(
            _step(a, b, written, model, assume, classes, features) for a, b in zip(line.sides, line.sides[1:])
        )
        target = line.sides[0] if line.aside else Side(truth, truth)  # H = ..., dH/dz_j = ...: against their own
        to_truth = _step(line.sides[-1], target, written, model, assume, classes, features)
        judged.append(LineVerdict(line, steps, to_truth.kind != WRONG, to_truth.kind == USES_ASSUMPTION))
    wrong = next(((v, s) for v in judged for s, pair in zip(v.steps, _pairs(v.line)) if s.kind == WRONG), None)
    why = missing = found = None
    if wrong is not None:
        verdict, step = wrong
        before, after = _pairs(verdict.line)[verdict.steps.index(step)]
        earlier = _compared_with(verdict.line, verdict.steps.index(step))
        why = explain_step(before, after, written, model, classes, features, assume, earlier)
        missing = difference(before.expr, after.expr, model, assume)
        found = counterexample(before.expr, after.expr, written, model, classes, features, step.mismatch)
    shown = truth if not assume else written.truth(model, assume=True)
    return Judgement(written, model, assume, shown, tuple(judged), why, missing, found, classes, features)


def _compared_with(line: Line, step: int) -> str:
    """What a line's ``step``-th equals sign compares with: the line before, its own left-hand side, the side before."""
    if step > 0:
        return "the side before"
    return "the left-hand side" if line.fresh else "the line before"


def _pairs(line: Line) -> list[tuple[Side, Side]]:
    return list(zip(line.sides, line.sides[1:]))


def _step(
    before: Side, after: Side, written: Written, model: Model, assume: bool, classes: int, features: int
) -> StepVerdict:
    """Does ``before = after`` hold: for any labels, only for labels summing to one, or not?"""
    if before.transposed != after.transposed:
        return StepVerdict(WRONG, None, False)  # the same entries in the transposed layout
    defined = model.label_definition is not None  # smoothed labels sum to one by their definition
    any_labels = _mismatch(before.expr, after.expr, written, model, defined, classes, features)
    if any_labels is None:
        return StepVerdict(HOLDS, None, _symbolic(before.expr, after.expr, model, defined))
    normalised = _mismatch(before.expr, after.expr, written, model, True, classes, features)
    if normalised is None and model.assumptions:
        kind = USES_ASSUMPTION if assume else WRONG
        return StepVerdict(kind, any_labels, _symbolic(before.expr, after.expr, model, True), not assume)
    return StepVerdict(WRONG, normalised or any_labels, False)


def _mismatch(a: sp.Expr, b: sp.Expr, written: Written, model: Model, normalised: bool, classes: int, features: int):
    """The worst entry where a and b differ at random points (all entries at K, d, a sample at K + 1, d + 1)."""
    sizes = [(classes, features)] if written.concrete else sizes_of(model, classes, features)
    for (k, d), sample in zip(sizes, (None, SAMPLE)):
        found = differ(b, a, written, model, normalised, k, d, sample=sample)
        if found is not None:
            return found
    return None


def _symbolic(a: sp.Expr, b: sp.Expr, model: Model, normalised: bool) -> bool:
    """Whether the engine's rules also show a = b (only for expressions small enough to reduce quickly;
    never for a batch form, whose lines are compared by their numbers)."""
    if a.has(batch.N) or b.has(batch.N) or sp.count_ops(a) + sp.count_ops(b) > SYMBOLIC_OPS:
        return False
    return normal_form(a - b, model, normalised) == 0


def as_dict(judgement: Judgement) -> dict:
    """Plain values for JSON: the verdict, the first wrong line, and every line as it was read and judged."""
    found = judgement.counterexample
    return {
        "verdict": judgement.verdict,
        "exit_code": judgement.exit_code,
        "first_wrong_line": judgement.first_wrong_line,
        "wrt": text(judgement.written.wrt),
        "model": judgement.model.name,
        "assumption": "labels_sum_to_one" if judgement.assume and judgement.model.assumptions else None,
        "truth": text(judgement.truth),
        "lines": [_line_dict(v) for v in judgement.lines],
        "why": judgement.why,
        "lost": text(judgement.missing) if judgement.missing is not None else None,
        "counterexample": found.as_dict() if found else None,
    }


def _line_dict(verdict: LineVerdict) -> dict:
    return {
        "number": verdict.line.number,
        "text": verdict.line.text,
        "read_as": " = ".join(text(side.raw) for side in verdict.line.sides[1:]),
        "value": text(verdict.line.sides[-1].expr),
        "equal_to_previous": verdict.holds,
        "equal_to_truth": verdict.equal_to_truth,
        "uses_assumption": verdict.uses_assumption,
    }
