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
from derive.graph.tangent import Tangents, base_of, direction
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
    """The statements of ``hessian`` (one block per pair of parameters: code over the first's then the second's
    indices, means over the batch) and of ``hvp``: the forward pass, the error signals, the tangents along the
    directions (``d_z = ...``, :mod:`derive.graph.tangent`), then each parameter's part of H v."""

    blocks: tuple[tuple[str, str, str], ...]
    statements: tuple[tuple[str, str], ...]
    products: tuple[tuple[str, str], ...]


def hessian_program(graph: Graph, bp: Backprop, seconds, moves: Tangents) -> HessianProgram:
    """``hessian``'s blocks from the engine's second derivatives; ``hvp`` from the tangents of the closed forms
    (``bp`` without assumptions, as ``moves``): no matrix, and one pass over the samples for each product that
    the forward pass and the tangents make with them (x W and x v_W together: :func:`shared_products`)."""
    tensor = printer(graph, None)  # the blocks with their signals written out: hessian computes no signal
    tensor.sizes = _size_codes(graph, seconds)
    blocks = tuple(
        (s.first.name, s.second.name, tensor.batch_mean(s.expanded, (*s.first.indices, *s.second.indices), "n_samples"))
        for s in seconds
    )
    tensor = printer(graph, bp)
    for p in graph.parameters:
        tensor.names[direction(p)] = direction(p).name
    for t in moves.definitions:
        tensor.names[base_of(t.ref)] = f"d_{tensor.names[base_of(t.of)]}"
        tensor.batched.add(base_of(t.ref))
    sweep = [(n.base, n.expr, n.indices) for n in graph.definitions]
    sweep += [(base_of(s.ref), s.value, s.node.indices) for s in bp.signals]
    sweep += [(base_of(t.ref), t.value, t.node.indices) for t in moves.definitions]
    sweep = _live(sweep, [value for _, value in moves.products])
    shared, exprs = shared_products(graph, tensor, [expr for _, expr, _ in sweep])
    statements = shared + tuple(
        (tensor.names[base], tensor.doprint(expr, (BATCH, *indices)))
        for (base, _, indices), expr in zip(sweep, exprs, strict=True)
    )
    products = tuple((p.name, tensor.batch_mean(value, p.indices, "n_samples")) for p, value in moves.products)
    return HessianProgram(blocks, statements, products)


def _live(sweep: list, results: list[sp.Expr]) -> list:
    """The statements ``(base, expr, indices)`` that the results need, directly or through later statements."""
    used = set().union(*(_bases(r) for r in results))
    kept = []
    for base, expr, indices in reversed(sweep):
        if base in used:
            kept.append((base, expr, indices))
            used |= _bases(expr)
    return kept[::-1]


def _bases(expr: sp.Expr) -> set:
    return {q.base for q in expr.atoms(sp.Indexed)} | expr.free_symbols


def shared_products(graph: Graph, tensor, exprs: list[sp.Expr]) -> tuple[tuple[tuple[str, str], ...], list]:
    """Products of the same input with a parameter and with its direction (Sum_i x_i W_ij and Sum_i x_i v_W_ij)
    made in one pass over the samples, ``prod_x_W, prod_x_v_W = np.split(([W | v_W].T @ x.T).T, 2, axis=1)``:
    the statements, and ``exprs`` with each such sum replaced by its name (prod_x_W_j).  Reading x (N d numbers)
    is what such a product costs; made apart, x is read once for each."""
    owners = {p.base: p.name for p in graph.parameters} | {direction(p): p.name for p in graph.parameters}
    found: dict[tuple, dict] = {}
    for expr in exprs:
        for candidate in sorted(expr.atoms(sp.Sum), key=sp.default_sort_key):
            match = _data_product(candidate, tensor.data, owners)
            if match is not None:
                data, matrix, position = match
                group = found.setdefault((data.base, position, owners[matrix.base]), {})
                group.setdefault(matrix.base, []).append((candidate, matrix.indices[1 - position]))
    statements, replacements = [], {}
    for (data, position, _), by_matrix in found.items():
        if len(by_matrix) < 2:
            continue
        # prod_ and two underscores: no model name (no underscore), direction (v_W) or tangent (d_z) is one
        names = [f"prod_{tensor.names[data]}_{tensor.names[m]}{'_T' if position else ''}" for m in by_matrix]
        if set(names) & set(tensor.names.values()):
            continue
        stacked = f"np.concatenate([{', '.join(tensor.names[m] for m in by_matrix)}], axis={1 - position})"
        product = f"({stacked}{'.T' if position == 0 else ''} @ {tensor.names[data]}.T).T"
        statements.append((", ".join(names), f"np.split({product}, {len(names)}, axis=1)"))
        for name, uses in zip(names, by_matrix.values(), strict=True):
            base = sp.IndexedBase(name)
            tensor.names[base] = name
            tensor.batched.add(base)
            replacements |= {candidate: base[kept] for candidate, kept in uses}
    return tuple(statements), [e.xreplace(replacements) for e in exprs]


def _data_product(candidate: sp.Sum, data: frozenset, owners: dict):
    """(x_i, W_ij, 0) for Sum_i x_i W_ij: an input of one index times a two-index parameter (or direction),
    summed over the input's index; None for any other sum."""
    if len(candidate.limits) != 1 or not isinstance(candidate.function, sp.Mul):
        return None
    (index, _, _), factors = candidate.limits[0], candidate.function.args
    if len(factors) != 2 or not all(isinstance(f, sp.Indexed) for f in factors):
        return None
    inputs = [f for f in factors if f.base in data and f.indices == (index,)]
    matrices = [f for f in factors if f.base in owners and len(f.indices) == 2 and index in f.indices]
    if len(inputs) != 1 or len(matrices) != 1 or matrices[0].indices[0] == matrices[0].indices[1]:
        return None
    return inputs[0], matrices[0], matrices[0].indices.index(index)


def _size_codes(graph: Graph, seconds) -> dict:
    """Every index of the second derivatives -> ``sizes["K"]``, the generated code's size of its range."""
    found = {i: f'sizes["{size.name}"]' for i, size in graph.ranges}
    for second in seconds:
        original = graph.node(second.second.name)
        found |= {
            new: f'sizes["{graph.size_of(old).name}"]'
            for new, old in zip(second.second.indices, original.indices, strict=True)
        }
        for s in second.expanded.atoms(sp.Sum):
            found |= {var: f'sizes["{hi}"]' for var, _, hi in s.limits}
    return found
