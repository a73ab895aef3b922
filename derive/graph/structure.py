"""The structure of a Hessian block, as steps: its matrix form, why it is positive semi-definite, its null direction.

From a block that splits into a factor over the classes and one over the features
(:func:`derive.graph.hessian.kronecker`: d2H/dW_ij/dW_lk = A_jk B_il), the engine states, each as a
:class:`Fact` that :mod:`derive.verify.convexity` checks with numbers:

=================  ==========================================================================================
fact               for softmax regression
=================  ==========================================================================================
kronecker_form     the block of each sample is (diag(a) - a a^T) (x) x x^T: each factor read off as a matrix
                   (a term with delta_jk is a diagonal matrix, a product f_j g_k an outer product f g^T)
row_sums           (diag(a) - a a^T) 1 = 0, *derived*: Sum_k a_j (delta_jk - a_k) reduced by the named rules,
                   with Sum_k a_k = 1 read off the softmax's definition (a quotient by its own sum)
covariance         diag(a) - a a^T >= 0: the covariance of a one-hot draw e_J with P(J = k) = a_k
gram               x x^T >= 0: v^T x x^T v = (x^T v)^2
kronecker_psd      so the block, and its mean over the samples, is >= 0: H is convex in W
null_direction     from the row sums: W -> W + u 1^T changes nothing, so H is not strictly convex in W
l2                 with (lambda/2) Sum W^2 the block gains lambda I and is > 0: strictly convex, Newton is defined
=================  ==========================================================================================

A one-index parameter (logistic regression's w_i) has a scalar factor: sigma (1 - sigma) x x^T.  Blocks that do
not split (the perceptron's) get no facts here; the document shows their indefiniteness with numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.core import rules
from derive.core.derivation import Step, reduce
from derive.core.strategies import Rule, chain
from derive.graph.backprop import Indices, reductions
from derive.graph.graph import Graph, Node
from derive.graph.hessian import Kronecker, SecondDerivative, kronecker

#: relations of a fact: an equation, positive semi-definite (>= 0), positive definite (> 0)
EQUALS, SEMIDEFINITE, DEFINITE = "=", "psd", "pd"


class HessianBlock(sp.MatrixExpr):
    """nabla^2_W H: the block of the Hessian of a loss in one parameter, n x n for its n entries (each printer
    prints it)."""

    def __new__(cls, loss: sp.Basic, parameter: sp.Basic, size: sp.Expr):
        return super().__new__(cls, loss, parameter, size)

    @property
    def loss(self) -> sp.Basic:
        return self.args[0]

    @property
    def parameter(self) -> sp.Basic:
        return self.args[1]

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return (self.args[2], self.args[2])


@dataclass(frozen=True)
class Fact:
    """One step of the argument: ``lhs relation rhs`` (rhs 0 for the semidefinite relations), why, and the
    engine's steps that derived it when it is derived rather than cited (the row sums)."""

    name: str
    lhs: sp.Basic
    relation: str
    rhs: sp.Basic
    justification: str
    terms: tuple = ()
    steps: tuple[Step, ...] = ()

    def explain(self, printer) -> str:
        return self.justification.format(*map(printer, self.terms))


@dataclass(frozen=True)
class Structure:
    """The facts about one parameter's block, and what the numeric checks need: the block split into its two
    factors, the matrix forms read off them, the index along which the loss does not move, the L2 strength."""

    parameter: Node
    block: Kronecker
    facts: tuple[Fact, ...]
    #: the matrix form of the factor over the last pair of indices, and over the first (None for one index)
    outer: sp.Basic | None
    inner: sp.Basic | None
    #: the position among the parameter's indices of the one whose factor's rows sum to zero (derived): adding
    #: the same number along it changes nothing; None when no factor's rows do
    null_axis: int | None
    #: lambda of the loss's (lambda/2) Sum p^2 on this parameter (--l2, or written in the file), else 0
    strength: sp.Expr


def structures(graph: Graph, seconds: tuple[SecondDerivative, ...]) -> tuple[Structure, ...]:
    """The structure of every block of one parameter with itself that splits into two factors."""
    strengths = penalties(graph)
    found = []
    for second in seconds:
        if second.first.name != second.second.name:
            continue
        strength = strengths.get(second.first.name, sp.S.Zero)
        core = _without_penalty(second, strength)
        block = kronecker(SecondDerivative(second.first, second.second, core, second.steps))
        if block is not None:
            found.append(_structure(graph, block, strength))
    return tuple(found)


def penalties(graph: Graph) -> dict[str, sp.Expr]:
    """lambda for each parameter whose entries' squares the loss adds up, (lambda/2) Sum_ij W_ij^2: what ``--l2``
    adds, or the same written in the file."""
    found: dict[str, sp.Expr] = {}
    for term in sp.Add.make_args(graph.loss.expr):
        coefficient, rest = term.as_coeff_Mul()
        for part in sp.Add.make_args(rest):
            name = _squares_of(graph, part)
            if name is not None and coefficient > 0:
                found[name] = found.get(name, sp.S.Zero) + 2 * coefficient
    return found


def _squares_of(graph: Graph, expr: sp.Expr) -> str | None:
    """W for Sum_i Sum_j W_ij^2 (every entry once), None for anything else."""
    variables = []
    while isinstance(expr, sp.Sum):
        variables += [var for var, _, _ in expr.limits]
        expr = expr.function
    if not (isinstance(expr, sp.Pow) and expr.exp == 2 and isinstance(expr.base, sp.Indexed)):
        return None
    entry = expr.base
    owner = [p for p in graph.parameters if p.base == entry.base]
    if not owner or len(set(entry.indices)) != len(entry.indices) or set(entry.indices) != set(variables):
        return None
    return owner[0].name if len(variables) == len(entry.indices) else None


def _without_penalty(second: SecondDerivative, strength: sp.Expr) -> sp.Expr:
    """The block less the L2 term's lambda delta_il delta_jk (products of factors again), or the block itself."""
    if strength == 0:
        return second.expanded
    pairs = zip(second.first.indices, second.second.indices, strict=True)
    deltas = sp.Mul(*(sp.KroneckerDelta(a, b) for a, b in pairs))
    return sp.factor_terms(sp.expand(second.expanded - strength * deltas))


def _structure(graph: Graph, block: Kronecker, strength: sp.Expr) -> Structure:
    node = block.derivative.first
    last = len(node.indices) - 1
    size = sp.Mul(*(graph.size_of(i) for i in node.indices))
    lhs = HessianBlock(graph.loss.ref, node.base, size)
    core = lhs - strength * sp.Identity(size) if strength else lhs
    outer = matrix_form(graph, block.outer_factor, block.outer)
    inner = matrix_form(graph, block.inner_factor, block.inner) if last else None
    if outer is None or (last and inner is None):
        return Structure(node, block, (), outer, inner, None, strength)
    sums = {last: row_sums(graph, block.outer_factor, block.outer)}
    if inner is not None:
        sums[0] = row_sums(graph, block.inner_factor, block.inner)
    zero = [axis for axis, steps in sums.items() if steps and steps[-1].rhs == 0]
    null_axis = zero[0] if zero else None
    facts = [_form(core, block, outer, inner), _semidefinite(graph, outer, sums[last])]
    if inner is not None:
        facts.append(_semidefinite(graph, inner, sums[0]))
    facts.append(_convex(core, node, inner is not None, strength))
    if null_axis is not None:
        facts.append(_null_direction(graph, node, outer if null_axis == last else inner, null_axis, strength))
    if strength:
        facts.append(_l2(lhs, node, size, strength))
    return Structure(node, block, tuple(facts), outer, inner, null_axis, strength)


def _form(core: sp.Basic, block: Kronecker, outer, inner) -> Fact:
    split = "; the factor over the last indices, then the one over the first (in the order of vec W)"
    return Fact(
        "kronecker_form" if inner is not None else "matrix_form",
        core,
        EQUALS,
        outer if inner is None else sp.KroneckerProduct(outer, inner),
        "per sample, read off {0}: a term with a Kronecker delta is a diagonal matrix, a factor at the row times"
        " one at the column an outer product" + (split if inner is not None else ""),
        (block.derivative.value,),
    )


def _semidefinite(graph: Graph, matrix: sp.Basic, sums: tuple[Step, ...]) -> Fact:
    """Why a factor is positive semi-definite: a covariance (its rows derived to sum to zero), a Gram matrix, or
    its eigenvalues at random points."""
    probabilities = _covariance_of(graph, matrix)
    if probabilities is not None and sums and sums[-1].rhs == 0:
        return Fact(
            "covariance",
            matrix,
            SEMIDEFINITE,
            sp.S.Zero,
            "{0} is the covariance matrix of a one-hot vector drawn with the probabilities {1} (positive, and"
            " summing to one: the rules derive that its rows sum to zero, below), and a covariance matrix is"
            " positive semi-definite",
            (matrix, probabilities),
            sums,
        )
    gram = isinstance(matrix, sp.MatMul) and len(matrix.args) == 2 and isinstance(matrix.args[0], sp.MatrixExpr)
    if gram and matrix.args[1] == matrix.args[0].T:
        why = "a vector times itself transposed: its quadratic form is a square"
        return Fact("gram", matrix, SEMIDEFINITE, sp.S.Zero, why)
    return Fact("semidefinite", matrix, SEMIDEFINITE, sp.S.Zero, _BY_NUMBERS)


def _covariance_of(graph: Graph, matrix: sp.Basic) -> sp.MatrixSymbol | None:
    """a for exactly diag(a) - a a^T with a a definition divided by its own sum (the softmax): else None."""
    normalised = {rule.name.removeprefix("normalised_") for rule in normalisations(graph)}
    for probabilities in matrix.atoms(sp.MatrixSymbol):
        covariance = sp.DiagMatrix(probabilities) - probabilities * probabilities.T
        if probabilities.name in normalised and matrix == covariance:
            return probabilities
    return None


def _convex(core: sp.Basic, node: Node, kronecker_product: bool, strength: sp.Expr) -> Fact:
    product = "the eigenvalues of a Kronecker product are the products of its factors'; " if kronecker_product else ""
    held = " before the L2 term" if strength else ""
    return Fact(
        "convex",
        core,
        SEMIDEFINITE,
        sp.S.Zero,
        product
        + "a mean over the samples of positive semi-definite matrices is one: H is convex in {0}"
        + held
        + " (the other parameters held)",
        (sp.Symbol(node.name),),
    )


def _null_direction(graph: Graph, node: Node, factor: sp.Basic, axis: int, strength: sp.Expr) -> Fact:
    move, free = _null_move(graph, node, axis)
    why = (
        "so without the L2 term adding {0} to {1} would change nothing, for any {2}; the L2 term's lambda I removes"
        " that null direction"
        if strength
        else "so adding {0} to {1} changes nothing, for any {2} (the rows sum to zero): H is not strictly convex in"
        " {1}, and Newton's method needs an L2 term or a pseudo-inverse"
    )
    size = factor.shape[0]
    return Fact(
        "null_direction",
        factor * sp.OneMatrix(size, 1),
        EQUALS,
        sp.ZeroMatrix(size, 1),
        why,
        (move, sp.Symbol(node.name), free),
    )


def _null_move(graph: Graph, node: Node, axis: int) -> tuple[sp.Basic, sp.Basic]:
    """u 1^T (or 1 u^T) for a matrix whose factor over ``axis`` has zero row sums, c 1 for a vector."""
    along = graph.size_of(node.indices[axis])
    if len(node.indices) == 1:
        c = sp.Symbol("c", real=True)
        return c * sp.OneMatrix(along, 1), c
    u = sp.MatrixSymbol("u", graph.size_of(node.indices[1 - axis]), 1)
    return (u * sp.OneMatrix(1, along), u) if axis == 1 else (sp.OneMatrix(along, 1) * u.T, u)


def _l2(lhs: HessianBlock, node: Node, size: sp.Expr, strength: sp.Expr) -> Fact:
    return Fact(
        "l2",
        lhs,
        DEFINITE,
        sp.S.Zero,
        "the L2 term adds {0} to a positive semi-definite block: every eigenvalue is at least {2} > 0, so the loss"
        " is strictly convex in {1} and the Newton step is defined",
        (strength * sp.Identity(size), sp.Symbol(node.name), strength),
    )


_BY_NUMBERS = "by its eigenvalues at random points (no general argument here: the numbers decide)"


# ---------------------------------------------------------------------------- matrix forms
def matrix_form(graph: Graph, factor: sp.Expr, pair: tuple[sp.Symbol, sp.Symbol]) -> sp.Basic | None:
    """The index form f over (row, column) as a matrix: delta_rc u_r -> diag(u), u_r v_c -> u v^T, a scalar
    factor kept; None when a term's factors do not split so (a product of two quantities at the row)."""
    row, column = pair
    size = _size(graph, row)
    if size is None:
        return None
    common, factor = factor.as_independent(row, column, as_Add=False)
    total = None
    for term in _terms(factor, row, column):
        coefficient, parts = term.as_independent(row, column)
        left, right, diagonal = sp.S.One, sp.S.One, False
        for part in sp.Mul.make_args(parts):
            if isinstance(part, sp.KroneckerDelta) and set(part.args) == {row, column}:
                diagonal = True
            elif part.has(row) and not part.has(column):
                left *= part
            elif part.has(column) and not part.has(row):
                right *= part
            else:
                return None
        vectors = [_vector(v, i, size) for v, i in ((left, row), (right, column))]
        if any(v is None for v in vectors):
            return None
        if diagonal:
            if left != 1 and right != 1:
                return None
            vector = vectors[0] if left != 1 else vectors[1]
            piece = sp.Identity(size) if isinstance(vector, sp.OneMatrix) else sp.DiagMatrix(vector)
        else:
            piece = vectors[0] * vectors[1].T
        piece = coefficient * piece if coefficient != 1 else piece
        total = piece if total is None else total + piece
    return common * total if common != 1 and total is not None else total


def _terms(factor: sp.Expr, row: sp.Symbol, column: sp.Symbol) -> list[sp.Expr]:
    """The terms of ``factor`` with the parts on the indices multiplied out, scalar factors kept as written."""
    found = []
    for term in sp.Add.make_args(factor):
        coefficient, parts = term.as_independent(row, column)
        found += [coefficient * t for t in sp.Add.make_args(sp.expand(parts))]
    return found


def _vector(expr: sp.Expr, index: sp.Symbol, size: sp.Symbol) -> sp.MatrixExpr | None:
    """u_r -> the column u (size x 1); 1 -> the ones; None for anything else."""
    if expr == 1:
        return sp.OneMatrix(size, 1)
    if isinstance(expr, sp.Indexed) and expr.indices == (index,):
        return sp.MatrixSymbol(str(expr.base.label), size, 1)
    return None


def _size(graph: Graph, index: sp.Symbol) -> sp.Symbol | None:
    return dict(graph.ranges).get(index)


# ---------------------------------------------------------------------------- the null direction
def row_sums(graph: Graph, factor: sp.Expr, pair: tuple[sp.Symbol, sp.Symbol]) -> tuple[Step, ...]:
    """Sum over the column of the factor's index form, reduced by the named rules (and each normalised
    definition's Sum_k a_k = 1): the steps; for softmax's diag(a) - a a^T they end at 0."""
    row, column = pair
    size = _size(graph, row)
    if size is None:
        return ()
    indices = Indices(graph)
    indices.ranges.setdefault(column, size)
    _, closing = reductions(graph, indices, assume=False)
    lhs = sp.Sum(factor, (column, 1, size))
    return tuple(reduce(lhs, lhs, chain(closing, *normalisations(graph), rules.RULES["factor"])))


def normalisations(graph: Graph) -> tuple[Rule, ...]:
    """Sum_k a_k -> 1 for each definition a_j = f(j) / Sum_m f(m), a quotient by its own sum: found from the
    definition (its numerator is the denominator's summand at j), not assumed."""
    found = []
    for node in graph.definitions:
        if len(node.indices) != 1:
            continue
        numerator, denominator = sp.fraction(node.expr)
        if not (isinstance(denominator, sp.Sum) and len(denominator.limits) == 1):
            continue
        (own,) = node.indices
        (dummy, _, _) = denominator.limits[0]
        if numerator.xreplace({own: dummy}) != denominator.function:
            continue
        found.append(_normalised(node))
    return tuple(found)


def _normalised(node: Node) -> Rule:
    base = node.base

    def apply(expr: sp.Expr) -> sp.Expr:
        def is_total(e: sp.Basic) -> bool:
            if not (isinstance(e, sp.Sum) and len(e.limits) == 1 and isinstance(e.function, sp.Indexed)):
                return False
            return e.function.base == base and e.function.indices == (e.limits[0][0],)

        return expr.replace(is_total, lambda e: sp.S.One)

    return Rule(
        f"normalised_{node.name}",
        "{0} divides by its own sum over the classes, so its entries sum to 1",
        apply,
        (node.ref,),
    )
