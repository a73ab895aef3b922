r"""A whole derivation as a person wrote it: lines, and the sides of each line's equals signs.

``\begin{align} \frac{\partial H}{\partial W_{i,j}} &= ... \\ &= ... \end{align}`` (or plain lines,
one per text line) is read with the one grammar (:mod:`derive.notation.syntax`): each line is a
chain ``A = B = C`` whose first side may be empty (the ``&=`` of a continued line).  The first
line's left-hand side, ``\frac{\partial H}{\partial W_{i,j}}``, ``\partial H / \partial W_{ij}``
or ``dH/dW_ij``, says what is derived (``--wrt`` otherwise).  Every side is built from the
engine's symbols under the model's vocabulary and the writer's aliases (``--let p=a``), and its
derivative operators are given their meaning by the model (:mod:`derive.claims.derivatives`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import lark
import sympy as sp

from derive.claims import batch
from derive.claims.builder import Builder
from derive.claims.claim import bound_indices, general_parameter, matrix_lhs
from derive.claims.derivatives import resolve
from derive.claims.matrices import Layout, held_replace, index_form, is_matrix, parameter_of
from derive.claims.vocabulary import vocabulary
from derive.core import symbols as S
from derive.core.derivation import derive
from derive.core.models import Model
from derive.notation.bounds import MAX_DERIVATION, MAX_LINES, ClaimError, screen, sizes
from derive.notation.syntax import tree
from derive.printing.text import text


@dataclass(frozen=True)
class Side:
    """One side of an equals sign: as built (derivatives written, not taken) and as the model means it
    (a matrix form as its entry (i, j); ``transposed`` when it had the transposed shape)."""

    raw: sp.Expr
    expr: sp.Expr
    transposed: bool = False


@dataclass(frozen=True)
class Line:
    """A line of the derivation: its number (1-based), its text, and its sides (a continued line's first is
    the previous line's last, so every line holds at least one step)."""

    number: int
    text: str
    sides: tuple[Side, ...]
    fresh: bool = True  # the line has its own left-hand side (else its first side is the previous line's last)
    #: the line states something else than the derivative derived: the loss written out (H = -Sum_k P_k log a_k) or
    #: an intermediate result (dH/dz_j = a_j - P_j); it is judged against its own left-hand side, not the truth
    aside: bool = False


@dataclass(frozen=True)
class Written:
    """The derivation: what it differentiates by, its lines, and whether it names concrete indices."""

    text: str
    wrt: sp.Basic  # W_ij, or W_i1 when the derivation names a class
    lines: tuple[Line, ...]
    concrete: bool
    lhs: bool  # the first line begins with the derivative itself (dH/dW_ij = ...)
    parameter: sp.Basic = None  # the model's parameter (W_ij) that wrt is an entry or a column of
    batch: bool = False  # a batch form (X^T(A - P)/N): the loss is the mean over a batch's rows

    def truth(self, model: Model, assume: bool = False) -> sp.Expr:
        """The engine's derivative by ``wrt`` (its entries fixed where the derivation fixes them)."""
        general = self.parameter if self.parameter is not None else self.wrt
        fixed = {q: n for q, n in zip(getattr(general, "indices", ()), getattr(self.wrt, "indices", ())) if q != n}
        result = derive(model, general, assume=assume).result
        result = held_replace(result, fixed) if fixed else result
        return batch.mean_over_samples(result) if self.batch else result

    @property
    def steps(self) -> list[tuple[Line, Side, Side]]:
        """(the line, the side before the equals sign, the side after it) for every equals sign."""
        return [(line, a, b) for line in self.lines for a, b in zip(line.sides, line.sides[1:])]


def read(
    text: str,
    model: Model,
    wrt: str | None = None,
    classes: int = 2,
    features: int = 2,
    lets: dict | None = None,
    batched: bool = False,
) -> Written:
    """Read a whole derivation (bounded: MAX_DERIVATION characters, MAX_LINES lines); ClaimError says where not.
    ``batched``: a batch form over N samples (:mod:`derive.claims.batch`)."""
    sizes(classes, features)
    text = _lines_of_plain_text(screen(text, MAX_DERIVATION, "the derivation"))
    parsed = tree(text)
    trees = [child for child in parsed.children if isinstance(child, lark.Tree)]
    trees = [line for line in trees if any(side is not None for side in line.children)]
    if len(trees) > MAX_LINES:
        raise ClaimError(f"the derivation has {len(trees)} lines, more than the limit {MAX_LINES}")
    words = vocabulary(model).with_aliases(lets or {})
    builder = Builder(classes, features, batch.vocabulary_of(words) if batched else words)
    if batched:
        batch.supports(model)
        builder.layout = batch.LAYOUT
    if batched and not (trees and _matrix_line(builder, trees[0])):
        raise ClaimError(r"--batch reads a matrix form: begin with \nabla_W H = ... (X is N x d, A and P are N x K)")
    built = []
    for number, line in enumerate(trees, 1):
        if line.children[0] is not None:  # a line with its own left-hand side says whether it is a matrix form
            builder.matrix = _matrix_line(builder, line)
        built.append(_sides(builder, line, number))
    wrt_symbol, general, derivative = _parameter(built, words, wrt)
    lhs = derivative is not None and bool(built[0]) and built[0][0] == derivative
    if batched and S.key(general) != S.W:
        raise ClaimError("--batch reads the batch form of the gradient by W, X^T(A - P)/N")
    truth = Written(text, wrt_symbol, (), False, lhs, general, batched).truth(model)
    lines, previous = [], None
    for number, (line, sides) in enumerate(zip(trees, built), 1):
        rows = builder.layout if batched else None
        try:
            made = [_side(raw, model, wrt_symbol, truth, _subject(raw, wrt_symbol), rows) for raw in sides]
        except ClaimError as err:
            raise ClaimError(f"line {number}: {err}") from None
        fresh = line.children[0] is not None or previous is None
        made = made if fresh else [previous, *made]
        if len(made) < 2 and number > 1:
            raise ClaimError(f"line {number} has no equals sign: each line of a derivation is '= ...'")
        aside = fresh and _names_something(made[0].raw) and not _subject(made[0].raw, wrt_symbol)
        lines.append(Line(number, _text(text, line), tuple(made), fresh, aside))
        previous = made[-1]
    if sum(len(line.sides) - 1 for line in lines) == 0:
        raise ClaimError("a derivation has at least one equals sign")
    concrete = builder.concrete or wrt_symbol != general
    return Written(text, wrt_symbol, tuple(lines), concrete, lhs, general, batched)


def _lines_of_plain_text(text: str) -> str:
    """Plain lines (no LaTeX line breaks): each text line is a line of the derivation."""
    if "\\\\" in text:
        return text
    rows = [row for row in text.splitlines() if row.strip()]
    return " \\\\ ".join(rows) if len(rows) > 1 else text


def _sides(builder: Builder, line: lark.Tree, number: int) -> list[sp.Expr]:
    sides = [side for side in line.children if isinstance(side, lark.Tree)]
    try:
        return [builder.expression(side) for side in sides]
    except ClaimError as err:
        raise ClaimError(f"line {number}: {err}") from None


def _matrix_line(builder: Builder, line: lark.Tree) -> bool:
    r"""Whether a line's left-hand side is a matrix form: \nabla_W H, \frac{\partial H}{\partial W}."""
    sides = [side for side in line.children if isinstance(side, lark.Tree)]
    return bool(sides) and matrix_lhs(builder, sides[0])


def _parameter(built: list[list[sp.Expr]], words, wrt: str | None) -> tuple[sp.Basic, sp.Basic, sp.Expr | None]:
    """(what the derivation differentiates by, the model's parameter it is an entry of, the left-hand side that
    says so): the first line's first side that is a derivative of H (dH/dW_ij, or dH/dW_i1 for class 1; a line
    before it may write out the loss), else --wrt."""
    table = words.parameters
    first = next((sides[0] for sides in built if sides and _by_a_parameter(sides[0], table.values())), None)
    named = first.variables[0] if first is not None else None
    if named is not None and is_matrix(named):
        named = parameter_of(named, table.values())
    general = general_parameter(named, table.values()) if named is not None else None
    if wrt is not None and wrt not in table:
        raise ClaimError(f"--wrt must be {' or '.join(table)} for this model, not {wrt!r}")
    chosen = table[wrt] if wrt is not None else None
    if named is not None and chosen is not None and general != chosen:
        raise ClaimError(f"line 1 differentiates by {S.key(named)} but --wrt is {wrt}")
    parameter = general or chosen or next(iter(table.values()))
    return (named or parameter), parameter, first


def _subject(side: sp.Expr, wrt: sp.Basic) -> bool:
    """Whether a side is what the derivation derives: dH/dW_ij, or the matrix form of it (\\nabla_W H)."""
    if not _of_the_loss(side):
        return False
    (variable,) = side.variables
    return variable == wrt or (is_matrix(variable) and variable.name == str(S.key(wrt)))


def _by_a_parameter(side: sp.Expr, parameters) -> bool:
    """dH/dW_ij, dH/dW_i1 or \\nabla_W H: a derivative of the loss by a parameter, an entry or its matrix."""
    if not _of_the_loss(side):
        return False
    (variable,) = side.variables
    if is_matrix(variable):
        return parameter_of(variable, parameters) is not None
    return general_parameter(variable, parameters) is not None


def _names_something(side: sp.Expr) -> bool:
    """A left-hand side that names a quantity: the loss H, or a derivative (of H, a_k, z_j ...)."""
    return side == S.H or isinstance(side, sp.Derivative)


def _of_the_loss(side: sp.Expr) -> bool:
    return isinstance(side, sp.Derivative) and side.expr == S.H and len(side.variables) == 1


def _side(raw: sp.Expr, model: Model, wrt: sp.Basic, truth: sp.Expr, first: bool, rows: Layout | None) -> Side:
    """A side as the model means it; the first line's dH/dW_ij itself is the engine's derivative (the truth).
    ``rows``: the layout of a batch form, whose sides are matrices of the batch."""
    if first:
        return Side(raw, truth)
    if rows is not None:
        if not is_matrix(raw) or raw.has(sp.Derivative):
            raise ClaimError(f"a batch form's lines are matrices of X, A, P, W and N, not {text(raw)}")
        entry, transposed = index_form(raw, wrt, rows)
        return Side(raw, entry, transposed)
    if is_matrix(raw):
        entry, transposed = index_form(raw, wrt)
        return Side(raw, bound_indices(_meant(entry, model), wrt), transposed)
    return Side(raw, bound_indices(_meant(raw, model), wrt))


def _meant(expr: sp.Expr, model: Model) -> sp.Expr:
    """Derivatives taken (:func:`resolve`), and the loss H itself written out as the model defines it."""
    return resolve(expr, model).xreplace({S.H: model.loss + model.penalty})


def _text(text: str, line: lark.Tree) -> str:
    meta = line.meta
    if getattr(meta, "empty", True):
        return ""
    shown = text[meta.start_pos : meta.end_pos]
    return re.sub(r"\s+", " ", shown.replace("&", "")).strip()
