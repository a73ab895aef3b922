"""Claims: a formula for dH/dW_ij or dH/db_j typed by a person, read into the engine's symbols.

:func:`parse` screens the text (:mod:`derive.claims.bounds`), splits off a
left-hand side, reads the right-hand side as plain notation
(:mod:`derive.claims.plain`) or LaTeX (:mod:`derive.claims.latex`, which writes
plain notation), and checks that every index is bound.  Nothing the user types
is ever evaluated: no ``eval``, ``compile``, ``sympify`` or ``parse_expr``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from derive.claims.bounds import ClaimError, NotationError, screen, short, sizes, syntax_tree
from derive.claims.latex import from_latex
from derive.claims.plain import Reader
from derive.claims.vocabulary import CLASS, FEATURE, INDICES, SOFTMAX_VOCABULARY, Vocabulary, vocabulary
from derive.core import symbols as S


@dataclass(frozen=True)
class Claim:
    """A parsed claim: the text as typed, the SymPy expression and what it differentiates by."""

    text: str
    expr: sp.Expr
    wrt: sp.Indexed
    notation: str
    concrete: bool


def parse(
    text: str, wrt: str | None = None, latex: bool | None = None, classes: int = 2, features: int = 2, model=None
) -> Claim:
    """Read ``text`` (plain or LaTeX) as a claim for dH/d(wrt) at K = classes, d = features.

    ``latex=None`` detects LaTeX (a backslash or a brace, or plain notation
    failing where implicit multiplication would succeed).  Raises
    :class:`ClaimError` for anything that is not a bounded formula in the
    vocabulary of ``model`` (:func:`vocabulary`; None: softmax regression).
    """
    words = vocabulary(model)
    sizes(classes, features)
    text = screen(text)
    lhs, body = split_equation(text)
    if "lam" in words.scalars:
        body = re.sub(r"(?<![A-Za-z\\])lambda(?![A-Za-z0-9_])", "lam", body)
    if latex or (latex is None and re.search(r"[\\{}]", text)):
        notation, plain = "latex", from_latex(body)
    else:
        notation, plain = plain_or_latex(body, words)
    reader = Reader(classes, features, words)
    expr = reader.read(plain)
    parameter = parameter_of(lhs, wrt, notation, reader)
    expr = bound_indices(expr, parameter)
    return Claim(text.strip(), expr, parameter, notation, reader.concrete)


def split_equation(text: str) -> tuple[str | None, str]:
    """'lhs = rhs' -> (lhs, rhs), splitting at an '=' outside brackets (not the one of \\sum_{k=1})."""
    level, cuts = 0, []
    for position, char in enumerate(text):
        level += (char in "([{") - (char in ")]}")
        if char == "=" and level == 0:
            cuts.append(position)
    if len(cuts) > 1:
        raise ClaimError("at most one '=' (an optional left-hand side dH/dW_ij = ...)")
    if not cuts:
        return None, text
    lhs, rhs = text[: cuts[0]], text[cuts[0] + 1 :]
    if not rhs.strip():
        raise ClaimError("nothing after '='")
    return lhs.strip(), rhs


def plain_or_latex(text: str, words: Vocabulary = SOFTMAX_VOCABULARY) -> tuple[str, str]:
    """Plain notation, or LaTeX when plain fails on notation LaTeX reads (e.g. -P_j(1-a_j)x_i)."""
    plain = text.replace("^", "**")
    try:
        Reader(1, 1, words).check_calls(syntax_tree(plain))
        return "plain", plain
    except NotationError as plain_error:
        try:
            return "latex", from_latex(text)
        except ClaimError:
            raise plain_error from None


def bound_indices(expr: sp.Expr, parameter: sp.Indexed) -> sp.Expr:
    """Every index must be bound by a sum, or be a free index of the parameter (i, j for W_ij)."""
    free = {s for s in expr.free_symbols if s in {sym for sym, _ in INDICES.values()}}
    extra = free - set(getattr(parameter, "indices", ()))
    if extra:
        names = ", ".join(sorted(map(str, extra)))
        allowed = " and ".join(map(str, getattr(parameter, "indices", ()))) or "no index"
        raise ClaimError(
            f"index {names} is not bound by a sum (a formula for dH/d{S.key(parameter)} may use only {allowed} freely)"
        )
    return expr


def parameter_of(lhs: str | None, wrt: str | None, notation: str, reader: Reader) -> sp.Indexed:
    """The parameter the claim differentiates by: --wrt, checked against the left-hand side if given."""
    table = reader.words.parameters
    chosen = _parameter(wrt, table) if wrt is not None else None
    if lhs is None:
        return chosen if chosen is not None else next(iter(table.values()))
    named = lhs_parameter(lhs, notation, reader)
    if chosen is not None and chosen != named:
        raise ClaimError(f"the left-hand side differentiates by {S.key(named)} but --wrt is {wrt}")
    return named


def _parameter(wrt: str, table: dict) -> sp.Basic:
    if wrt not in table:
        raise ClaimError(f"--wrt must be {' or '.join(table)} for this model, not {short(wrt)!r}")
    return table[wrt]


_PLAIN_LHS = re.compile(r"^d\s*H\s*/\s*d\s*(?P<name>.+)$")
_LATEX_LHS = re.compile(
    r"^(?:\\frac\s*\{\s*\\partial\s*H\s*\}\s*\{\s*\\partial\s*(?P<a>.+)\}|\\partial\s*H\s*/\s*\\partial\s*(?P<b>.+))$"
)


def lhs_parameter(lhs: str, notation: str, reader: Reader) -> sp.Indexed:
    """'dH/dW_ij' or '\\frac{\\partial H}{\\partial W_{i,j}}' -> W[i, j] (only W_ij and b_j)."""
    plain, latex = _PLAIN_LHS.match(lhs), _LATEX_LHS.match(lhs)
    name = plain.group("name") if plain else latex and (latex.group("a") or latex.group("b"))
    if not name:
        raise ClaimError("the left-hand side must be dH/dW_ij, dH/db_j or \\frac{\\partial H}{\\partial W_{i,j}}")
    plain = from_latex(name) if "\\" in name or "{" in name or notation == "latex" else name
    value = Reader(reader.ranges[CLASS], reader.ranges[FEATURE], reader.words).read(plain)
    for parameter in reader.words.parameters.values():
        if value == parameter:
            return parameter
    shown = " or ".join(_text(p) for p in reader.words.parameters.values())
    raise ClaimError(f"the left-hand side must differentiate by {shown}, not {short(name.strip())}")


def _text(parameter: sp.Basic) -> str:
    if isinstance(parameter, sp.Indexed):
        return f"{parameter.base}_{''.join(map(str, parameter.indices))}"
    return str(parameter)
