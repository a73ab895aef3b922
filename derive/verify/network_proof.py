"""The element-wise proof for any model file: at concrete sizes, every entry of every parameter's gradient.

``sympy.diff`` of the fully expanded loss by each of 101,770 parameters of the MLP at d = 784, M = 128,
K = 10 would take hours; this proof exploits the layer structure instead, while every entry stays a real
derivative that is checked.  With explicit entries (x[3], V[3, 7], u[7], ...) for every quantity:

1. Each definition entry is written out (its sums expanded: u[7] = c[7] + V[1, 7] x[1] + ... + V[784, 7] x[784]).
2. Walking from the loss back, the derivative of the loss by each entry e of a node v is the multivariate
   chain rule, dH/dv[e] = Sum over the entries f of the nodes c that use v of dH/dc[f] * dc[f]/dv[e],
   where SymPy differentiates each written-out c[f] by v[e] (term by term: only the terms that hold v[e]).
3. dH/dc[f] there is the engine's closed form at f, already proven equal to the true derivative one step
   earlier (for an error signal, its name delta[f]).  So each entry's identity is small: the chain-rule sum
   equals the engine's closed form at e, shown by structural equality, by expansion, or, where
   definitions must be written out (a softmax, a tanh), by putting them in, exp(.) replaced by positive
   symbols, the labels' last entry by the assumption, and the numerator of the difference expanded to 0.
4. A few entries of each parameter are also checked against central finite differences of the loss.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.graph.backprop import Backprop, backprop, signal_ref
from derive.graph.graph import LOSS, Graph, Node
from derive.verify import network

#: refuse sizes that could not finish in minutes
MAX_ENTRIES = 2_000_000
#: parameter entries per parameter also checked by finite differences, and the largest relative deviation
#: accepted (central differences with step 1e-6 of a loss of up to 10^5 terms stay far below it)
SPOT_CHECKS = 3
SPOT_TOLERANCE = 1e-3
#: refuse definitions whose written-out terms would number more than this
MAX_TERMS = 5_000_000


class ProofError(AssertionError):
    """An entry's chain-rule derivative differs from the engine's closed form: the engine would be wrong."""


@dataclass(frozen=True)
class NetworkProof:
    """What was proven at concrete sizes, and how long it took."""

    model: str
    sizes: dict[str, int]
    assume: bool
    entries: int
    identities: int
    written_out: int
    spot_checked: int
    max_spot_error: float
    seconds: float

    def summary(self) -> str:
        sizes = ", ".join(f"{k} = {v}" for k, v in self.sizes.items())
        return (
            f"proved {self.entries} parameter entries of {self.model} ({sizes}): each by the chain rule through the "
            f"written-out definitions; {self.identities} node identities, {self.written_out} needing definitions "
            f"put in; {self.spot_checked} entries against finite differences (max relative deviation "
            f"{self.max_spot_error:.1e}); {self.seconds:.2f} s"
        )


# ---------------------------------------------------------------------------- written-out expressions
def entries(graph: Graph, node: Node, sizes: dict[str, int]) -> list[tuple[int, ...]]:
    ranges = [range(1, sizes[graph.size_of(i).name] + 1) for i in node.indices]
    return list(itertools.product(*ranges))


def at(node: Node, entry: tuple[int, ...]) -> sp.Expr:
    return node.quantity.at(*entry) if node.indices else node.base


def written_out(expr: sp.Expr, assignment: dict, sizes: dict[sp.Symbol, int]) -> sp.Expr:
    """``expr`` at concrete indices, every sum written out as the sum of its terms."""

    def expand(s: sp.Sum) -> sp.Expr:
        terms = [s.function]
        for var, lo, hi in s.limits:
            lo, hi = int(lo.xreplace(sizes)), int(hi.xreplace(sizes))
            terms = [t.xreplace({var: n}) for t in terms for n in range(lo, hi + 1)]
        return sp.Add(*terms)

    if assignment and expr.has(sp.Sum):
        expr = expr.replace(lambda e: isinstance(e, sp.Sum), lambda e: _bound_apart(e, set(assignment)))
    fixed = expr.xreplace(assignment)
    return fixed.replace(lambda e: isinstance(e, sp.Sum), expand) if fixed.has(sp.Sum) else fixed


class Instances:
    """A closed form at many concrete entries: a product's factors written out once per value of their own
    indices (x[3] once, not once per entry of V[3, h]), the product of the cached factors at each entry."""

    def __init__(self, expr: sp.Expr, indices: tuple[sp.Symbol, ...], sizes: dict):
        self.indices, self.sizes = indices, sizes
        self.factors = sp.Mul.make_args(expr)
        self.uses = [tuple(n for n, i in enumerate(indices) if i in f.free_symbols) for f in self.factors]
        self.cache: list[dict] = [{} for _ in self.factors]

    def at(self, entry: tuple[int, ...]) -> sp.Expr:
        parts = []
        for factor, uses, cache in zip(self.factors, self.uses, self.cache, strict=True):
            key = tuple(entry[n] for n in uses)
            if key not in cache:
                assignment = {self.indices[n]: entry[n] for n in uses}
                cache[key] = written_out(factor, assignment, self.sizes)
            parts.append(cache[key])
        return sp.Mul(*parts)


def written_terms(graph: Graph, sizes: dict[str, int]) -> int:
    """About how many terms the written-out definitions and loss have: entries times the lengths of their sums."""
    total = 0
    for node in (*graph.definitions, graph.loss):
        length = 1
        for s in node.expr.atoms(sp.Sum):
            for _, _, hi in s.limits:
                length *= sizes.get(str(hi), 1)
        total += len(entries(graph, node, sizes)) * max(length, 1)
    return total


def _bound_apart(s: sp.Sum, taken: set) -> sp.Sum:
    """The sum with each summation index that ``taken`` holds renamed to a dummy (so that putting numbers in for
    the free indices leaves the bound ones alone)."""
    function, limits = s.function, []
    for var, lo, hi in s.limits:
        if var in taken:
            dummy = sp.Dummy(var.name, integer=True, positive=True)
            function, var = function.xreplace({var: dummy}), dummy
        limits.append((var, lo, hi))
    return sp.Sum(function, *limits)


def partials(expr: sp.Expr, base: sp.Basic) -> dict[sp.Basic, sp.Expr]:
    """d expr / d entry for every entry of ``base`` in ``expr``, differentiating only the terms that hold it."""
    groups: dict[sp.Basic, list[sp.Expr]] = defaultdict(list)
    for term in sp.Add.make_args(expr) if isinstance(expr, sp.Add) else (expr,):
        for entry in _entries_in(term, base):
            groups[entry].append(term)
    return {entry: sp.Add(*(_linear_part(t, entry) for t in terms)) for entry, terms in groups.items()}


def _linear_part(term: sp.Expr, entry: sp.Basic) -> sp.Expr:
    """d term / d entry: the other factors when the entry is a plain factor of the term, SymPy's diff otherwise."""
    if term == entry:
        return sp.S.One
    if isinstance(term, sp.Mul):
        factors = term.args
        if factors.count(entry) == 1 and not any(f.has(entry) for f in factors if f != entry):
            return sp.Mul(*(f for f in factors if f != entry))
    return sp.diff(term, entry)


def _entries_in(expr: sp.Expr, base: sp.Basic) -> set:
    if isinstance(base, sp.IndexedBase):
        return {q for q in expr.atoms(sp.Indexed) if q.base == base}
    return {base} & expr.free_symbols


# ---------------------------------------------------------------------------- the proof
def prove(
    graph: Graph, sizes: dict[str, int], assume: bool = True, progress: bool = False, seed: int = 0
) -> NetworkProof:
    """Prove every parameter entry's closed form at ``sizes``; ProofError for the first that differs."""
    from tqdm import tqdm

    start = time.perf_counter()
    bp = backprop(graph, assume)
    proof = _Proof(graph, bp, sizes, assume)
    parameters = sum(len(entries(graph, p, sizes)) for p in graph.parameters)
    if parameters > MAX_ENTRIES:
        raise ValueError(f"{parameters} parameter entries: more than the limit {MAX_ENTRIES} of the proof")
    terms = written_terms(graph, sizes)
    if terms > MAX_TERMS:
        raise ValueError(f"the written-out definitions would have {terms} terms: more than the limit {MAX_TERMS}")
    with tqdm(total=parameters, desc="proving", unit="entry", disable=not progress, leave=False) as bar:
        for node in (*reversed(graph.definitions), *graph.parameters):
            if graph.depends(graph.loss, node):
                proof.node(node, bar if node.kind == "parameter" else None)
    spot, error = _spot_check(graph, bp, sizes, seed)
    if error > SPOT_TOLERANCE:
        raise ProofError(f"finite differences differ from the closed forms by {error:.1e} (relative) at random entries")
    seconds = time.perf_counter() - start
    return NetworkProof(graph.name, dict(sizes), assume, parameters, proof.identities, proof.hard, spot, error, seconds)


class _Proof:
    """The walk of one proof: the written-out definitions and the proven derivatives so far."""

    def __init__(self, graph: Graph, bp: Backprop, sizes: dict[str, int], assume: bool):
        self.graph, self.bp, self.assume = graph, bp, assume
        self.sizes = {size: sizes[size.name] for size in graph.sizes}
        self.written = {n.name: self._write(n) for n in (*graph.definitions, graph.loss)}
        self.known: dict[sp.Basic, sp.Expr] = {}
        #: each definition's written-out entries, by the definition's name
        self.definitions = {n.name: dict(self.written[n.name]) for n in graph.definitions}
        self.identities = self.hard = 0
        self.labels = self._label_rule() if assume else {}

    def _write(self, node: Node) -> list[tuple[sp.Basic, sp.Expr]]:
        return [
            (at(node, e), written_out(node.expr, dict(zip(node.indices, e, strict=True)), self.sizes))
            for e in entries(self.graph, node, {k.name: v for k, v in self.sizes.items()})
        ]

    def node(self, node: Node, bar=None) -> None:
        """dH/d(every entry of node) by the chain rule, each proven equal to the closed form there."""
        derivative: dict[sp.Basic, sp.Expr] = defaultdict(lambda: sp.S.Zero)
        for consumer in self.graph.consumers(node):
            if consumer.kind != LOSS and not self.graph.depends(self.graph.loss, consumer):
                continue
            for ref, expr in self.written[consumer.name]:
                upstream = sp.S.One if consumer.kind == LOSS else self.known[ref]
                for entry, d in partials(expr, node.base).items():
                    derivative[entry] += upstream * d
        closed = Instances(self.bp.adjoint(node.name), node.indices, self.sizes)
        signal = node.name in {s.node.name for s in self.bp.signals}
        later = self._after(node)
        for ref, entry in self._entries(node, derivative):
            truth = closed.at(entry)
            self._equal(derivative.get(ref, sp.S.Zero), truth, ref, later)
            if node.kind != "parameter":  # a parameter's derivative is used by no node below it
                self.known[ref] = signal_ref(self.graph, node, entry or None) if signal else truth
            if bar is not None:
                bar.update(1)

    def _entries(self, node: Node, derivative: dict):
        """(entry's symbol, its indices) for every entry of the node, in order: those the chain rule reached first,
        read off their symbols, then the rest (whose derivative is 0)."""
        size = {k.name: v for k, v in self.sizes.items()}
        everything = entries(self.graph, node, size)
        reached = sorted(
            ((ref, tuple(int(i) for i in ref.indices) if node.indices else ()) for ref in derivative),
            key=lambda pair: pair[1],
        )
        yield from reached
        if len(reached) != len(everything):
            seen = {entry for _, entry in reached}
            yield from ((at(node, entry), entry) for entry in everything if entry not in seen)

    def _after(self, node: Node) -> dict:
        """The written-out entries of the definitions after ``node`` (those that depend on it)."""
        names = [n.name for n in self.graph.definitions]
        start = names.index(node.name) + 1 if node.name in names else 0
        return {ref: expr for name in names[start:] for ref, expr in self.definitions[name].items()}

    def _equal(self, chain: sp.Expr, truth: sp.Expr, ref: sp.Basic, later: dict) -> None:
        """chain == truth: as they are, expanded, or with the later definitions put in (one level at a time)."""
        self.identities += 1
        if chain == truth or sp.expand(chain - truth) == 0:
            return
        self.hard += 1
        difference = chain - truth
        for _ in range(len(self.graph.definitions) + 1):
            if sp.expand(sp.numer(sp.together(self._positive(difference)))) == 0:
                return
            deeper = difference.xreplace(later)
            if deeper == difference:
                break
            difference = deeper
        raise ProofError(f"dH/d{ref}: the chain rule gives {chain}, the closed form {truth}")

    def _positive(self, expr: sp.Expr) -> sp.Expr:
        """The labels by the assumption, and exp(.) as positive symbols (exp(n u) as the n-th power of one)."""
        expr = sp.expand(expr.xreplace(self.labels), power_exp=True, mul=False, multinomial=False)
        symbols: dict[sp.Expr, sp.Dummy] = {}

        def positive(e: sp.exp) -> sp.Expr:
            coefficient, rest = e.args[0].as_coeff_Mul()
            if not coefficient.is_Integer:
                coefficient, rest = sp.S.One, e.args[0]
            return symbols.setdefault(rest, sp.Dummy("E", positive=True)) ** coefficient

        return expr.replace(lambda e: isinstance(e, sp.exp), positive)

    def _label_rule(self) -> dict:
        """An assumption Sum_j P_j = 1 written as P[K] = 1 - P[1] - ... - P[K-1]."""
        found = {}
        for assumption in self.graph.assumptions:
            total = written_out(assumption.lhs, {}, self.sizes)
            terms = sp.Add.make_args(total)
            if all(isinstance(t, sp.Indexed) for t in terms) and len(terms) > 1:
                last = max(terms, key=lambda t: t.indices)
                found[last] = assumption.rhs - sp.Add(*(t for t in terms if t != last))
        return found


def _spot_check(graph: Graph, bp: Backprop, sizes: dict[str, int], seed: int) -> tuple[int, float]:
    """A few entries of each parameter against central finite differences of the loss, at a random point."""
    arrays = network.random_arrays(graph, sizes, batch=2, seed=seed)
    derived = network.evaluate(graph, bp, arrays).gradients
    rng = np.random.default_rng(seed)
    count, worst = 0, 0.0
    for parameter in graph.parameters:
        value = np.array(arrays[parameter.name], dtype=float)
        for _ in range(SPOT_CHECKS):
            position = tuple(int(rng.integers(0, n)) for n in value.shape)
            numeric = network._difference(graph, arrays, parameter.name, value, position, 1e-6)
            worst = max(worst, abs(derived[parameter.name][position] - numeric) / (abs(numeric) + 1e-5))
            count += 1
    return count, worst
