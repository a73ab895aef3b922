"""Claims: a formula for dH/dW_ij or dH/db_j typed by a person, read into the engine's symbols.

:func:`parse` screens the text (:mod:`derive.notation.bounds`), parses it with the one grammar of
plain notation and LaTeX (:mod:`derive.notation.syntax`), builds the right-hand side from the
engine's own symbols (:mod:`derive.claims.builder`), reads the optional left-hand side
(``dH/dW_ij``, ``\\frac{\\partial H}{\\partial W_{i,j}}``) and checks that every index is bound.
Nothing the user types is ever evaluated: no ``eval``, ``compile``, ``sympify`` or ``parse_expr``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import lark
import sympy as sp

from derive.claims.builder import Builder
from derive.claims.derivatives import resolve
from derive.claims.vocabulary import INDICES, vocabulary
from derive.core import symbols as S
from derive.core.models import get_model
from derive.notation.bounds import ClaimError, screen, short, sizes
from derive.notation.syntax import tree


@dataclass(frozen=True)
class Claim:
    """A parsed claim: the text as typed, the SymPy expression and what it differentiates by."""

    text: str
    expr: sp.Expr
    wrt: sp.Indexed
    notation: str
    concrete: bool


def parse(
    text: str,
    wrt: str | None = None,
    latex: bool | None = None,
    classes: int = 2,
    features: int = 2,
    model=None,
    lets: dict | None = None,
) -> Claim:
    """Read ``text`` (plain or LaTeX) as a claim for dH/d(wrt) at K = classes, d = features.

    ``latex`` only names the notation in reports (None: detected from backslashes, braces and
    juxtaposed factors); one grammar reads both.  Raises :class:`ClaimError` for anything that
    is not a bounded formula in the vocabulary of ``model`` (None: softmax regression), with the
    aliases ``lets`` ({"p": "a"}); :class:`ReadAsDerivation` for a formula that the derivation
    reader judges (one class fixed, dH/dW_i1 = ...; a matrix form, \\nabla_W H = ...).
    """
    words = vocabulary(model).with_aliases(lets or {})
    sizes(classes, features)
    text = screen(text)
    parsed = tree(text)
    lines = [child for child in parsed.children if isinstance(child, lark.Tree)]
    if len(lines) != 1:
        raise ClaimError("one formula, on one line (a whole derivation goes to derive check --file)")
    sides = [child for child in lines[0].children if isinstance(child, lark.Tree)]
    if len(sides) > 2 or len(lines[0].children) > 3:
        raise ClaimError("at most one '=' (an optional left-hand side dH/dW_ij = ...)")
    if not sides or (len(sides) == 1 and lines[0].children[0] is None):
        raise ClaimError("nothing after '='" if sides == [] or lines[0].children[0] is None else "the claim is empty")
    builder = Builder(classes, features, words)
    if len(sides) == 2 and matrix_lhs(builder, sides[0]):
        raise ReadAsDerivation("the left-hand side is a matrix form: judged as a derivation")
    expr = resolve(builder.expression(sides[-1]), model or get_model("softmax"))
    parameter = parameter_of(sides[0] if len(sides) == 2 else None, wrt, builder)
    notation = "latex" if latex or _looks_latex(text, parsed) else "plain"
    return Claim(text.strip(), bound_indices(expr, parameter), parameter, notation, builder.concrete)


def _looks_latex(text: str, parsed: lark.Tree) -> bool:
    """LaTeX: a backslash or a brace, or factors written side by side (2x_i, P_j(1 - a_j))."""
    return bool(re.search(r"[\\{}]", text)) or any(_juxtaposed(node) for node in parsed.iter_subtrees())


def _juxtaposed(node: lark.Tree) -> bool:
    if node.data == "postfix":
        return any(isinstance(c, lark.Tree) and c.data == "applied" for c in node.children[1:]) and not _callable(node)
    if node.data != "product":
        return False
    kinds = ["op" if isinstance(c, lark.Tree) and c.data == "mulop" else "factor" for c in node.children]
    return any(a == b == "factor" for a, b in itertools.pairwise(kinds))


def _callable(node: lark.Tree) -> bool:
    head = node.children[0]
    name = str(head.children[0]) if isinstance(head, lark.Tree) and head.data == "name" else ""
    return name in {"exp", "log", "ln", "sigmoid", "sigma", "softmax", "sum", "Sum", "tanh", "cosh", "sinh", "sqrt"}


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


class ReadAsDerivation(ClaimError):
    """dH/dW_i1 = ... (one class) or \\nabla_W H = x(a - P)^T (a matrix form): a formula that the derivation
    reader judges (:mod:`derive.claims.written`)."""


def matrix_lhs(builder: Builder, side) -> bool:
    r"""Whether a left-hand side is a matrix form: \nabla_W H, \frac{\partial H}{\partial W}."""
    saved, builder.matrix = builder.matrix, True
    try:
        first = builder.expression(side)
    except ClaimError:
        return False
    finally:
        builder.matrix = saved
    return isinstance(first, sp.Derivative) and isinstance(first.variables[0], sp.MatrixExpr)


def parameter_of(lhs, wrt: str | None, builder: Builder) -> sp.Indexed:
    """The parameter the claim differentiates by: --wrt, checked against the left-hand side if given."""
    table = builder.words.parameters
    chosen = _parameter(wrt, table) if wrt is not None else None
    if lhs is None:
        return chosen if chosen is not None else next(iter(table.values()))
    named = lhs_parameter(lhs, builder)
    if chosen is not None and chosen != named:
        raise ClaimError(f"the left-hand side differentiates by {S.key(named)} but --wrt is {wrt}")
    return named


def _parameter(wrt: str, table: dict) -> sp.Basic:
    if wrt not in table:
        raise ClaimError(f"--wrt must be {' or '.join(table)} for this model, not {short(wrt)!r}")
    return table[wrt]


def lhs_parameter(lhs, builder: Builder) -> sp.Indexed:
    """dH/dW_ij or \\frac{\\partial H}{\\partial W_{i,j}} -> W[i, j] (a parameter of the model)."""
    value = builder.expression(lhs)
    shown = " or ".join(_text(p) for p in builder.words.parameters.values())
    if not (isinstance(value, sp.Derivative) and value.expr == S.H and len(value.variables) == 1):
        raise ClaimError(
            f"the left-hand side must be dH/d{shown.replace(' or ', ', dH/d')} or \\frac{{\\partial H}}{{\\partial ...}}"
        )
    (variable,) = value.variables
    for parameter in builder.words.parameters.values():
        if variable == parameter:
            return parameter
    if general_parameter(variable, builder.words.parameters.values()) is not None:
        raise ReadAsDerivation(f"the left-hand side names one class ({short(str(variable))}): judged as a derivation")
    raise ClaimError(f"the left-hand side must differentiate by {shown}, not {short(str(variable))}")


def _text(parameter: sp.Basic) -> str:
    if isinstance(parameter, sp.Indexed):
        return f"{parameter.base}_{''.join(map(str, parameter.indices))}"
    return str(parameter)


def general_parameter(named: sp.Basic, parameters) -> sp.Basic | None:
    """The parameter ``named`` is, or an entry of: W_ij itself, or W_ij for W_i1 (a class fixed); None if neither."""
    for parameter in parameters:
        if named == parameter:
            return parameter
        if isinstance(named, sp.Indexed) and isinstance(parameter, sp.Indexed) and named.base == parameter.base:
            pairs = zip(named.indices, parameter.indices)
            if all(a == b or (a.is_Integer and not b.is_Integer) for a, b in pairs):
                return parameter
    return None
