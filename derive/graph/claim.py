"""A claimed derivative for a model file, read in the file's own names: ``(1 - g_h**2)*sum_j(W_hj*delta_j)*x_i``.

The claim is read by the model file's reader (:class:`~derive.graph.reader.Reader`) over the graph's
scope: its inputs, parameters and definitions, and ``delta`` at an index for the error signal whose
index runs over that index's range (``delta_h`` = dH/du_h in the MLP).  The free indices of the claim
must be those of the parameter it claims the derivative by.
"""

from __future__ import annotations

import sympy as sp

from derive.graph.backprop import signal_ref
from derive.graph.graph import Graph, Node
from derive.graph.reader import Quantity, Reader, Scope, index_symbol
from derive.notation.bounds import ClaimError

SIGNAL = "delta"


def scope(graph: Graph) -> Scope:
    """The names a claim about ``graph`` may use: every index, and every declared quantity."""
    indices = {index.name: size for index, size in graph.ranges}
    quantities = {n.name: n.quantity for n in graph.nodes}
    return Scope(indices, quantities)


class ClaimReader(Reader):
    """The file's reader, with ``delta_q`` naming the error signal whose index runs like q."""

    def __init__(self, graph: Graph, where: str = "the claim"):
        super().__init__(scope(graph), where)
        self.graph = graph

    def _quantity(self, name: str, suffixes: list) -> sp.Expr:
        if name != SIGNAL or name in self.scope.quantities:
            return super()._quantity(name, suffixes)
        indices = self._subscript(suffixes, name) if suffixes else ()
        wanted = tuple(self.scope.size(i) for i in indices)
        found = [n for n in self.graph.signals() if tuple(self.graph.size_of(i) for i in n.indices) == wanted]
        shown = ", ".join(map(str, indices)) or "no index"
        if len(found) > 1:
            self.fail(f"delta over {shown} could be several signals ({_signals(self.graph)}); write out its sum")
        if not found:
            self.fail(f"no error signal runs over {shown} (signals: {_signals(self.graph)})")
        return signal_ref(self.graph, found[0], indices) if indices else signal_ref(self.graph, found[0])


def _signals(graph: Graph) -> str:
    return ", ".join(f"delta_{''.join(i.name for i in n.indices)} = dH/d{n.key}" for n in graph.signals()) or "none"


def read_claim(graph: Graph, wrt: Node, text: str) -> sp.Expr:
    """The claimed dH/d(wrt) as a SymPy expression; ClaimError naming what cannot be read."""
    expr = ClaimReader(graph).read(text)
    declared = {index_symbol(i.name) for i, _ in graph.ranges}
    free = expr.free_symbols & declared
    if free - set(wrt.indices):
        extra = min(free - set(wrt.indices), key=str)
        raise ClaimError(f"the claim has the free index {extra}, which dH/d{wrt.key} has not (sum over it?)")
    return expr


__all__ = ["ClaimReader", "Quantity", "read_claim", "scope"]
