"""The fused form of a program's kernel, for compiled backends: one pass over blocks of rows, element by element.

A compiled backend (numba) does not hand whole arrays to BLAS.  Per block of rows it computes
the product with the small dimension (the logits, ``XW = X_rows W``), then, one row at a time,
everything the program computes between the two products (the *epilogue*), then the transposed
product ``X_rowsᵀ G`` while the rows are in cache.  The two products are the template's
register-tiled loops; the epilogue is the program's own kernel (the engine's closed forms,
lowered, stabilised, economised and cse'd by :mod:`derive.codegen.program`), rewritten here from
class-major whole arrays to the elements of one row, as ``sympy.codegen.ast`` statements::

    Z = Column(b) + Dot(W.T, X.T)      Z[k] = b[k] + XW[r, k]                the product's tile, row r
    S = Z - MaxOver(Z, 0)              Z_max = max(Z_max, Z[k]); S[k] = Z[k] - Z_max
    t0 = Contiguous(Transposed(P))     no statement: its element is _label(P, n, k)
    t1 = SumOver(t0, 0)                t1 += _label(P, n, k)                  a reduction over the classes
    t4 = t2*Grouped(t1/t3) - t0        G[r, k] = t2[k]*(t1/t3) - _label(P, n, k)   the transposed product's operand
    loss = -scale*(Inner(t0, S) - ...) sums[0] += _label(P, n, k)*S[k] ...    a sum over the batch: an accumulator
    dW = scale*Dot(X.T, t4.T)          scale*XG: XG = Sum_n X[n, :]ᵀ G[n, :], the template's transposed product
    db = scale*SumOver(t4, 1)          vectors[0, k] += G[r, k]; db = scale*vectors[0]

Each axis of an array has a role (:mod:`derive.codegen.arrays`): an array over the classes and the
batch is a (K,) vector per row (``S[k]``, the kernel's scratch), one over the batch alone a number
per row (``t1``), one over neither a number (``scale``).  Consecutive statements over the classes
share one loop ``for k in range(K)``, unless one needs a reduction over the classes made in that
loop.  A single-output model (logistic, linear) has no classes: its epilogue is straight-line
code per row, its tiles have one column (``XW[r, 0]``, ``G[r, 0]``).

The names here are the template's: ``n`` the sample (row of X and of the labels), ``r`` its row
in the tile, ``k`` the class, ``K`` the number of classes, ``XW`` and ``G`` the tiles of the
two products, ``XG`` the transposed product summed over the batch, ``sums`` and ``vectors`` the
accumulators.  Nothing here knows a model: change the closed form and the epilogue changes with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.codegen.ast import AddAugmentedAssignment, Assignment, For

from derive.codegen.arrays import (
    BATCH,
    BATCHED,
    BATCHED_SCALARS,
    CLASS,
    FEATURE,
    ORDER,
    Column,
    Contiguous,
    Dot,
    Grouped,
    Inner,
    MaxOver,
    SumOver,
    Total,
    Transposed,
    X,
)
from derive.codegen.program import Program
from derive.core import symbols as S
from derive.core.models import Model

#: the sample (row of X and of the labels), its row in the tile, the class
n, r, k = sp.symbols("n r k", integer=True, nonnegative=True)
#: the number of classes and the rows of a tile (shapes of the elements, for sympy.codegen's checks)
K, ROWS = S.K, sp.Symbol("TILE_ROWS", integer=True, positive=True)
#: the sizes of the engine's inputs ("d", "K") and the batch, as roles
SIZE_ROLES = {"N": BATCH, "d": FEATURE, "K": CLASS}
#: the product with the small dimension, the operand of the transposed product (tiles of TILE_ROWS rows)
XW = sp.IndexedBase("XW", shape=(ROWS, K))
G = sp.IndexedBase("G", shape=(ROWS, K))
#: the transposed product over the batch, Sum_n X[n, :]ᵀ G[n, :]: (d, K), or (d,) for one output
XG = sp.Symbol("XG")
#: the accumulators over the batch: numbers, and vectors over the classes
SUMS = sp.IndexedBase("sums", shape=(sp.Symbol("SUMS"),))
VECTORS = sp.IndexedBase("vectors", shape=(sp.Symbol("VECTORS"), K))
#: the same vectors summed over the blocks, one (K,) row each, as the results name them (vectors[0])
SUMMED_VECTORS = sp.IndexedBase("vectors")
#: the size of each role's axis in an element's shape
SIZES = {BATCH: sp.Symbol("N", integer=True, positive=True), CLASS: K}


class Label(sp.Function):
    """The label of sample n for class k: P[n, k], or 1 where the class index P[n] is k and 0 elsewhere.

    Prints ``_label(P, n, k)``, a helper of the generated module that takes labels either way.
    """

    nargs = 3


@dataclass(frozen=True)
class Step:
    """``target = value`` (op "="), ``target += value`` ("+="), or a reduction over the classes into
    ``target`` ("sum", "max"); for every class k of the row (``classes``) or once per row."""

    op: str
    target: sp.Expr
    value: sp.Expr
    classes: bool


@dataclass(frozen=True)
class Fused:
    """A program's kernel as one pass over blocks of rows: what the template's epilogue does for row r.

    ``classes`` says whether the model has classes (tiles of K columns) or one output (one column);
    ``steps`` are the epilogue's steps in order and ``epilogue`` the same as ``sympy.codegen.ast``
    statements for row r of the tile (sample n), loops over k made; ``scratch`` the (K,) vectors they
    store, ``sums`` and ``vectors`` how many accumulators they add to, and ``results`` each output of
    the kernel (loss, gradients) in terms of the accumulators, ``XG`` and ``scale``, once the blocks
    are summed.
    """

    classes: bool
    steps: tuple[Step, ...]
    epilogue: tuple[sp.Basic, ...]
    scratch: tuple[sp.Symbol, ...]
    sums: int
    vectors: int
    results: tuple[tuple[str, sp.Expr], ...]


def roles(sizes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(SIZE_ROLES[size] for size in sizes)


def stored_axes(model: Model) -> dict[sp.Symbol, tuple[str, ...]]:
    """The roles of the axes of the arrays the kernel receives, as stored: W (feature, class), X (batch, feature) ..."""
    inputs = {i.base: i for i in model.inputs}
    label = sp.Symbol(BATCHED.get(model.label) or BATCHED_SCALARS[model.label])
    axes = {sp.Symbol(str(S.key(p))): roles(inputs[S.key(p)].shape) for p in model.parameters}
    return {**axes, X: (BATCH, *roles(inputs[S.x].shape)), label: (BATCH, *roles(inputs[model.label].shape))}


def axes(expr: sp.Expr, known: dict[sp.Symbol, tuple[str, ...]]) -> tuple[str, ...]:
    """The roles of the axes of an array expression, in order."""
    if expr in known:
        return known[expr]
    if isinstance(expr, Transposed):
        return axes(expr.args[0], known)[::-1]
    if isinstance(expr, (Contiguous, Grouped, Column)):
        return axes(expr.args[0], known)
    if isinstance(expr, (SumOver, MaxOver)):
        inner, axis = axes(expr.args[0], known), int(expr.args[1])
        return inner[:axis] + inner[axis + 1 :]
    if isinstance(expr, (Inner, Total)):
        return ()
    if isinstance(expr, Dot):
        left, right = (axes(arg, known) for arg in expr.args)
        return left[:-1] + right[1:]
    found = {q for arg in expr.args for q in axes(arg, known)}
    return tuple(sorted(found, key=ORDER.index))


class _Fuser:
    """The state of :func:`fuse`: each array's axes and element, and the steps made so far."""

    def __init__(self, model: Model):
        self.classes = model.output_index is not None
        self.known = stored_axes(model)
        self.inputs = frozenset(self.known)
        self.elements: dict[sp.Expr, sp.Expr] = {}
        self.steps: list[Step] = []
        self.scratch: list[sp.Symbol] = []
        self.accumulators: dict[sp.Expr, sp.Expr] = {}
        self.contributions: list[Step] = []

    def column(self) -> sp.Expr:
        """The column of a tile: the class k, or 0 for a single output."""
        return k if self.classes else sp.Integer(0)

    # ------------------------------------------------------------------- elements

    def element(self, expr: sp.Expr) -> sp.Expr:
        """The element of ``expr`` for sample n (and class k, when it runs over the classes)."""
        if expr in self.elements:
            return self.elements[expr]
        if expr in self.inputs:
            return self.stored(expr)
        if isinstance(expr, (Transposed, Contiguous, Column)):
            return self.element(expr.args[0])
        if isinstance(expr, (SumOver, MaxOver)) and self.over_classes(expr):
            return self.reduction(expr)
        if isinstance(expr, (SumOver, MaxOver, Inner, Total, Dot)):
            raise NotImplementedError(f"{expr}: a sum or product over the batch inside the epilogue")
        if isinstance(expr, (sp.Indexed, Label)) or not expr.args:
            return expr
        return expr.func(*(self.element(arg) for arg in expr.args))

    def stored(self, array: sp.Symbol) -> sp.Expr:
        """An input's element: the label P[n, k] (or a class index), y[n], the bias b[k] or b."""
        roles = self.known[array]
        if roles == (BATCH, CLASS):
            return Label(array, n, k)
        if FEATURE in roles:
            raise NotImplementedError(f"{array} has features: it belongs in a product, not in the epilogue")
        if not roles:
            return array
        base = sp.IndexedBase(str(array), shape=tuple(SIZES[role] for role in roles))
        return base[tuple({BATCH: n, CLASS: k}[role] for role in roles)]

    def over_classes(self, reduction: sp.Expr) -> bool:
        array, axis = reduction.args
        return axes(array, self.known)[int(axis)] == CLASS

    def reduction(self, reduction: sp.Expr) -> sp.Symbol:
        """A reduction over the classes inside an expression: made first, into a number of the row."""
        array = reduction.args[0]
        kind = "max" if isinstance(reduction, MaxOver) else "sum"
        name = f"{array}_{kind}" if isinstance(array, sp.Symbol) else f"{kind}{len(self.steps)}"
        target = sp.Symbol(name)
        self.steps.append(Step(kind, target, self.element(array), True))
        self.elements[reduction] = target
        return target

    # ------------------------------------------------------------------- assignments

    def assign(self, symbol: sp.Symbol, expr: sp.Expr, gradient: sp.Expr | None) -> None:
        """One assignment of the program: an alias of an input, a reduction, or values per class or per row."""
        self.known[symbol] = axes(expr, self.known)
        if _view_of_input(expr, self.inputs):
            self.elements[symbol] = self.element(expr)
            return
        expr = self.product(expr)
        if isinstance(expr, (SumOver, MaxOver)) and self.over_classes(expr):
            kind = "max" if isinstance(expr, MaxOver) else "sum"
            self.steps.append(Step(kind, symbol, self.element(expr.args[0]), True))
            self.elements[symbol] = symbol
            return
        over = CLASS in self.known[symbol]
        value = self.element(expr)
        if symbol == gradient:
            target = G[r, self.column()]
        elif over:
            target = sp.IndexedBase(str(symbol), shape=(K,))[k]
            self.scratch.append(symbol)
        else:
            target = symbol
        self.steps.append(Step("=", target, value, over))
        self.elements[symbol] = target

    def product(self, expr: sp.Expr) -> sp.Expr:
        """The product with X in the logits' definition -> its tile's element ``XW[r, k]``."""
        products = [dot for dot in expr.atoms(Dot) if X in dot.free_symbols]
        if not products:
            return expr
        if len(products) > 1 or (CLASS in axes(products[0], self.known)) != self.classes:
            raise NotImplementedError(f"{expr}: one product of X with the weights expected")
        return expr.xreplace({products[0]: XW[r, self.column()]})

    # ------------------------------------------------------------------- outputs

    def output(self, expr: sp.Expr) -> sp.Expr:
        """An output of the kernel in terms of accumulators: each sum over the batch becomes one."""
        transposed = [dot for dot in expr.atoms(Dot) if _transposed_x(dot)]
        expr = expr.xreplace({dot: XG for dot in transposed})
        batch_sums = [e for e in sp.preorder_traversal(expr) if self.over_batch(e)]
        for total in batch_sums:
            if total not in self.accumulators:
                self.accumulators[total] = self.accumulate(total)
        result = expr.xreplace(self.accumulators)
        left = result.free_symbols & (self.inputs | set(self.known))
        if left:
            raise NotImplementedError(f"{expr}: {sorted(map(str, left))} left outside a sum over the batch")
        return result

    def over_batch(self, expr: sp.Expr) -> bool:
        """Inner and Total sum every entry; SumOver sums over the batch when its axis is the batch."""
        if isinstance(expr, (Inner, Total)):
            return True
        return isinstance(expr, SumOver) and not self.over_classes(expr)

    def accumulate(self, total: sp.Expr) -> sp.Expr:
        """The accumulator of a sum over the batch, and the step that adds the row's part to it."""
        parts = total.args if isinstance(total, Inner) else total.args[:1]
        over = any(CLASS in axes(part, self.known) for part in parts)
        value = sp.Mul(*(self.element(part) for part in parts))
        if isinstance(total, SumOver) and over:
            index = sum(isinstance(s.target, sp.Indexed) and s.target.base == VECTORS for s in self.contributions)
            self.contributions.append(Step("+=", VECTORS[index, k], value, True))
            return SUMMED_VECTORS[index]
        index = sum(isinstance(s.target, sp.Indexed) and s.target.base == SUMS for s in self.contributions)
        self.contributions.append(Step("+=", SUMS[index], value, over))
        return SUMS[index]


def _view_of_input(expr: sp.Expr, inputs: frozenset) -> bool:
    """A transposed or contiguous copy of an input: the same elements, no statement."""
    while isinstance(expr, (Transposed, Contiguous)):
        expr = expr.args[0]
    return expr in inputs


def _transposed_x(dot: sp.Expr) -> bool:
    """X.T @ G.T or X.T @ g: the gradient's product over the batch."""
    return dot.args[0] == Transposed(X)


def gradient_operand(prog: Program) -> sp.Expr:
    """G of the gradient's product X.T @ G.T (or g of X.T @ g), as the kernel names it."""
    operands = {dot.args[1] for _, e in prog.loss_and_grad.outputs for dot in e.atoms(Dot) if _transposed_x(dot)}
    if len(operands) != 1:
        raise NotImplementedError(f"one product X.T @ G expected among the outputs, found {len(operands)}")
    (operand,) = operands
    return operand.args[0] if isinstance(operand, Transposed) else operand


def fuse(prog: Program) -> Fused:
    """The program's loss_and_grad kernel as the epilogue of one row, its outputs in terms of accumulators."""
    fuser = _Fuser(prog.model)
    gradient = gradient_operand(prog)
    for symbol, expr in (*prog.forward, *prog.loss_and_grad.assignments):
        fuser.assign(symbol, expr, gradient)
    if gradient not in fuser.elements or fuser.elements[gradient] != G[r, fuser.column()]:
        value = fuser.element(gradient)
        fuser.steps.append(Step("=", G[r, fuser.column()], value, fuser.classes))
        fuser.elements[gradient] = G[r, fuser.column()]
    results = tuple((name, fuser.output(expr)) for name, expr in prog.loss_and_grad.outputs)
    # the row's parts of the accumulators: those over the classes first, so that they share the last loop
    contributions = sorted(fuser.contributions, key=lambda step: not step.classes)
    steps = (*fuser.steps, *contributions)
    sums = sum(isinstance(s.target, sp.Indexed) and s.target.base == SUMS for s in contributions)
    return Fused(
        classes=fuser.classes,
        steps=steps,
        epilogue=statements(steps),
        scratch=tuple(fuser.scratch),
        sums=sums,
        vectors=len(contributions) - sums,
        results=results,
    )


# --------------------------------------------------------------------------- statements

#: the value a reduction over the classes starts from
START = {"sum": sp.Float(0), "max": -sp.oo}


def statement(step: Step) -> sp.Basic:
    """The step as one assignment: ``=``, ``+=``, or one term of a reduction (``max(m, v)``, ``s += v``)."""
    if step.op == "=":
        return Assignment(step.target, step.value)
    if step.op == "max":
        return Assignment(step.target, sp.Max(step.target, step.value, evaluate=False))
    return AddAugmentedAssignment(step.target, step.value)


def statements(steps: tuple[Step, ...]) -> tuple[sp.Basic, ...]:
    """The steps as statements: consecutive steps over the classes share a loop over k, unless a step
    needs a reduction made in the loop so far (then a new loop begins)."""
    out: list[sp.Basic] = []
    loop: list[Step] = []

    def close() -> None:
        out.extend(Assignment(s.target, START[s.op]) for s in loop if s.op in START)
        if loop:
            out.append(For(k, sp.Range(K), [statement(s) for s in loop]))
        loop.clear()

    for step in steps:
        reduced = {s.target for s in loop if s.op in START}
        if not step.classes or step.value.free_symbols & reduced:
            close()
        if step.classes:
            loop.append(step)
        else:
            out.append(statement(step))
    close()
    return tuple(out)
