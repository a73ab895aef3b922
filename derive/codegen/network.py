"""The program of any model file's generated module: forward pass, loss, error signals, gradients.

From the graph and its backpropagation (:mod:`derive.graph.backprop`), :func:`program` makes the
statements of ``loss_and_grad`` for a batch (a leading axis N on every input), printed by
:class:`~derive.printing.tensor.TensorPrinter`: each definition in order, the loss of each sample, the
error signals from the loss back, and each parameter's closed form as a mean over the batch (its sum
over samples is an einsum, so ``dH/dW_hj = g_h delta_j`` becomes ``einsum("Nh,Nj->hj", g, delta_z) / N``).

Before printing, the loss is made finite for any input by named rewrites (:data:`STABLE`), each the
engine's own :class:`~derive.core.strategies.Rule`, built from the graph's definitions:

==========================  =============================================================
rewrite                     for a definition
==========================  =============================================================
log(a_q) -> z_q - lse(z)    a_j = softmax(z)_j  (the log-softmax; lse = log Sum exp)
log(s) -> -softplus(-u)     s = sigmoid(u)
log(1 - s) -> -softplus(u)  s = sigmoid(u)
log(mu) -> eta              mu = exp(eta)
==========================  =============================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.core.primitives import sigmoid, softplus
from derive.core.strategies import Rule, chain, run
from derive.graph.backprop import Backprop
from derive.graph.graph import Graph, Node, mentions
from derive.printing.tensor import BATCH
from derive.verify.network import printer, signal_name


@dataclass(frozen=True)
class Argument:
    """A parameter or an input of the generated functions: its name, sizes (by name) and whether batched."""

    name: str
    sizes: tuple[str, ...]
    batched: bool
    meaning: str

    @property
    def sizes_literal(self) -> str:
        """The sizes as a Python tuple, as ruff formats it: ("d", "M"), ("M",), ()."""
        inner = ", ".join(f'"{s}"' for s in self.sizes)
        return f"({inner},)" if len(self.sizes) == 1 else f"({inner})"

    @property
    def shape(self) -> str:
        dims = ("N", *self.sizes) if self.batched else self.sizes
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


@dataclass(frozen=True)
class NetworkProgram:
    """What the module computes, as printed statements: ``(variable, code)`` pairs in order."""

    name: str
    title: str
    arguments: tuple[Argument, ...]
    forward: tuple[tuple[str, str], ...]
    #: the definitions that the (rewritten) loss needs: ``loss`` computes only these
    for_loss: tuple[str, ...]
    losses: str
    signals: tuple[tuple[str, str], ...]
    gradients: tuple[tuple[str, str], ...]
    rewrites: tuple[str, ...]

    @property
    def parameters(self) -> tuple[Argument, ...]:
        return tuple(a for a in self.arguments if not a.batched)


def program(graph: Graph, bp: Backprop) -> NetworkProgram:
    """The statements of the generated module for ``graph`` (with the signals and results of ``bp``)."""
    tensor = printer(graph, bp)
    loss, applied = run(chain(*stable_rules(graph)), graph.loss.expr)
    forward = tuple((n.name, tensor.doprint(n.expr, (BATCH, *n.indices))) for n in graph.definitions)
    needed = _needed(graph, [loss])
    signals = tuple((signal_name(s.node), tensor.doprint(s.value, (BATCH, *s.node.indices))) for s in bp.signals)
    gradients = tuple((p.name, tensor.batch_mean(r, p.indices, "n_samples")) for p, r in bp.results)
    arguments = tuple(_argument(graph, n) for n in (*graph.parameters, *graph.inputs))
    rewrites = tuple(dict.fromkeys(a.rule.name for a in applied))
    return NetworkProgram(
        graph.name,
        graph.title,
        arguments,
        forward,
        tuple(name for name, _ in forward if name in needed),
        tensor.doprint(loss, (BATCH,)),
        signals,
        gradients,
        rewrites,
    )


def _needed(graph: Graph, exprs: list[sp.Expr]) -> set[str]:
    """The definitions that ``exprs`` use, directly or through other definitions."""
    found: set[str] = set()
    for node in reversed(graph.definitions):
        if any(mentions(e, node) for e in exprs) or any(d.uses(node) for d in graph.definitions if d.name in found):
            found.add(node.name)
    return found


def _argument(graph: Graph, node: Node) -> Argument:
    sizes = tuple(graph.size_of(i).name for i in node.indices)
    return Argument(node.name, sizes, node.kind == "input", node.meaning)


# ---------------------------------------------------------------------------- stabilising rewrites
def stable_rules(graph: Graph) -> tuple[Rule, ...]:
    """The rewrites of :data:`STABLE` that the graph's definitions call for, in the file's order."""
    found = []
    for node in graph.definitions:
        for maker in STABLE:
            rule = maker(node)
            if rule is not None:
                found.append(rule)
    return tuple(found)


def _log_softmax(node: Node) -> Rule | None:
    """log(a_q) -> z_q - log Sum_m exp(z_m) for a_j = exp(z_j) / Sum_m exp(z_m)."""
    numerator, denominator = sp.fraction(node.expr)
    if not (isinstance(numerator, sp.exp) and isinstance(denominator, sp.Sum) and len(node.indices) == 1):
        return None
    (index,) = node.indices
    logits, total = numerator.args[0], sp.log(denominator)
    hole = sp.Wild("q")

    def apply(expr: sp.Expr) -> sp.Expr:
        return expr.replace(sp.log(node.quantity.at(hole)), logits.xreplace({index: hole}) - total)

    return Rule(f"log_softmax_{node.name}", f"log {node.name}_q = z_q - log Sum exp: finite for any logits", apply)


def _log_sigmoid(node: Node) -> Rule | None:
    """log(s) -> -softplus(-u) and log(1 - s) -> -softplus(u) for s = sigmoid(u)."""
    if not isinstance(node.expr, sigmoid):
        return None
    (u,) = node.expr.args
    s = node.ref

    def apply(expr: sp.Expr) -> sp.Expr:
        return expr.xreplace({sp.log(s): -softplus(-u), sp.log(1 - s): -softplus(u)})

    return Rule(
        f"log_sigmoid_{node.name}", f"log {node.name} = -softplus(-u), log(1 - {node.name}) = -softplus(u)", apply
    )


def _log_exp(node: Node) -> Rule | None:
    """log(mu) -> eta for mu = exp(eta)."""
    if not isinstance(node.expr, sp.exp):
        return None
    holes = {i: sp.Wild(f"w_{i.name}") for i in node.indices}
    pattern = sp.log(node.quantity.at(*holes.values()))
    value = node.expr.args[0].xreplace(holes)

    def apply(expr: sp.Expr) -> sp.Expr:
        return expr.replace(pattern, value) if holes else expr.xreplace({sp.log(node.ref): node.expr.args[0]})

    return Rule(f"log_exp_{node.name}", f"log {node.name} = its exponent: no overflow", apply)


STABLE = (_log_softmax, _log_sigmoid, _log_exp)


# ---------------------------------------------------------------------------- second derivatives
@dataclass(frozen=True)
class HessianProgram:
    """The statements of ``hessian`` and ``hvp``: one block per pair of parameters (code over the first's then the
    second's indices, means over the batch), and for each parameter the code of its part of H v."""

    blocks: tuple[tuple[str, str, str], ...]
    products: tuple[tuple[str, str], ...]


def direction(node: Node) -> sp.Basic:
    """The direction v for a parameter in hvp: v_W at W's indices."""
    name = f"v_{node.name}"
    return sp.IndexedBase(name) if node.indices else sp.Symbol(name, real=True)


def hessian_program(graph: Graph, seconds) -> HessianProgram:
    """``hessian``'s blocks and ``hvp``'s products from the engine's second derivatives (no matrix in hvp)."""
    tensor = printer(graph, None)
    tensor.names |= {direction(p): direction(p).name for p in graph.parameters}
    tensor.sizes = _size_codes(graph, seconds)
    blocks, parts = [], {p.name: [] for p in graph.parameters}
    for second in seconds:
        first, other = second.first, second.second
        axes = (*first.indices, *other.indices)
        blocks.append((first.name, other.name, tensor.batch_mean(second.value, axes, "n_samples")))
        parts[first.name].append(_contracted(tensor, second.value, other, first.indices))
        if other.name != first.name:
            parts[other.name].append(_contracted(tensor, second.value, first, other.indices))
    products = tuple((name, " + ".join(codes)) for name, codes in parts.items())
    return HessianProgram(tuple(blocks), products)


def _contracted(tensor, value: sp.Expr, along: Node, free: tuple) -> str:
    """Mean over the batch of Sum over ``along``'s indices of value * v_along: one part of H v (term by term: a
    term that does not depend on the sample, such as the 1 of a squared error's d2H/db/db, is not averaged)."""
    v = direction(along)
    pieces = []
    for part in sp.Add.make_args(value):
        term = part * (v[along.indices] if along.indices else v)
        limits = [(i, 1, sp.Symbol("size")) for i in along.indices]
        if BATCH in tensor.array(term).axes:
            summed = sp.Sum(term, *limits, (BATCH, 1, sp.Symbol("n_samples")))
            pieces.append(f"{tensor.doprint(summed, free)} / n_samples")
        else:
            pieces.append(tensor.doprint(sp.Sum(term, *limits) if limits else term, free))
    return " + ".join(pieces)


def _size_codes(graph: Graph, seconds) -> dict:
    """Every index of the second derivatives -> ``sizes["K"]``, the generated code's size of its range."""
    found = {i: f'sizes["{size.name}"]' for i, size in graph.ranges}
    for second in seconds:
        original = graph.node(second.second.name)
        found |= {
            new: f'sizes["{graph.size_of(old).name}"]'
            for new, old in zip(second.second.indices, original.indices, strict=True)
        }
        for s in second.value.atoms(sp.Sum):
            found |= {var: f'sizes["{hi}"]' for var, _, hi in s.limits}
    return found
