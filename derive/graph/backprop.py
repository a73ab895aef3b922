"""Backpropagation over a model's graph, step by step: the chain rule over any chain of definitions.

The engine walks the graph from the loss back to each parameter (:func:`backprop`).  For a node v
(a definition, then each parameter) it states the chain rule over the nodes c that use v,

    dH/dv_I = Sum_K' dH/dc_K' * dc_K'/dv_I

lets SymPy differentiate each local definition (dc_K'/dv_I: Kronecker deltas and index-in-range
conditions come out, the definitions above are named back: tanh(u_h) -> g_h, the softmax quotient
-> a_k), puts in what is known of dH/dc (an error signal's name, or its value), and reduces the
product by the named rules of :mod:`derive.core.rules` (deltas collapsed, sums split and factored,
the file's assumptions).  The definitions that a parameter enters directly get a name for their
dH/dv, the error signal delta, which the nodes below reuse: for the two-layer perceptron
delta_j = a_j - P_j, delta_h = (1 - g_h^2) Sum_j W_hj delta_j, dH/dW_hj = delta_j g_h.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from derive.core import rules
from derive.core.derivation import CHAIN, FACTOR, MAIN, Step, reduce
from derive.core.errors import InputError
from derive.core.strategies import Rule, chain, where
from derive.graph.graph import LOSS, Graph, Node
from derive.graph.reader import index_symbol

#: letters a fresh index may take, tried after the letter it stands in for
LETTERS = "abcdefghijklmnopqrstuvw"


@dataclass(frozen=True)
class Signal:
    """An error signal: the name ``ref`` (delta_j) given to dH/d(node) and its value in named terms."""

    node: Node
    ref: sp.Expr
    value: sp.Expr


@dataclass(frozen=True, eq=False)
class Backprop:
    """The steps from the loss back to every parameter, the error signals, and each parameter's closed form."""

    graph: Graph
    assumptions: tuple[str, ...]
    steps: tuple[Step, ...]
    signals: tuple[Signal, ...]
    results: tuple[tuple[Node, sp.Expr], ...]
    #: dH/d(node) for every definition and parameter the loss depends on, in named terms (a signal's value
    #: for a signal node, not its name)
    adjoints: tuple[tuple[str, sp.Expr], ...] = ()

    def adjoint(self, name: str) -> sp.Expr:
        return dict(self.adjoints)[name]

    def lhs(self, node: Node) -> sp.Derivative:
        return sp.Derivative(self.graph.loss.ref, node.ref)

    def result(self, name: str) -> sp.Expr:
        """The closed form of dH/d(parameter) in terms of the definitions and error signals."""
        wanted = self.graph.node(name)
        return {n.name: r for n, r in self.results}[wanted.name]

    def expanded(self, name: str) -> sp.Expr:
        """The closed form with every error signal replaced by its value (the definitions stay named)."""
        expr = self.result(name)
        for signal in reversed(self.signals):
            expr = substitute_signal(expr, signal)
        return expr


# ---------------------------------------------------------------------------- indices
class Indices:
    """The ranges of every index in a derivation, and fresh indices for renaming."""

    def __init__(self, graph: Graph, reserved: frozenset = frozenset()):
        self.ranges = dict(graph.ranges)
        self.declared = {s.name for s in self.ranges}
        #: indices no fresh index may take (the free indices of what is differentiated, for second derivatives)
        self.reserved = {s.name for s in reserved}

    def fresh(self, like: sp.Symbol, avoid: set) -> sp.Symbol:
        """A new index with the range of ``like``, named after it: j -> k, h -> p (not a declared letter)."""
        start = LETTERS.index(like.name[0]) + 1 if like.name[0] in LETTERS else 0
        names = {s.name for s in avoid} | self.reserved
        for letter in LETTERS[start:] + LETTERS[:start]:
            candidate = index_symbol(letter)
            size = self.ranges.get(candidate)
            if letter not in names and (size == self.ranges[like] or (size is None and letter not in self.declared)):
                self.ranges[candidate] = self.ranges[like]
                return candidate
        raise ValueError(f"no letter left for a fresh index like {like}")

    def rename_bound(self, expr: sp.Expr, avoid: set) -> sp.Expr:
        """Every summation index of ``expr`` that is in ``avoid`` renamed to a fresh one."""

        def rename(s: sp.Sum) -> sp.Sum:
            function, limits, taken = s.function, [], set(avoid) | s.free_symbols
            for var, lo, hi in s.limits:
                if var in avoid or isinstance(var, sp.Dummy):
                    new = self.fresh(var if var in self.ranges else _like(var, hi, self.ranges), taken)
                    function, var = function.xreplace({var: new}), new
                taken.add(var)
                limits.append((var, lo, hi))
            return sp.Sum(function, *limits)

        return expr.replace(lambda e: isinstance(e, sp.Sum), rename)

    def rename_free(self, expr: sp.Expr, mapping: dict) -> sp.Expr:
        """Free indices renamed by ``mapping``, summation indices moved out of the way first."""
        if not mapping:
            return expr
        safe = self.rename_bound(expr, set(mapping) | set(mapping.values()))
        return safe.xreplace(mapping)

    def in_range(self) -> Rule:
        """Piecewise((f, 1 <= n <= N), (0, True)) -> f for an index n that runs to N."""
        return Rule("index_in_range", "the index lies in its range", where(self._holds, lambda e: e.args[0][0]))

    def _holds(self, e: sp.Basic) -> bool:
        if not (isinstance(e, sp.Piecewise) and len(e.args) == 2 and e.args[1] == (0, True)):
            return False
        cond = e.args[0][1]
        relations = cond.args if isinstance(cond, sp.And) else (cond,)
        return all(self._known(r) for r in relations)

    def _known(self, relation: sp.Basic) -> bool:
        if relation is sp.true:
            return True
        if not isinstance(relation, (sp.GreaterThan, sp.LessThan, sp.StrictLessThan, sp.StrictGreaterThan)):
            return False
        small, large = relation.lts, relation.gts
        below = small in self.ranges and self.ranges[small] == large
        above = large in self.ranges and small == 1
        return below or above


def _like(var: sp.Symbol, upper: sp.Expr, ranges: dict) -> sp.Symbol:
    """A known index with the range ``upper`` (to name a fresh one after it)."""
    for index, size in ranges.items():
        if size == upper:
            return index
    raise ValueError(f"no index runs to {upper}")


# ---------------------------------------------------------------------------- naming
def naming_rules(graph: Graph) -> tuple[Rule, ...]:
    """One rule per nonlinear definition, naming its expression back: tanh(u_h) -> g_h, the softmax -> a_k."""
    found = []
    for node in reversed(graph.definitions):
        expr = node.expr
        if _is_quotient_of_sums(expr) and len(node.indices) == 1:
            found.append(rules.name_quantity(node.ref, expr, node.indices[0], "name {0} = {1}", (node.ref, expr)))
        elif isinstance(expr, sp.Function) or not (
            expr.has(sp.Sum) or isinstance(expr, (sp.Add, sp.Indexed, sp.Symbol))
        ):
            found.append(_name_instances(node))  # tanh(Sum_h U_hg u_h) too: a function of a sum, never a sum
    return tuple(found)


def _is_quotient_of_sums(expr: sp.Expr) -> bool:
    _, denominator = sp.fraction(expr)
    return isinstance(denominator, sp.Sum)


def _name_instances(node: Node) -> Rule:
    """The definition's expression at any indices, whatever its sums' own letters: tanh(Sum_n U_ng u_n) -> s_g."""
    holes = {i: sp.Wild(f"w_{i.name}") for i in node.indices}
    pattern = node.expr.xreplace(holes).as_dummy()
    kind = type(node.expr)

    def instance(e: sp.Basic) -> dict | None:
        return e.as_dummy().match(pattern) if isinstance(e, kind) else None

    def apply(expr: sp.Expr) -> sp.Expr:
        return expr.replace(lambda e: instance(e) is not None, lambda e: node.quantity.at(*_at(instance(e), holes)))

    return Rule(f"name_{node.name}", "name {0} = {1}", apply, (node.ref, node.expr))


def _at(found: dict, holes: dict) -> tuple:
    return tuple(found[hole] for hole in holes.values())


def signal_base(graph: Graph, node: Node) -> sp.Basic:
    """delta, at the node's indices; delta^z when two signals would share a range of indices."""
    signals = graph.signals()
    shapes = [tuple(graph.size_of(i) for i in s.indices) for s in signals]
    unique = len(set(shapes)) == len(shapes)
    label = "delta" if unique else f"delta^{node.name}"
    if not node.indices:
        return sp.Symbol(label, real=True)
    return sp.IndexedBase(label, shape=tuple(graph.size_of(i) for i in node.indices))


def signal_ref(graph: Graph, node: Node, indices: tuple | None = None) -> sp.Expr:
    base = signal_base(graph, node)
    return base[tuple(node.indices if indices is None else indices)] if node.indices else base


def substitute_signal(expr: sp.Expr, signal: Signal) -> sp.Expr:
    """Replace delta_q by the signal's value at q, whatever q is."""
    if not signal.node.indices:
        return expr.xreplace({signal.ref: signal.value})
    base, own = signal.ref.base, signal.ref.indices

    def value(e: sp.Indexed) -> sp.Expr:
        return signal.value.xreplace(dict(zip(own, e.indices, strict=True)))

    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base == base, value)


# ---------------------------------------------------------------------------- the walk
def backprop(graph: Graph, assume: bool = True) -> Backprop:
    """Every parameter's dH/d(parameter), from the loss back through the definitions, step by step."""
    return _backprop(graph, bool(assume))


@cache
def _backprop(graph: Graph, assume: bool) -> Backprop:
    walk = Walk(graph, assume)
    for node in (*reversed(graph.definitions), *graph.parameters):
        if graph.depends(graph.loss, node):
            walk.visit(node)
    results = tuple((p, walk.adjoint[p.name]) for p in graph.parameters)
    for node, value in (*results, *((s.node, s.value) for s in walk.signals)):
        reduced(node, value)
    used = tuple(a.name for a in graph.assumptions) if assume else ()
    return Backprop(graph, used, tuple(walk.steps), tuple(walk.signals), results, tuple(walk.values.items()))


def reductions(graph: Graph, indices: Indices, assume: bool) -> tuple[Rule, Rule]:
    """The two chains of named rules a derivation over the graph reduces by: ``local`` for one definition's
    derivative (deltas collapsed, indices in range, definitions named back), ``closing`` for a chain-rule
    product (sums split and factored, the file's assumptions when ``assume``)."""
    naming = naming_rules(graph)
    local = chain(rules.RULES["collapse_delta"], indices.in_range(), *naming)
    assumed = [_assumption_rule(a) for a in graph.assumptions] if assume else []
    closing = chain(
        rules.RULES["evaluate_product"],
        *naming,
        only_when(rules.RULES["cancel"], _has_quotient),
        only_when(rules.RULES["split_sum"], _has_sum),
        rules.RULES["collapse_delta"],
        indices.in_range(),
        # again once the sums are gone: s_j (1 - s_j) (-y_j/s_j + (1 - y_j)/(1 - s_j)) -> s_j - y_j
        only_when(rules.RULES["cancel"], _has_quotient),
        rules.RULES["factor_out_of_sum"],
        *assumed,
        rules.RULES["factor"],
    )
    return local, closing


class Walk:
    """The state of one backpropagation: adjoints found so far, steps, signals (second derivatives walk the same
    way from a closed form, with the indices of what is differentiated reserved and no signals named)."""

    def __init__(self, graph: Graph, assume: bool, reserved: frozenset = frozenset(), signals: bool = True):
        self.graph, self.indices = graph, Indices(graph, reserved)
        self.adjoint: dict[str, sp.Expr] = {}
        self.values: dict[str, sp.Expr] = {}
        self.steps: list[Step] = []
        self.signals: list[Signal] = []
        self.signal_nodes = {n.name for n in graph.signals()} if signals else set()
        self.local, self.closing = reductions(graph, self.indices, assume)
        self.order = _definitions_first(graph)

    def visit(self, node: Node) -> None:
        lhs = sp.Derivative(self.graph.loss.ref, node.ref)
        consumers = [c for c in self.graph.consumers(node) if self._reaches(c)]
        parts = [self._through(consumer, node) for consumer in consumers]
        if consumers == [self.graph.loss]:  # the loss uses the node directly: its derivative is the result
            self._result(node, lhs, self.steps[-1].rhs)
            return
        statement = sp.Add(*(p[0] for p in parts), evaluate=False) if len(parts) > 1 else parts[0][0]
        product = sp.Add(*(p[1] for p in parts), evaluate=False) if len(parts) > 1 else parts[0][1]
        via = ", ".join(f"{{{n + 2}}}" for n in range(len(consumers)))
        terms = (node.ref, self.graph.loss.ref, *(c.ref for c in consumers))
        self.steps.append(Step("chain_rule", lhs, statement, "{0} enters {1} only through " + via, CHAIN, terms))
        self.steps.append(Step("substitute_factors", lhs, product, "put the local derivatives into the chain rule"))
        self.steps.extend(reduce(lhs, product, self.closing))
        self._result(node, lhs, self.steps[-1].rhs)

    def _result(self, node: Node, lhs: sp.Derivative, value: sp.Expr) -> None:
        """Keep dH/d(node); a signal node's value gets its name, delta."""
        if node.name in self.signal_nodes:
            ref = signal_ref(self.graph, node)
            value = self.order(value)
            self.signals.append(Signal(node, ref, value))
            self.steps.append(
                Step(
                    "name_signal",
                    ref,
                    value,
                    "name the error signal {0} = {1}, which the nodes below reuse",
                    MAIN,
                    (ref, lhs),
                )
            )
            self.values[node.name] = value
            value = ref
        self.values.setdefault(node.name, value)
        self.adjoint[node.name] = value

    def _reaches(self, consumer: Node) -> bool:
        return consumer.kind == LOSS or consumer.name in self.adjoint

    def _through(self, consumer: Node, node: Node) -> tuple[sp.Expr, sp.Expr]:
        """The chain-rule term through ``consumer``: as a statement, and with its factors put in."""
        own = set(node.indices)
        mapping = {i: self.indices.fresh(i, own | set(consumer.indices)) for i in consumer.indices if i in own}
        at = tuple(mapping.get(i, i) for i in consumer.indices)
        local = self._local(consumer, node, mapping, at)
        upstream, named = self._upstream(consumer, at)
        statement = _over(
            sp.Mul(named, sp.Derivative(consumer.quantity.at(*at), node.ref), evaluate=False), at, self.indices
        )
        product = _over(sp.Mul(upstream, local, evaluate=False) if upstream != 1 else local, at, self.indices)
        return statement, product

    def _local(self, consumer: Node, node: Node, mapping: dict, at: tuple) -> sp.Expr:
        """d(consumer)/d(node), differentiated by SymPy from the consumer's definition and reduced."""
        expr = self.indices.rename_free(consumer.expr, mapping)
        expr = self.indices.rename_bound(expr, set(node.indices) | set(at))
        lhs = sp.Derivative(consumer.quantity.at(*at), node.ref)
        raw = sp.diff(expr, node.ref)
        self.steps.append(
            Step(
                "differentiate",
                lhs,
                raw,
                "SymPy differentiates the definition of {0} with respect to {1}",
                FACTOR,
                (lhs.expr, node.ref),
            )
        )
        self.steps.extend(reduce(lhs, raw, self.local, FACTOR))
        return self.steps[-1].rhs

    def _upstream(self, consumer: Node, at: tuple) -> tuple[sp.Expr, sp.Expr]:
        """dH/d(consumer) at indices ``at``: its value (or signal) and how the statement names it."""
        if consumer.kind == LOSS:
            return sp.Integer(1), sp.Integer(1)
        named = sp.Derivative(self.graph.loss.ref, consumer.quantity.at(*at))
        if consumer.name in self.signal_nodes:
            return signal_ref(self.graph, consumer, at), named
        mapping = dict(zip(consumer.indices, at, strict=True))
        return self.indices.rename_free(
            self.adjoint[consumer.name], {k: v for k, v in mapping.items() if k != v}
        ), named


def _over(expr: sp.Expr, indices: tuple, ranges: Indices) -> sp.Expr:
    """Sum over each of ``indices`` (the consumer's), or expr itself for a scalar consumer."""
    for index in reversed(indices):
        expr = sp.Sum(expr, (index, 1, ranges.ranges[index]))
    return expr


def _definitions_first(graph: Graph) -> Rule:
    """a_j - P_j rather than -P_j + a_j: what the model computes first, the inputs (labels) after."""
    inputs = {n.base for n in graph.inputs}

    def mentions_input(term: sp.Expr) -> bool:
        return any(q.base in inputs for q in term.atoms(sp.Indexed)) or bool(term.free_symbols & inputs)

    def apply(expr: sp.Expr) -> sp.Expr:
        if not isinstance(expr, sp.Add) or isinstance(expr, rules.WrittenSum):
            return expr
        terms = sorted(expr.args, key=lambda t: (mentions_input(t), t.could_extract_minus_sign()))
        return rules.WrittenSum.written(*terms)

    return Rule("definitions_first", "write the model's quantities first and the inputs after", apply)


def only_when(rule: Rule, condition) -> Rule:
    """The rule, applied only to expressions for which ``condition`` holds: a product of n factors such as
    (1 - g_1^2)(1 - g_2^2)... is left as it is, not expanded into 2^n terms."""
    return Rule(rule.name, rule.justification, lambda e: rule.apply(e) if condition(e) else e, rule.terms)


def _has_sum(expr: sp.Expr) -> bool:
    return expr.has(sp.Sum) or expr.has(sp.KroneckerDelta)


def _has_quotient(expr: sp.Expr) -> bool:
    return any(p.exp.is_negative for p in expr.atoms(sp.Pow))


class Unreduced(InputError):
    """The named rules leave a Kronecker delta or an index condition in a result: derive cannot simplify it."""


def reduced(node: Node, value: sp.Expr, what: str | None = None) -> None:
    """One line instead of a result that the printers and generated code cannot use (``what`` names it: dH/du_h
    unless said)."""
    if value.has(sp.KroneckerDelta) or value.has(sp.Piecewise):
        raise Unreduced(
            f"{what or 'dH/d' + node.key}: the rules leave a Kronecker delta or an index condition ({str(value)[:60]}...);"
            " write the definition with its sums over distinct indices, one per sum"
        )


def _assumption_rule(assumption) -> Rule:
    return rules.substitute(
        assumption.name, assumption.lhs, assumption.rhs, f"assumed: {assumption.text}", (assumption.lhs,)
    )
