"""User-written losses: read by the claims' whitelist parser, differentiated by SymPy, reduced by named rules.

``derive gradient --expr "LOSS" --wrt w,b`` goes through three stages, each an
immutable value:

    text --parse_loss--> Loss (SymPy expression, parameters) --gradient--> LossGradient (steps)

* parsing is :mod:`derive.claims`' reader with a free vocabulary (any short name
  is a real scalar, ``z_k`` an indexed quantity, the functions of
  :data:`derive.claims.vocabulary.LOSS_FUNCTIONS`, ``softmax``, sums over an index): no
  eval, the same bounds, one-line errors;
* SymPy differentiates; the engine's :func:`derive.core.derivation.reduce` applies the
  rules of :data:`LOSS_RULES` in order, each recorded as a step when it changes
  the expression;
* the rules recognise the sigmoid (exp(-u)/(1 + exp(-u))**2 -> sigma(u)(1 - sigma(u))),
  the softmax (exp(z_j)/Sum_m exp(z_m) -> a_j) and tanh (sinh/cosh).

:func:`numeric_check` compares every derivative with central finite differences
of the loss at random points.  Nothing here prints or renders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.claims import vocabulary
from derive.claims.builder import Builder
from derive.core import rules
from derive.core import symbols as S
from derive.core.derivation import MAIN, Step, reduce
from derive.core.errors import InputError
from derive.core.primitives import indexed_softmax, sigmoid, softmax
from derive.core.strategies import Rule, chain
from derive.notation import bounds
from derive.notation.syntax import tree
from derive.verify.evaluate import number

#: at most this many parameters after --wrt
MAX_PARAMETERS = 8
#: a derivative larger than this (SymPy operations) is not simplified
MAX_OPERATIONS = 4000
#: K and d at which losses with sums are checked numerically
CHECK_SIZE = 3
#: single letters that are indices, not scalars, in a loss
INDEX_LETTERS = {"i", "j", "k", "l", "m"}


class LossError(InputError):
    """A loss or --wrt that cannot be read: exit 2 with a one-line message."""


# ---------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Loss:
    """A loss as typed and as read, and the parameters to differentiate by."""

    text: str
    expr: sp.Expr
    parameters: tuple[sp.Basic, ...]


def parse_loss(text: str, wrt: str) -> Loss:
    """Read ``text`` and the comma-separated ``wrt`` with the claims' whitelist reader.

    Raises :class:`LossError` for anything that is not a bounded formula.
    """
    try:
        expr = read(text)
        parameters = tuple(parameter(item, expr) for item in _items(wrt))
    except bounds.ClaimError as err:
        raise LossError(str(err).replace("the claim", "the loss")) from None
    if len(set(parameters)) != len(parameters):
        raise LossError("--wrt names a parameter twice")
    return Loss(text.strip(), expr, parameters)


def read(text: str) -> sp.Expr:
    """The loss, read by the claims' grammar with the free vocabulary (any short name is a real scalar)."""
    screened = bounds.screen(text)
    if "=" in screened:
        raise bounds.ClaimError("write the loss alone, without '='")
    expr = _expression(screened)
    _no_index_scalars(expr)
    free = sorted(str(q) for q in expr.free_symbols if q in _index_symbols())
    if free:
        raise bounds.ClaimError(f"index {', '.join(free)} is not bound by a sum: a loss is one number")
    if not expr.free_symbols:
        raise bounds.ClaimError("the loss is a constant: it has no symbol to differentiate by")
    return expr


def _expression(text: str) -> sp.Expr:
    """One formula of the free vocabulary (one line, no '=')."""
    parsed = tree(text)
    lines = [line for line in parsed.children if hasattr(line, "data")]
    sides = [side for side in lines[0].children if hasattr(side, "data")] if len(lines) == 1 else []
    if len(sides) != 1:
        raise bounds.ClaimError("write one formula")
    return Builder(CHECK_SIZE, CHECK_SIZE, vocabulary.LOSS_VOCABULARY).expression(sides[0])


def _index_symbols() -> set:
    return {symbol for symbol, _ in vocabulary.INDICES.values()}


def _no_index_scalars(expr: sp.Expr) -> None:
    for q in expr.free_symbols:
        if q.name in INDEX_LETTERS and q not in _index_symbols():
            raise bounds.ClaimError(
                f"{q.name} is an index letter (i, j, k, l, m): use it in z_{q.name} or a sum, not alone"
            )


def _items(wrt: str) -> list[str]:
    if not isinstance(wrt, str) or not wrt.strip():
        raise bounds.ClaimError("--wrt lists the parameters, e.g. --wrt w,b")
    items = [item.strip() for item in bounds.screen(wrt).split(",")]
    if len(items) > MAX_PARAMETERS:
        raise bounds.ClaimError(f"--wrt lists {len(items)} parameters, more than the limit {MAX_PARAMETERS}")
    return items


def parameter(item: str, loss: sp.Expr) -> sp.Basic:
    """One --wrt entry: a scalar name (w) or an indexed one with a free index (w_i, z_j)."""
    value = _expression(item) if item else None
    indexed = isinstance(value, sp.Indexed) and all(q in _index_symbols() for q in value.indices)
    if not (isinstance(value, sp.Symbol) or indexed) or value in _index_symbols():
        raise bounds.ClaimError(f"--wrt: {bounds.short(item)!r} is not a parameter name such as w, b or w_i")
    base = value.base if indexed else value
    if not (loss.has(base) if indexed else value in loss.free_symbols):
        raise bounds.ClaimError(f"--wrt: {bounds.short(item)} does not occur in the loss")
    return value


# ---------------------------------------------------------------- rules that name what they recognise


def _sigmoid_arguments(expr: sp.Expr) -> list[sp.Expr]:
    """u for every 1 + exp(-u) in expr: the denominators a sigmoid leaves behind."""
    found = []
    for add in expr.atoms(sp.Add):
        ones = [t for t in add.args if t == 1]
        exps = [t for t in add.args if isinstance(t, sp.exp)]
        if len(add.args) == 2 and ones and exps:
            found.append(-exps[0].args[0])
    return sorted(set(found), key=sp.default_sort_key)


def name_sigmoid(expr: sp.Expr) -> sp.Expr:
    """exp(-u) -> (1 - sigma(u))/sigma(u) where 1 + exp(-u) occurs; cancelled: exp(-u)/(1 + exp(-u))**2 -> sigma(u)(1 - sigma(u))."""
    for u in _sigmoid_arguments(expr):
        s = sp.Dummy("s", positive=True)
        held = expr
        for power in expr.atoms(sp.exp):
            n = _integer_combination(power.args[0], [-u])
            held = held.xreplace({power: ((1 - s) / s) ** n[0]}) if n is not None else held
        expr = sp.factor_terms(sp.cancel(sp.together(held))).xreplace({s: sigmoid(u)})
    return expr


def _softmax_denominators(expr: sp.Expr) -> list[sp.Expr]:
    """exp(u) + exp(v) + ... (two or more exponentials) and Sum_m exp(z_m) in expr."""
    adds = [a for a in expr.atoms(sp.Add) if len(a.args) >= 2 and all(isinstance(t, sp.exp) for t in a.args)]
    sums = [s for s in expr.atoms(sp.Sum) if isinstance(s.function, sp.exp) and len(s.limits) == 1]
    return sorted(adds, key=sp.default_sort_key) + sorted(sums, key=sp.default_sort_key)


def name_softmax(expr: sp.Expr) -> sp.Expr:
    """exp(z_j)/Sum_m exp(z_m) -> a_j; exp(u)/(exp(u) + exp(v)) -> softmax(u, v): numerators named, denominators cancel."""
    for total in _softmax_denominators(expr):
        expr = _name_listed(expr, total) if isinstance(total, sp.Add) else _name_indexed(expr, total)
    return expr


def _name_indexed(expr: sp.Expr, total: sp.Sum) -> sp.Expr:
    """exp(z_q) -> a_q * Sum_m exp(z_m), the exact identity; the sums then cancel."""
    index, term = total.limits[0][0], total.function.args[0]
    if not (isinstance(term, sp.Indexed) and term.indices == (index,)):
        return expr
    named = S.a if term.base == S.z else sp.IndexedBase(f"softmax_{term.base}")
    return rules.name_quantity(named[index], sp.exp(term) / total, index, "")(expr)


def _name_listed(expr: sp.Expr, total: sp.Add) -> sp.Expr:
    """exp(n_1 u_1 + n_2 u_2 ...) -> prod (s_q D)^n_q with D = exp(u_1) + exp(u_2) + ...; kept only if D cancels."""
    args = [t.args[0] for t in total.args]
    shares = [sp.Dummy(f"s{n}") for n in range(len(args))]
    hole = sp.Dummy("total", positive=True)
    held = expr.xreplace({total: hole})
    for power in held.atoms(sp.exp):
        counts = _integer_combination(power.args[0], args)
        if counts is not None:
            held = held.xreplace({power: sp.Mul(*((s * hole) ** n for s, n in zip(shares, counts)))})
    held = sp.cancel(sp.together(held))
    if held.has(hole) or held.has(*(sp.exp(u) for u in args)):
        return expr
    named = {s: softmax(u, *(v for v in args if v != u)) for s, u in zip(shares, args)}
    return sp.factor_terms(held).xreplace(named)


def _integer_combination(argument: sp.Expr, args: list[sp.Expr]) -> list[int] | None:
    """[n_1, n_2 ...] with argument = n_1 u_1 + n_2 u_2 + ..., integers, or None."""
    if len(args) == 1:
        ratio = sp.cancel(argument / args[0])
        return [int(ratio)] if ratio.is_Integer else None
    symbols = [sp.Dummy() for _ in args]
    counts = sp.Poly(argument.xreplace(dict(zip(args, symbols))), *symbols) if argument.free_symbols else None
    try:
        linear = counts is not None and counts.total_degree() <= 1 and counts.coeff_monomial(1) == 0
    except sp.PolynomialError:
        return None
    if not linear:
        return None
    values = [counts.coeff_monomial(q) for q in symbols]
    if not all(v.is_Integer for v in values) or any(v.free_symbols for v in counts.coeffs()):
        return None
    return [int(v) for v in values]


def name_tanh(expr: sp.Expr) -> sp.Expr:
    """sinh(u)/cosh(u) -> tanh(u)."""
    return expr.replace(lambda e: isinstance(e, sp.sinh), lambda e: sp.tanh(e.args[0]) * sp.cosh(e.args[0]))


def named_first(expr: sp.Expr) -> sp.Expr:
    """-y + sigma(u) -> sigma(u) - y: the named function first, as textbooks write (sigma - y) x."""

    def first(add: sp.Add) -> sp.Expr:
        return rules.WrittenSum.written(*sorted(add.args, key=lambda t: not t.has(*NAMED)))

    def mixed(e: sp.Basic) -> bool:
        # 1 - sigma(u) stays as it prints; sigma(u) - y is reordered
        return (
            isinstance(e, sp.Add)
            and any(t.has(*NAMED) for t in e.args)
            and any(not t.has(*NAMED) and not t.is_Number for t in e.args)
        )

    return expr.replace(mixed, first)


_u = sp.Symbol("u")
NAMING = chain(
    Rule("name_sigmoid", "name the sigmoid: {0} = {1}, so exp(-u) = (1 - {0})/{0}; common factors cancel",
         name_sigmoid, (sigmoid(_u), sigmoid(_u).rewrite(sp.exp))),
    Rule("name_softmax", "name the softmax: {0} = {1}, and softmax(u, v, ...) = exp(u)/(exp(u) + exp(v) + ...)",
         name_softmax, (S.a[S.j], indexed_softmax(S.z, S.j, S.m, S.K))),
    Rule("name_tanh", "{0} = {1}", name_tanh, (sp.sinh(_u) / sp.cosh(_u), sp.tanh(_u))),
)  # fmt: skip
#: what the naming rules produce
NAMED = (sigmoid, softmax, S.a, sp.tanh)

#: the order in which a user loss's derivative is reduced
#: (no general cancel: it would rewrite 1 + exp(-u) as (exp(u) + 1)/exp(u) before the sigmoid is named,
#: and the naming rules cancel on their own)
LOSS_RULES = chain(
    rules.COLLAPSE,
    NAMING,
    rules.RULES["factor"],
    rules.RULES["index_in_range"],
    Rule("named_first", "write the named function first, as the textbook does", named_first),
)


# ---------------------------------------------------------------- differentiation


@dataclass(frozen=True)
class LossGradient:
    """dL/d(parameter) of a user loss: the steps from SymPy's derivative to the named closed form."""

    loss: Loss
    wrt: sp.Basic
    steps: tuple[Step, ...]

    @property
    def lhs(self) -> sp.Derivative:
        return self.steps[-1].lhs

    @property
    def result(self) -> sp.Expr:
        return self.steps[-1].rhs


def gradient(loss: Loss, wrt: sp.Basic) -> LossGradient:
    """SymPy's derivative of the loss by ``wrt``, reduced by :data:`LOSS_RULES`."""
    lhs = sp.Derivative(S.L, wrt)
    raw = sp.diff(loss.expr, wrt)
    first = Step(
        "differentiate", lhs, raw, "SymPy differentiates the loss {0} with respect to {1}", MAIN, (loss.expr, wrt)
    )
    if sp.count_ops(raw) > MAX_OPERATIONS:
        raise LossError(f"the derivative by {wrt} has more than {MAX_OPERATIONS} operations: too large to simplify")
    return LossGradient(loss, wrt, (first, *reduce(lhs, raw, LOSS_RULES)))


def gradients(text: str, wrt: str) -> tuple[LossGradient, ...]:
    """Parse, then one :class:`LossGradient` per --wrt parameter."""
    loss = parse_loss(text, wrt)
    return tuple(gradient(loss, p) for p in loss.parameters)


# ---------------------------------------------------------------- numbers


def elementary(expr: sp.Expr, indices: dict | None = None) -> sp.Expr:
    """expr with sigma, softmax and a_j written out and sums written out at K = d = CHECK_SIZE."""
    expr = expr.rewrite(sp.exp) if expr.has(sigmoid, softmax) else expr
    expr = expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base == S.a,
                        lambda e: indexed_softmax(S.z, e.indices[0], S.m, S.K))  # fmt: skip
    return S.Explicit(CHECK_SIZE, CHECK_SIZE)(expr, **{str(q): v for q, v in (indices or {}).items()})


def numeric_check(result: LossGradient, points: int = 3, seed: int = 0, h: float = 1e-6) -> float:
    """The largest relative gap between the derivative and a central finite difference, at random points.

    Both are written out at K = d = CHECK_SIZE (:func:`elementary`) and computed by the one evaluator.
    """
    rng = np.random.default_rng(seed)
    indices = {q: int(rng.integers(1, CHECK_SIZE + 1)) for q in getattr(result.wrt, "indices", ())}
    loss, derivative = elementary(result.loss.expr), elementary(result.result, indices)
    variable = elementary(result.wrt, indices)
    names = sorted(loss.free_symbols | derivative.free_symbols, key=str)
    worst, tried = 0.0, 0
    while points and tried < 50:
        tried += 1
        env = dict(zip(names, rng.uniform(-1.5, 1.5, len(names))))
        gap = _relative_gap(loss, derivative, env, variable, h)
        if gap is None:
            continue  # outside the loss's domain (log of a negative number): another point
        worst = max(worst, gap)
        points -= 1
    if points:
        raise LossError("the loss is not defined at random points: no numeric check possible")
    return worst


def _relative_gap(loss: sp.Expr, derivative: sp.Expr, env: dict, variable: sp.Symbol, h: float) -> float | None:
    """|derivative - central difference of the loss| / max(1, |difference|) at env; None where undefined."""
    got = number(derivative, env)
    fd = (number(loss, {**env, variable: env[variable] + h}) - number(loss, {**env, variable: env[variable] - h})) / (
        2 * h
    )
    if not (math.isfinite(got) and math.isfinite(fd)):
        return None
    return abs(got - fd) / max(1.0, abs(fd))
