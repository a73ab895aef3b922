"""A claimed derivative for a model file, read in the file's own names: ``(1 - g_h**2)*sum_j(W_hj*delta_j)*x_i``.

The claim is read by the model file's reader (:class:`~derive.graph.reader.Reader`) over the graph's
scope: its inputs, parameters and definitions, and ``delta`` at an index for the error signal whose
index runs over that index's range (``delta_h`` = dH/du_h in the MLP); ``delta_jk`` at two indices of one range
is the Kronecker delta, when no signal has two indices.  The free indices of the claim
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
        if not found and len(indices) == 2 and wanted[0] == wanted[1]:
            return sp.KroneckerDelta(*indices)  # delta_jk: 1 when j = k, the Kronecker delta
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


def read_second_claim(graph: Graph, first: Node, second: Node, original: Node, text: str) -> sp.Expr:
    """A claimed d2H/d first_I d second_L in the file's names, the second's indices at their second names (l, k)."""
    extra = {i.name: graph.size_of(o) for i, o in zip(second.indices, original.indices, strict=True)}
    reader = ClaimReader(graph, "the claim")
    reader.scope = Scope({**reader.scope.indices, **extra}, reader.scope.quantities)
    expr = reader.read(text)
    allowed = {*first.indices, *second.indices}
    declared = {index_symbol(name) for name in reader.scope.indices}
    extra_free = (expr.free_symbols & declared) - allowed
    if extra_free:
        name = min(extra_free, key=str)
        raise ClaimError(f"the claim has the free index {name}, which d2H/d{first.key}/d{second.name} has not")
    return expr
