"""The graph of a model: inputs and parameters, definitions in order, the loss, and what is assumed.

A :class:`Graph` is what a model file says, as SymPy objects (:mod:`derive.graph.spec` reads it).
Each :class:`Node` is one declared name at its declared indices (``u_h``), with the expression that
defines it for definitions and the loss.  The edges are the names each expression uses:
:meth:`Graph.consumers` gives the nodes that use a node, which is what backpropagation walks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from derive.graph.reader import Quantity

INPUT, PARAMETER, DEFINITION, LOSS = "input", "parameter", "definition", "loss"


@dataclass(frozen=True)
class Node:
    """One declared name at its indices: ``key`` as written (``V_ih``), its kind, meaning and expression."""

    key: str
    quantity: Quantity
    indices: tuple[sp.Symbol, ...]
    kind: str
    meaning: str = ""
    expr: sp.Expr | None = None

    @property
    def name(self) -> str:
        return self.quantity.name

    @property
    def ref(self) -> sp.Expr:
        """The node at its own indices: V[i, h], or the symbol of a scalar."""
        return self.quantity.at(*self.indices)

    @property
    def base(self) -> sp.Basic:
        return self.quantity.base

    def uses(self, other: Node) -> bool:
        """Whether this node's expression mentions ``other``."""
        return self.expr is not None and mentions(self.expr, other)


def mentions(expr: sp.Expr, node: Node) -> bool:
    """Whether ``expr`` mentions the quantity of ``node`` (at any indices)."""
    if isinstance(node.base, sp.IndexedBase):
        return any(q.base == node.base for q in expr.atoms(sp.Indexed))
    return node.base in expr.free_symbols


@dataclass(frozen=True)
class Assumption:
    """A named equation the derivation may use, ``sum_j(P_j) = 1``."""

    name: str
    lhs: sp.Expr
    rhs: sp.Expr
    text: str


@dataclass(frozen=True, eq=False)
class Graph:
    """A model: its indices (index -> size), nodes in the file's order, the loss and assumptions.

    ``example`` holds the worked example's numbers when the file gives them (name -> nested lists).
    """

    name: str
    title: str
    ranges: tuple[tuple[sp.Symbol, sp.Symbol], ...]
    index_meanings: tuple[tuple[sp.Symbol, str], ...]
    inputs: tuple[Node, ...]
    parameters: tuple[Node, ...]
    definitions: tuple[Node, ...]
    loss: Node
    assumptions: tuple[Assumption, ...]
    example: tuple[tuple[str, object], ...] = ()

    @property
    def nodes(self) -> tuple[Node, ...]:
        return (*self.inputs, *self.parameters, *self.definitions, self.loss)

    @property
    def sizes(self) -> tuple[sp.Symbol, ...]:
        """The sizes the indices run to, each once, in the order of the indices."""
        return tuple(dict.fromkeys(size for _, size in self.ranges))

    def size_of(self, index: sp.Symbol) -> sp.Symbol:
        return dict(self.ranges)[index]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name or n.key == name:
                return n
        known = ", ".join(n.name for n in self.parameters)
        raise KeyError(f"model {self.name!r} has no {name!r} (its parameters: {known})")

    def consumers(self, node: Node) -> tuple[Node, ...]:
        """The definitions and the loss whose expressions use ``node``, in the file's order."""
        return tuple(n for n in (*self.definitions, self.loss) if n.uses(node))

    def signals(self) -> tuple[Node, ...]:
        """The definitions a parameter enters directly: their dH/d(node) are the named error signals."""
        return tuple(n for n in self.definitions if any(n.uses(p) for p in self.parameters))

    def depends(self, node: Node, on: Node) -> bool:
        """Whether ``node`` depends on ``on`` through the definitions."""
        return on.name in self._below[node.name]

    @cached_property
    def _below(self) -> dict[str, frozenset[str]]:
        """Every node's name -> the names of all nodes it depends on, found once in the file's order."""
        below: dict[str, frozenset[str]] = {}
        for node in (*self.inputs, *self.parameters, *self.definitions, self.loss):
            used = [n for n in self.nodes if n is not node and node.uses(n)]
            below[node.name] = frozenset(n.name for n in used).union(*(below.get(n.name, ()) for n in used))
        return below
