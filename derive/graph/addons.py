"""Add-ons for a model file's graph: the L2 penalty (lambda/2) Sum W^2 on its weights, as the built-ins' --l2 has it.

The weights are the parameters with two or more indices (matrices); vectors and scalars (biases) are not
penalised.  The penalty is added to the loss expression itself, so that every derivation, check and
generated module sees it as if the file had written it.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import sympy as sp

from derive.graph.graph import Graph


def with_l2(graph: Graph, strength: float) -> Graph:
    """The graph whose loss is H + (strength/2) Sum over every weight matrix's entries of their squares."""
    weights = [p for p in graph.parameters if len(p.indices) >= 2]
    if not weights:
        raise ValueError(f"{graph.name} has no weight matrix (a parameter with two indices) to penalise")
    penalty = sp.Add(*(sp.Sum(p.ref**2, *((i, 1, graph.size_of(i)) for i in p.indices)) for p in weights))
    lam = sp.Rational(Fraction(strength).limit_denominator(10**12))
    loss = replace(graph.loss, expr=graph.loss.expr + lam / 2 * penalty)
    return replace(graph, loss=loss, title=f"{graph.title}, with the L2 penalty ({strength:g}/2) Sum W^2")
