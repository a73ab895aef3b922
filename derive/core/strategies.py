"""The rule type and the small combinators that apply rules, in the style of ``sympy.strategies``.

A :class:`Rule` is a named rewrite ``expr -> expr`` with a justification in
words.  Rules and the strategies built from them by :func:`chain` and
:func:`exhaust` share one calling convention: ``strategy(expr, log)`` returns
the new expression and, when ``log`` is a list, appends an :class:`Applied`
record for every rule that changed the expression.  That log is how the
derivation, the verdict's normal form, user losses and the code generator's
rewrites all record their steps.

>>> import sympy as sp
>>> x = sp.Symbol("x")
>>> expand = Rule("expand", "multiply out", sp.expand)
>>> factor = Rule("factor", "take the common factor out", sp.factor)
>>> result, applied = run(chain(expand, factor), (x + 1) ** 2 - 1)
>>> result, [a.rule.name for a in applied]
(x*(x + 2), ['expand', 'factor'])
>>> run(chain(factor, factor), x * (x + 2))[1]  # a rule that changes nothing leaves no record
()
>>> halve = Rule("halve", "n -> n/2 for even n", lambda n: n / 2 if n.is_even else n)
>>> run(exhaust(halve, limit=10), sp.Integer(24))[0], run(exhaust(halve, limit=2), sp.Integer(24))[0]
(3, 6)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

Rewrite = Callable[[sp.Expr], sp.Expr]


@dataclass(frozen=True)
class Applied:
    """One application of a rule that changed the expression: the rule and what it made."""

    rule: Rule
    result: sp.Expr


@dataclass(frozen=True)
class Rule:
    """A named rewrite with a justification in words.

    The justification is a template: ``{0}``, ``{1}`` ... stand for ``terms``,
    SymPy objects that each renderer prints with its own printer.
    """

    name: str
    justification: str
    apply: Rewrite
    terms: tuple = ()

    def __call__(self, expr: sp.Expr, log: list[Applied] | None = None) -> sp.Expr:
        new = self.apply(expr)
        if log is not None and new != expr:
            log.append(Applied(self, new))
        return new

    @property
    def rules(self) -> tuple[Rule, ...]:
        return (self,)


@dataclass(frozen=True)
class Chain:
    """Strategies applied one after the other, each to the result of the one before."""

    strategies: tuple

    def __call__(self, expr: sp.Expr, log: list[Applied] | None = None) -> sp.Expr:
        for strategy in self.strategies:
            expr = strategy(expr, log)
        return expr

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Every rule in the chain, in the order it runs them."""
        return tuple(rule for strategy in self.strategies for rule in strategy.rules)

    def __iter__(self):
        return iter(self.rules)


@dataclass(frozen=True)
class Exhaust:
    """A strategy repeated until the expression stops changing (at most ``limit`` times)."""

    strategy: object
    limit: int

    def __call__(self, expr: sp.Expr, log: list[Applied] | None = None) -> sp.Expr:
        for _ in range(self.limit):
            new = self.strategy(expr, log)
            if new == expr:
                break
            expr = new
        return expr

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self.strategy.rules


def chain(*strategies) -> Chain:
    """Apply each strategy in turn (a flat chain: nested chains are spliced in)."""
    flat = []
    for strategy in strategies:
        flat.extend(strategy.strategies if isinstance(strategy, Chain) else (strategy,))
    return Chain(tuple(flat))


def exhaust(strategy, limit: int = 10) -> Exhaust:
    """Apply ``strategy`` until nothing changes, at most ``limit`` times."""
    return Exhaust(strategy, limit)


def where(query, rewrite) -> Rewrite:
    """A rewrite of every subexpression that matches, bottom up (SymPy's ``replace``): ``query`` is a predicate
    and ``rewrite`` a function of the match, or ``query`` a pattern with Wilds and ``rewrite`` an expression in them."""
    return lambda expr: expr.replace(query, rewrite)


def run(strategy, expr: sp.Expr) -> tuple[sp.Expr, tuple[Applied, ...]]:
    """``strategy(expr)`` and the applications it made, in order."""
    log: list[Applied] = []
    return strategy(expr, log), tuple(log)
