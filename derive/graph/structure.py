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
    """The facts about one parameter's block, with the index forms of its two factors (for the numeric checks)."""

    parameter: Node
    block: Kronecker
    facts: tuple[Fact, ...]
    #: Sum_k A_jk reduced to 0 by the rules: the null direction is derived
    null: bool
    #: lambda of an L2 term that the block carries (lambda delta_il delta_jk), else 0
    strength: sp.Expr


def structures(graph: Graph, seconds: tuple[SecondDerivative, ...]) -> tuple[Structure, ...]:
    """The structure of every block of one parameter with itself that splits into two factors."""
    found = []
    for second in seconds:
        strength, rest = _l2_part(second)
        block = kronecker(SecondDerivative(second.first, second.second, rest, second.steps))
        if block is not None:
            found.append(_structure(graph, block, strength))
    return tuple(found)


def _l2_part(second: SecondDerivative) -> tuple[sp.Expr, sp.Expr]:
    """(lambda, the rest) for a block lambda delta_il delta_jk + rest of a parameter with itself, the ridge term of
    ``--l2``; (0, the block) otherwise."""
    if second.first.name != second.second.name or not second.first.indices:
        return sp.S.Zero, second.expanded
    wanted = {frozenset(p) for p in zip(second.first.indices, second.second.indices, strict=True)}
    strength, rest = sp.S.Zero, []
    for term in sp.Add.make_args(second.expanded):
        coefficient, deltas = term.as_independent(sp.KroneckerDelta)
        factors = sp.Mul.make_args(deltas)
        deltas_only = all(isinstance(d, sp.KroneckerDelta) for d in factors) and len(factors) == len(wanted)
        if coefficient.is_number and deltas_only and {frozenset(d.args) for d in factors} == wanted:
            strength += coefficient
            continue
        rest.append(term)
    return strength, sp.factor_terms(sp.Add(*rest))


def _structure(graph: Graph, block: Kronecker, strength: sp.Expr) -> Structure:
    node = block.derivative.first
    size = sp.Mul(*(graph.size_of(i) for i in node.indices))
    lhs = HessianBlock(graph.loss.ref, node.base, size)
    outer = matrix_form(graph, block.outer_factor, block.outer)
    inner = matrix_form(graph, block.inner_factor, block.inner) if len(node.indices) > 1 else None
    null_steps = row_sums(graph, block)
    null = bool(null_steps) and null_steps[-1].rhs == 0
    facts = []
    if outer is not None and (inner is not None or len(node.indices) == 1):
        facts += _semidefinite(lhs, block, outer, inner, null_steps if null else ())
    if null and outer is not None:
        moved = _null_move(graph, node)
        facts.append(
            Fact(
                "null_direction",
                outer * sp.OneMatrix(outer.shape[0], 1),
                EQUALS,
                sp.ZeroMatrix(outer.shape[0], 1),
                "so adding {0} to {1} changes nothing, for any {2} (the rows sum to zero): H is not strictly convex in"
                " {1}, and Newton's method needs an L2 term or a pseudo-inverse",
                (moved[0], sp.Symbol(node.name), moved[1]),
            )
        )
    if strength != 0:
        facts.append(
            Fact(
                "l2",
                lhs + strength * sp.Identity(size),
                DEFINITE,
                sp.S.Zero,
                "the L2 term adds {0}: every eigenvalue is at least {2} > 0, so the loss is strictly convex in {1}"
                " and the Newton step is defined",
                (strength * sp.Identity(size), sp.Symbol(node.name), strength),
            )
        )
    return Structure(node, block, tuple(facts), null, strength)


def _null_move(graph: Graph, node: Node) -> tuple[sp.Basic, sp.Basic]:
    """u 1^T (u over the features) for a weight matrix, c 1 for a vector: the direction the rows' zero sums give."""
    classes = graph.size_of(node.indices[-1])
    if len(node.indices) > 1:
        u = sp.MatrixSymbol("u", graph.size_of(node.indices[0]), 1)
        return u * sp.OneMatrix(1, classes), u
    c = sp.Symbol("c", real=True)
    return c * sp.OneMatrix(classes, 1), c


def _probabilities(outer: sp.MatrixExpr) -> sp.Basic:
    """a, the vector whose diag(a) - a a^T the factor is (its scalar factor aside)."""
    diagonals = list(outer.atoms(sp.DiagMatrix))
    return diagonals[0].args[0] if diagonals else outer


def _semidefinite(lhs: HessianBlock, block: Kronecker, outer, inner, null_steps: tuple) -> list[Fact]:
    """The matrix form, each factor positive semi-definite, so the block: convex."""
    whole = outer if inner is None else sp.KroneckerProduct(outer, inner)
    facts = [
        Fact(
            "kronecker_form" if inner is not None else "matrix_form",
            lhs,
            EQUALS,
            whole,
            "per sample, read off {0}: a term with a Kronecker delta is a diagonal matrix, a factor at the row times"
            " one at the column an outer product"
            + ("; the factor over the classes, then the one over the features (entries class-major)" if inner else ""),
            (block.derivative.value,),
        )
    ]
    if null_steps:
        facts.append(
            Fact(
                "covariance",
                outer,
                SEMIDEFINITE,
                sp.S.Zero,
                "{0} is the covariance matrix of a one-hot vector drawn with the probabilities {1} (positive, and"
                " summing to one: the rules derive that its rows sum to zero, below), and a covariance matrix is"
                " positive semi-definite",
                (outer, _probabilities(outer)),
                tuple(null_steps),
            )
        )
    else:
        facts.append(Fact("semidefinite", outer, SEMIDEFINITE, sp.S.Zero, _BY_NUMBERS))
    if inner is not None:
        facts.append(
            Fact(
                "gram",
                inner,
                SEMIDEFINITE,
                sp.S.Zero,
                "a vector times itself transposed (a Gram matrix): its quadratic form is a square",
            )
        )
    facts.append(
        Fact(
            "convex",
            lhs,
            SEMIDEFINITE,
            sp.S.Zero,
            ("the eigenvalues of a Kronecker product are the products of its factors'; " if inner is not None else "")
            + "a mean over the samples of positive semi-definite matrices is one: H is convex in {0} (the other"
            " parameters held)",
            (sp.Symbol(lhs.parameter.name),),
        )
    )
    return facts


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
            piece = sp.DiagMatrix(vectors[0] if left != 1 else vectors[1])
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
def row_sums(graph: Graph, block: Kronecker) -> tuple[Step, ...]:
    """Sum_k A_jk reduced by the named rules (and each normalised definition's Sum_k a_k = 1): the steps."""
    row, column = block.outer
    size = _size(graph, row)
    if size is None:
        return ()
    indices = Indices(graph)
    indices.ranges.setdefault(column, size)
    indices.ranges.setdefault(row, size)
    _, closing = reductions(graph, indices, assume=False)
    lhs = sp.Sum(block.outer_factor, (column, 1, size))
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
