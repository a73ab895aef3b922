"""Tangents: how the model's quantities move along a direction of its parameters (forward mode).

The Hessian times a direction v is the directional derivative of the gradient,

    H v = d/de  dH/dtheta (theta + e v)  at e = 0,

so the engine gets it without a second derivative per pair of parameters: each definition's *tangent*
(its change along v, written d_z for z) comes from the definitions below it by the chain rule forward,

    d_c_K = Sum_I dc_K/dv_I  d_v_I    (d_v is v_W for a parameter W),

with each local derivative differentiated by SymPy and reduced by the same named rules as
backpropagation (:func:`derive.graph.backprop.reductions`).  The error signals are swept after the
definitions (delta_h's tangent from delta_j's), and each parameter's part of H v is the tangent of its own
closed form.  For softmax regression, z_j = Sum_i W_ij x_i + b_j and a = softmax(z):

    d_z_j = Sum_i x_i v_W_ij + v_b_j,    d_a_j = a_j d_z_j - a_j Sum_k a_k d_z_k,
    d_delta_j = d_a_j Sum_k P_k,    (H v)_W_ij = x_i d_delta_j  (averaged over the samples),

one product with the inputs per pass, where contracting the 4-index block d2H/dW_ij/dW_lk with v_W makes
an (N, K, K) array.  The tests hold it to the Hessian's own blocks: ``hvp`` equals ``hessian @ v``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from derive.core.derivation import Step, reduce
from derive.core.strategies import Rule, chain, run
from derive.graph.backprop import Indices, backprop, reduced, reductions
from derive.graph.graph import Graph, Node


@dataclass(frozen=True)
class Tangent:
    """One quantity's change along the directions: ``ref`` (d_z_j) and its value in named terms."""

    node: Node
    #: the quantity it is the tangent of: the definition z_j, or an error signal delta_j
    of: sp.Expr
    ref: sp.Expr
    value: sp.Expr


@dataclass(frozen=True, eq=False)
class Tangents:
    """The definitions' tangents in the file's order (those that move with the parameters), and for each
    parameter the tangent of its gradient: its part of H v, per sample (the mean over samples is H v)."""

    graph: Graph
    definitions: tuple[Tangent, ...]
    products: tuple[tuple[Node, sp.Expr], ...]
    steps: tuple[Step, ...]


def direction(node: Node) -> sp.Basic:
    """The direction v for a parameter: v_W at W's indices (a symbol for a scalar parameter)."""
    return _named(f"v_{node.name}", node)


def tangent_base(node: Node) -> sp.Basic:
    """The name of a definition's tangent: d_z for z (model files' names have no underscore)."""
    return _named(f"d_{node.name}", node)


def _named(name: str, node: Node) -> sp.Basic:
    return sp.IndexedBase(name) if node.indices else sp.Symbol(name, real=True)


def _tangent_of(base: sp.Basic) -> sp.Basic:
    """d_delta for an error signal delta (its shape kept: the perceptron's two deltas are two names)."""
    if isinstance(base, sp.IndexedBase):
        return sp.IndexedBase(f"d_{base.name}", shape=base.shape)
    return sp.Symbol(f"d_{base.name}", real=True)


def _at(base: sp.Basic, indices: tuple) -> sp.Expr:
    return base[indices] if indices else base


def tangents(graph: Graph, assume: bool = False) -> Tangents:
    """Every definition's and error signal's tangent, and every parameter's part of H v: the tangent of its
    closed form from :func:`derive.graph.backprop.backprop`, in terms of the signals and theirs."""
    return _tangents(graph, bool(assume))


@cache
def _tangents(graph: Graph, assume: bool) -> Tangents:
    bp = backprop(graph, assume)
    forward = _Forward(graph, assume)
    for node in graph.definitions:
        if any(graph.depends(node, p) for p in graph.parameters):
            forward.sweep(node, node.ref, node.expr)
    for signal in bp.signals:
        forward.sweep(signal.node, signal.ref, signal.value)
    products = tuple(
        (p, forward.along(bp.result(p.name), p.indices, _at(direction(p), p.indices))) for p in graph.parameters
    )
    for tangent in forward.found:
        reduced(tangent.node, tangent.value, f"the tangent {tangent.ref} (for hvp)")
    for node, value in products:
        reduced(node, value, f"the part of H v for {node.key}")
    return Tangents(graph, tuple(forward.found), products, tuple(forward.steps))


def _collect_sums(expr: sp.Expr) -> sp.Expr:
    """Terms that share a sum written as one product: each sum computed once by the generated code."""
    if not isinstance(expr, sp.Add):
        return expr
    sums = sorted(expr.atoms(sp.Sum), key=sp.default_sort_key)
    collected = sp.collect(expr, sums)
    return collected if sp.count_ops(collected) < sp.count_ops(expr) else expr


COLLECT_SUMS = Rule("collect_sums", "the terms that share a sum, collected", _collect_sums)


def base_of(ref: sp.Expr) -> sp.Basic:
    """The name of a quantity at its indices: delta for delta_j, z for z_j, b for a scalar b."""
    return ref.base if isinstance(ref, sp.Indexed) else ref


class _Forward:
    """The state of one forward sweep: the tangents found so far and the steps that made them."""

    def __init__(self, graph: Graph, assume: bool):
        self.graph, self.indices = graph, Indices(graph)
        self.local, self.closing = reductions(graph, self.indices, assume)
        #: the quantity's name (an IndexedBase or a symbol) -> its indices and the name of its tangent
        self.moving = {p.base: (p.indices, direction(p)) for p in graph.parameters}
        self.found: list[Tangent] = []
        self.steps: list[Step] = []

    def sweep(self, node: Node, ref: sp.Expr, value: sp.Expr) -> None:
        """The tangent of ``ref`` = ``value`` (a definition, or an error signal at its node's indices)."""
        name = tangent_base(node) if ref == node.ref else _tangent_of(base_of(ref))
        tangent = _at(name, node.indices)
        self.found.append(Tangent(node, ref, tangent, self.along(value, node.indices, tangent)))
        self.moving[base_of(ref)] = (node.indices, name)

    def along(self, expr: sp.Expr, free: tuple, lhs: sp.Expr) -> sp.Expr:
        """The change of ``expr`` (free indices ``free``) along the directions, reduced by the named rules."""
        self._register(expr)
        terms = [self._through(expr, free, base) for base in self.moving if _mentions(expr, base)]
        if not terms:
            return sp.S.Zero
        product = sp.Add(*terms, evaluate=False) if len(terms) > 1 else terms[0]
        self.steps.append(Step("chain_rule_forward", lhs, product, "the change of each quantity it uses, forward"))
        self.steps.extend(reduce(lhs, product, chain(self.closing, COLLECT_SUMS)))
        return self.steps[-1].rhs

    def _through(self, expr: sp.Expr, free: tuple, base: sp.Basic) -> sp.Expr:
        """Sum over M of d(expr)/d(base_M) times base's tangent at M (M fresh indices)."""
        indices, tangent = self.moving[base]
        taken = set(free) | expr.atoms(sp.Symbol)
        at = []
        for index in indices:
            at.append(self.indices.fresh(index, taken))
            taken.add(at[-1])
        safe = self.indices.rename_bound(expr, set(at))
        local, _ = run(self.local, sp.diff(safe, _at(base, tuple(at))))
        term = local * _at(tangent, tuple(at))
        paired = {i for d in local.atoms(sp.KroneckerDelta) for i in d.args}
        # innermost first the indices a delta pairs: SymPy's doit stops at the first sum it cannot evaluate
        for index in sorted(at, key=lambda i: i not in paired):
            term = sp.Sum(term, (index, 1, self.indices.ranges[index]))
        return term

    def _register(self, expr: sp.Expr) -> None:
        """The ranges of the summation indices of ``expr`` (fresh letters of backpropagation), for the rules."""
        for s in expr.atoms(sp.Sum):
            for var, _, upper in s.limits:
                self.indices.ranges.setdefault(var, upper)


def _mentions(expr: sp.Expr, base: sp.Basic) -> bool:
    if isinstance(base, sp.IndexedBase):
        return any(q.base == base for q in expr.atoms(sp.Indexed))
    return base in expr.free_symbols
