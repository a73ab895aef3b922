"""The program's kernels in the sample-major layout: arrays over the batch (N, K) instead of (K, N).

The lowering lays computed arrays out class-major (:mod:`derive.codegen.arrays`), which suits NumPy:
its class reductions run along axis 0, vectorised over the samples.  XLA prefers the layout of
the loss as people write it: its products ``X @ W`` and ``X.T @ G`` with G (N, K) fuse with the
epilogue, and on the 2-core machine the class-major pair ``dot(W, X)``, ``dot(X, G.T)`` took 71 and
102 ms against 44 and 61 ms at 100000 x 784 x 10 (float64).  :func:`sample_major` rewrites a
:class:`~derive.codegen.program.Program` into that layout, changing no value:

    Z = b[:, None] + W.T @ X.T        ->  Z = b + X @ W               (the product turned round)
    S = Z - Z.max(axis=0)             ->  S = Z - Z.max(axis=1)[:, None]
    t0 = np.ascontiguousarray(P.T)    ->  (none: P is used as stored)
    scale * (X.T @ t4.T)              ->  scale * (X.T @ t4)

Every expression's axes are inferred from the class-major program (the inputs as stored, computed
arrays from their definitions), then each operation is rebuilt with its axes in the order batch,
feature, class: products oriented to give that order, reductions along the axis their role now
has, per-sample vectors broadcast as columns.  The outputs keep their stored layout (dW (d, K)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import sympy as sp

from derive.codegen.arrays import (
    BATCH,
    CLASS,
    FEATURE,
    Column,
    Contiguous,
    Dot,
    Grouped,
    Inner,
    Lowered,
    MaxOver,
    P,
    SumOver,
    Total,
    Transposed,
    W,
    X,
    arrange,
    b,
    broadcast,
    w,
    y,
)
from derive.codegen.program import Kernel, Program

#: the axis order of every array in the sample-major layout
SAMPLE_MAJOR = (BATCH, FEATURE, CLASS)


@dataclass(frozen=True)
class Shaped:
    """An expression rebuilt sample-major, with the roles of its axes before (class-major) and now."""

    expr: sp.Expr
    before: tuple[str, ...]
    now: tuple[str, ...]


def stored(program: Program) -> dict[sp.Symbol, Shaped]:
    """The inputs, with the roles of their axes as the caller stores them (the same in either layout)."""
    roles = {X: (BATCH, FEATURE), P: (BATCH, CLASS), y: (BATCH,), W: (FEATURE, CLASS), w: (FEATURE,)}
    roles[b] = (CLASS,) if program.model.output_index is not None else ()
    return {s: Shaped(s, axes, axes) for s, axes in roles.items()}


def ordered(roles, order: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(roles), key=order.index))


def canonical(part: Shaped) -> Shaped:
    """``part`` with its axes in sample-major order (a 2-D array maybe transposed)."""
    want = ordered(part.now, SAMPLE_MAJOR)
    return Shaped(arrange(part.expr, part.now, want), part.before, want)


def column(part: Shaped, whole: tuple[str, ...]) -> sp.Expr:
    """``part`` broadcast against an array with axes ``whole``: a per-sample vector as a column, its sign outside."""
    coeff, rest = part.expr.as_coeff_Mul() if part.expr.is_Mul else (sp.S.One, part.expr)
    return coeff * broadcast(Lowered(rest, part.now), whole)


class Relayout:
    """Rebuilds class-major expressions sample-major, knowing the axes of every array assigned so far."""

    def __init__(self, known: dict[sp.Symbol, Shaped]):
        self.known = dict(known)

    def __call__(self, expr: sp.Expr) -> Shaped:
        for kind, rule in self.RULES:
            if isinstance(expr, kind):
                return rule(self, expr)
        if expr.is_number or expr.is_Symbol:
            return Shaped(expr, (), ())
        raise NotImplementedError(f"no sample-major layout for {expr}")

    def assign(self, symbol: sp.Symbol, expr: sp.Expr) -> sp.Expr | None:
        """``symbol = expr`` rebuilt sample-major; ``symbol``'s axes are known from then on.

        None when the assignment only names another array (``t0 = P``, where P.T was copied): the
        array is used in its place.
        """
        part = canonical(self(expr))
        alias = part.expr.is_Symbol
        self.known[symbol] = Shaped(part.expr if alias else symbol, part.before, part.now)
        return None if alias else part.expr

    def output(self, expr: sp.Expr) -> sp.Expr:
        """A result, in the layout it had (a gradient stored like its parameter)."""
        part = self(expr)
        return arrange(part.expr, part.now, part.before)

    def _symbol(self, expr: sp.Symbol) -> Shaped:
        return self.known.get(expr, Shaped(expr, (), ()))

    def _transposed(self, expr: Transposed) -> Shaped:
        part = self(expr.args[0])
        return Shaped(part.expr, part.before[::-1], part.now)

    def _through(self, expr: sp.Expr) -> Shaped:
        """A contiguous copy or a column: how the array is laid out or broadcast is decided where it is used."""
        return self(expr.args[0])

    def _grouped(self, expr: Grouped) -> Shaped:
        part = self(expr.args[0])
        return Shaped(Grouped(part.expr), part.before, part.now)

    def _reduce(self, expr: SumOver | MaxOver) -> Shaped:
        array, axis = expr.args
        part = canonical(self(array))
        role = part.before[int(axis)]
        rest = tuple(r for r in part.now if r != role)
        return Shaped(type(expr)(part.expr, part.now.index(role)), tuple(r for r in part.before if r != role), rest)

    def _dot(self, expr: Dot) -> Shaped:
        left, right = (self(a) for a in expr.args)
        q, outer = left.before[-1], (*left.before[:-1], *right.before[1:])
        if len(left.before) == 2 and len(right.before) == 2:
            u, v = outer
            if SAMPLE_MAJOR.index(u) > SAMPLE_MAJOR.index(v):  # (L R).T = R.T L.T: the result in sample-major order
                left, right, u, v = right, left, v, u
            product = Dot(arrange(left.expr, left.now, (u, q)), arrange(right.expr, right.now, (q, v)))
            return Shaped(product, outer, (u, v))
        if len(left.before) == 2:
            return Shaped(Dot(arrange(left.expr, left.now, (outer[0], q)), right.expr), outer, outer)
        return Shaped(Dot(left.expr, arrange(right.expr, right.now, (q, outer[0]))), outer, outer)

    def _inner(self, expr: Inner) -> Shaped:
        left, right = (canonical(self(a)) for a in expr.args)
        return Shaped(Inner(left.expr, arrange(right.expr, right.now, left.now)), (), ())

    def _total(self, expr: Total) -> Shaped:
        return Shaped(Total(self(expr.args[0]).expr), (), ())

    def _elementwise(self, expr: sp.Expr) -> Shaped:
        parts = [canonical(self(a)) for a in expr.args]
        # the operands of the class-major program share its layout: the result's axes are those of the largest
        before = max(parts, key=lambda p: len(p.before)).before
        whole = ordered(before, SAMPLE_MAJOR)
        args = [column(p, whole) for p in parts]
        return Shaped(
            expr.func(*args, evaluate=False) if expr.is_Add or expr.is_Mul else expr.func(*args), before, whole
        )

    RULES: tuple[tuple[type, Callable[..., Shaped]], ...] = (
        (Transposed, _transposed),
        (Contiguous, _through),
        (Column, _through),
        (Grouped, _grouped),
        (SumOver, _reduce),
        (MaxOver, _reduce),
        (Dot, _dot),
        (Inner, _inner),
        (Total, _total),
        (sp.Symbol, _symbol),
        (sp.Add, _elementwise),
        (sp.Mul, _elementwise),
        (sp.Pow, _elementwise),
        (sp.Function, _elementwise),
    )


def relaid(kernel: Kernel, known: dict[sp.Symbol, Shaped]) -> Kernel:
    """A kernel's assignments and outputs rebuilt sample-major, after the arrays ``known``."""
    relayout = Relayout(known)
    assignments = tuple((s, e) for s, e in ((s, relayout.assign(s, e)) for s, e in kernel.assignments) if e is not None)
    return Kernel(assignments, tuple((name, relayout.output(e)) for name, e in kernel.outputs))


def sample_major(program: Program) -> Program:
    """``program`` with every kernel in the sample-major layout: the same values, arrays over the batch (N, K)."""
    relayout = Relayout(stored(program))
    forward = tuple((s, relayout.assign(s, e)) for s, e in program.forward)
    if any(e is None for _, e in forward):
        raise NotImplementedError("the logits only rename an input")
    known = relayout.known
    return replace(
        program,
        forward=forward,
        loss=relaid(program.loss, known),
        loss_and_grad=relaid(program.loss_and_grad, known),
        penalty=relaid(program.penalty, known) if program.penalty is not None else None,
    )
