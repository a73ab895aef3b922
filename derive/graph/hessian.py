"""Second derivatives: the engine differentiates its own first-derivative closed forms through the same graph.

For each pair of parameters (p, q), q at or after p in the file's order, the closed form dH/dp_I (x_i delta_j
for softmax regression) is the quantity backpropagated: the walk of :mod:`derive.graph.backprop` runs from it
back through the error signals (taken as definitions: delta_j = a_j - P_j) and the definitions to q, whose
indices take the second names (features i -> l, classes j -> k, hidden units h -> m), with the same rules: SymPy
differentiates each local definition (the softmax Jacobian a_k (delta_jk - a_j) comes out as a named step),
deltas are collapsed, sums split and factored; a last step factors the polynomial (each sum held as one
quantity), so the perceptron's blocks keep its signals and 1 - g_h^2.  For softmax regression this gives

    d2H/dW_ij/dW_lk = x_i x_l a_j (delta_jk - a_k)

whose matrix form is (diag(a) - a a^T) (x) x x^T (:mod:`derive.graph.structure`).  Nothing is typed in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

import sympy as sp

from derive.core.derivation import Step, reduce
from derive.core.strategies import Rule
from derive.graph.backprop import Indices, Walk, backprop, signal_base, substitute_signal
from derive.graph.graph import DEFINITION, LOSS, Graph, Node
from derive.graph.reader import Quantity, index_symbol

#: the second name of an index: the textbook's l for features after i, k for classes after j
PARTNERS = {"i": "l", "j": "k", "h": "m", "g": "f"}


@dataclass(frozen=True)
class SecondDerivative:
    """d2H / d first_I d second_L: its value in the model's names, and the steps that made it."""

    first: Node
    second: Node
    #: in the model's names and its error signals (delta_j, delta_h), as printed
    value: sp.Expr
    steps: tuple[Step, ...]
    #: the value with every error signal written out (what numbers and generated code evaluate)
    expanded: sp.Expr | None = None

    def __post_init__(self):
        if self.expanded is None:
            object.__setattr__(self, "expanded", self.value)

    @property
    def name(self) -> str:
        """d2H/dW_ij/dW_lk, as the command prints it."""
        return f"d2H/d{_key(self.first)}/d{_key(self.second)}"


def _key(node: Node) -> str:
    return node.name + ("_" + "".join(i.name for i in node.indices) if node.indices else "")


def second_derivatives(graph: Graph, assume: bool = True) -> tuple[SecondDerivative, ...]:
    """Every d2H/dp/dq for p, q parameters, q at or after p, in the file's order."""
    return _second(graph, bool(assume))


@cache
def _second(graph: Graph, assume: bool) -> tuple[SecondDerivative, ...]:
    bp = backprop(graph, assume)
    signals = _signal_nodes(graph, bp)
    found = []
    for n, first in enumerate(graph.parameters):
        gradient = bp.result(first.name)
        for second in graph.parameters[n:]:
            renamed = _renamed(graph, second, first)
            extra = {new: graph.size_of(old) for new, old in zip(renamed.indices, second.indices, strict=True)}
            derived = _differentiate(graph, signals, first, gradient, renamed, extra, assume)
            expanded = derived.value
            for signal in reversed(bp.signals):
                expanded = substitute_signal(expanded, signal)
            found.append(replace(derived, expanded=expanded))
    return tuple(found)


def _signal_nodes(graph: Graph, bp) -> tuple[Node, ...]:
    """The error signals as definitions (delta_h = (1 - g_h^2) Sum_j W_hj delta_j), in the order found (each after
    those it uses), so that the second walk goes through them and the blocks keep their names."""
    found = []
    for signal in bp.signals:
        node = signal.node
        ranges = tuple(graph.size_of(i) for i in node.indices)
        quantity = Quantity(f"delta^{node.name}", signal_base(graph, node), ranges)
        found.append(Node(str(signal.ref), quantity, node.indices, DEFINITION, "error signal", signal.value))
    return tuple(found)


def _renamed(graph: Graph, node: Node, first: Node) -> Node:
    """The second parameter at its second names: W_ij -> W_lk (never one of the first's indices)."""
    taken = {i.name for i in first.indices}
    new = []
    for index in node.indices:
        letter = PARTNERS.get(index.name)
        if letter is None or letter in taken or letter in {i.name for i, _ in graph.ranges}:
            letter = Indices(graph).fresh(index, {index_symbol(t) for t in taken}).name
        taken.add(letter)
        new.append(index_symbol(letter))
    return replace(node, indices=tuple(new))


def _differentiate(
    graph: Graph, signals: tuple, first: Node, gradient: sp.Expr, second: Node, extra: dict, assume: bool
) -> SecondDerivative:
    """d(gradient)/d(second) by the walk of backpropagation, the gradient standing where the loss stood."""
    reserved = frozenset((*first.indices, *second.indices))
    definitions, ranges = _relabeled(graph, (*graph.definitions, *signals), reserved, extra)
    symbol = sp.Symbol(f"(dH/d{_key(first)})", real=True)
    loss = Node("dH", Quantity("dH", symbol, ()), (), LOSS, "", gradient)
    parameters = tuple(second if p.name == second.name else p for p in graph.parameters)
    pseudo = replace(graph, definitions=definitions, loss=loss, parameters=parameters, ranges=ranges)
    walk = Walk(pseudo, assume, reserved, signals=False)
    for node in reversed(definitions):
        if pseudo.depends(loss, node):
            walk.visit(node)
    if pseudo.depends(loss, second):
        walk.visit(second)
        # a sum's own letter never one of the block's free indices (Sum_k P_k beside the second index k)
        value = walk.indices.rename_bound(walk.adjoint[second.name], set(reserved))
        factored = reduce(walk.steps[-1].lhs, value, FACTOR_POLYNOMIAL)
        walk.steps.extend(factored)
        value = factored[-1].rhs if factored else value
    else:
        value = sp.S.Zero
    return SecondDerivative(first, second, value, tuple(walk.steps))


def _factor_polynomial(expr: sp.Expr) -> sp.Expr:
    """The block factored as a polynomial in the model's quantities, each sum held as one quantity, with
    (u + 1)(u - 1) written as the tanh derivative's 1 - u^2; kept only when shorter (a product stays as it is)."""
    ridge = [t for t in sp.Add.make_args(expr) if _ridge(t)]  # an L2 term's lambda delta_il delta_jk stays apart
    rest = sp.Add(*(t for t in sp.Add.make_args(expr) if not _ridge(t)))
    held = {s: sp.Dummy() for s in sorted(rest.atoms(sp.Sum), key=sp.default_sort_key)}
    factored = _one_minus(_squares(sp.factor(rest.xreplace(held)))).xreplace({d: s for s, d in held.items()})
    factored = sp.Add(*ridge, factored)
    return factored if sp.count_ops(factored) < sp.count_ops(expr) else expr


def _ridge(term: sp.Expr) -> bool:
    """A number times Kronecker deltas alone: lambda delta_il delta_jk."""
    coefficient, deltas = term.as_independent(sp.KroneckerDelta)
    factors = sp.Mul.make_args(deltas)
    return coefficient.is_number and deltas != 1 and all(isinstance(f, sp.KroneckerDelta) for f in factors)


def _squares(expr: sp.Expr) -> sp.Expr:
    """(u + 1)(u - 1) c -> (1 - u^2)(-c): the form in which tanh's derivative is written."""
    if not isinstance(expr, sp.Mul):
        return expr
    factors = list(expr.args)
    for plus in factors:
        u = plus - 1
        if isinstance(plus, sp.Add) and u + -1 in factors and not u.is_number:
            rest = list(factors)
            rest.remove(plus)
            rest.remove(u - 1)
            return (1 - u**2) * -sp.Mul(*rest)
    return expr


def _one_minus(expr: sp.Expr) -> sp.Expr:
    """-(u - 1) c -> (1 - u) c: sigma (1 - sigma), not -(sigma - 1) sigma."""
    if not isinstance(expr, sp.Mul) or not expr.could_extract_minus_sign():
        return expr
    coefficient, factors = expr.as_coeff_mul()
    for factor in factors:
        if isinstance(factor, sp.Add) and len(factor.args) == 2 and -1 in factor.args:
            rest = list(factors)
            rest.remove(factor)
            return -coefficient * (1 - (factor + 1)) * sp.Mul(*rest)
    return expr


FACTOR_POLYNOMIAL = Rule(
    "factor_polynomial",
    "factor the polynomial in the model's quantities (each sum held as one)",
    _factor_polynomial,
)


def _relabeled(graph: Graph, nodes: tuple, reserved: frozenset, extra: dict) -> tuple[tuple[Node, ...], tuple]:
    """Each definition at indices that none of the differentiated quantities uses (a_j -> a_m when j is taken),
    and the ranges of every index then in use."""
    indices = Indices(graph, reserved)
    found = []
    for node in nodes:
        mapping = {i: indices.fresh(i, set(node.indices)) for i in node.indices if i in reserved}
        found.append(
            replace(
                node,
                indices=tuple(mapping.get(i, i) for i in node.indices),
                expr=indices.rename_free(node.expr, mapping),
            )
        )
    return tuple(found), tuple({**indices.ranges, **extra}.items())


@dataclass(frozen=True)
class Kronecker:
    """A block d2H/dp_ij/dp_lk = A_jk B_il (a scalar times each, when p has one index): the block is A (x) B."""

    derivative: SecondDerivative
    outer: tuple[sp.Symbol, sp.Symbol]
    outer_factor: sp.Expr
    inner: tuple[sp.Symbol, sp.Symbol]
    inner_factor: sp.Expr


def kronecker(second: SecondDerivative) -> Kronecker | None:
    """The block of one parameter with itself as a Kronecker product of a factor over its last indices (classes)
    and a factor over its first (features), when its product of factors splits so; None otherwise."""
    first, other = second.first, second.second
    if first.name != other.name or not first.indices:
        return None
    pairs = list(zip(first.indices, other.indices, strict=True))
    groups = {pair: [] for pair in pairs}
    for factor in sp.Mul.make_args(second.value):
        used = [pair for pair in pairs if set(pair) & factor.free_symbols]
        if len(used) > 1:
            return None
        groups[used[0] if used else pairs[-1]].append(factor)
    inner = pairs[0]
    outer = pairs[-1] if len(pairs) > 1 else pairs[0]
    if len(pairs) > 2:
        return None
    inner_factor = sp.Mul(*groups[inner]) if len(pairs) > 1 else sp.S.One
    outer_factor = sp.Mul(*groups[outer]) if len(pairs) > 1 else sp.Mul(*groups[inner])
    return Kronecker(second, outer, outer_factor, inner, inner_factor)
