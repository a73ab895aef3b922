"""The context of a model file's document (``derive latex/markdown --model-file F``): one layout for every file.

From the graph, its backpropagation and a worked example: the notation table, the definitions and the
loss, the assumptions, one section per node of the backward walk (its steps numbered, the local
derivatives as their own blocks), the boxed results with their error signals and matrix forms, and the
example's numbers.  Formulas are printed by :mod:`derive.printing.latex`; the templates
``latex/network*.tex.jinja`` and ``markdown/network.md.jinja`` only lay them out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.core.derivation import FACTOR
from derive.graph.backprop import Backprop
from derive.graph.graph import Graph, Node
from derive.printing.latex import equation, index_range, latex, statement
from derive.render.document.steps import Line, Tex, explained, lines
from derive.verify.convexity import SHOWN, shown


@dataclass(frozen=True)
class Row:
    symbol: str
    meaning: str
    indices: tuple[str, ...]


@dataclass(frozen=True)
class Part:
    """The steps of one derivative in the backward walk: a local derivative, or dH/d(node)."""

    title: str
    local: bool
    lines: tuple[Line, ...]


def notation(graph: Graph) -> tuple[Row, ...]:
    ranges = dict(graph.ranges)
    rows = []
    for node in graph.nodes:
        indices = tuple(index_range(i, sp.Integer(1), ranges[i]) for i in node.indices)
        meaning = node.meaning if node.kind in ("input", "parameter") else f"{node.kind}"
        rows.append(Row(latex(node.ref), meaning, indices))
    return tuple(rows)


def parts(bp: Backprop) -> tuple[Part, ...]:
    """The steps in runs of one left-hand side each, numbered on."""
    tex = Tex()
    found, run, number = [], [], 1
    for step in bp.steps:
        if run and step.lhs != run[-1].lhs and step.rule != "name_signal":
            found.append(_part(run, number, tex))
            number += len(run)
            run = []
        run.append(step)
    if run:
        found.append(_part(run, number, tex))
    return tuple(found)


def _part(run: list, start: int, tex: Tex) -> Part:
    return Part(latex(run[0].lhs), run[0].kind == FACTOR, lines(run, tex, frozenset(), start, ""))


def matrix_form(node: Node, result: sp.Expr, names: dict | None = None) -> str:
    r"""\nabla_W H = g \delta^T for a result that is a product of two vectors over the parameter's two indices
    (in order), \nabla_b H = \delta for one that is a vector over its one index; "" otherwise."""
    factors = [f for f in sp.Mul.make_args(result) if not f.is_Number]
    vectors = {f.indices[0]: f for f in factors if isinstance(f, sp.Indexed) and len(f.indices) == 1}
    if len(factors) != len(vectors) or set(vectors) != set(node.indices) or len(factors) != len(node.indices):
        return ""
    names = names or {}
    nabla = rf"\nabla_{{{latex(node.base)}}} H"
    if len(node.indices) == 1:
        return rf"{nabla} = {_vector(vectors[node.indices[0]].base, names)}"
    first, second = (_vector(vectors[i].base, names) for i in node.indices)
    return rf"{nabla} = {first} \, {{{second}}}^{{\top}}"


def _vector(base: sp.Basic, names: dict) -> str:
    return names.get(base, latex(base))


def signal_vectors(bp: Backprop) -> dict:
    r"""Each error signal's vector: \delta^{(z)} for delta_j = dH/dz_j when there are several, else \delta."""
    bases = {s.ref.base: s.node.name for s in bp.signals if isinstance(s.ref, sp.Indexed)}
    if len(bases) < 2:
        return {}
    return {base: rf"\delta^{{({name})}}" for base, name in bases.items()}


def results(bp: Backprop) -> tuple[dict, ...]:
    names = signal_vectors(bp)
    return tuple(
        {"equation": equation(bp.lhs(node), result), "matrix": matrix_form(node, result, names)}
        for node, result in bp.results
    )


def numbers(value) -> str:
    """A vector or matrix of numbers as a LaTeX bmatrix (6 significant digits)."""
    array = np.atleast_1d(np.asarray(value, dtype=float))
    array = np.where(np.abs(array) < SHOWN, 0.0, array) + 0.0  # rounding noise is 0, whatever the BLAS
    rows = array[None, :] if array.ndim == 1 else array
    body = r" \\ ".join(" & ".join(f"{v:.6g}" for v in row) for row in rows)
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


def example(graph: Graph, bp: Backprop, evaluation, sizes: dict, fd_errors: dict) -> dict:
    """The worked example's numbers: each quantity of one sample, the loss, the gradients, the check."""

    def sample(name: str, batched: bool):
        value = evaluation.values[name]
        return np.asarray(value)[0] if batched else value

    quantities = [(n.ref, sample(n.name, n.kind != "parameter")) for n in (*graph.inputs, *graph.parameters)]
    quantities += [(n.ref, sample(n.name, True)) for n in graph.definitions]
    quantities += [(s.ref, sample(f"delta_{s.node.name}", True)) for s in bp.signals]
    return {
        "sizes": ", ".join(f"{k} = {v}" for k, v in sizes.items()),
        "quantities": [{"symbol": latex(ref), "value": numbers(value)} for ref, value in quantities],
        "loss": f"{latex(graph.loss.ref)} = {evaluation.loss:.6f}",
        "gradients": [
            {"symbol": latex(bp.lhs(p)), "value": numbers(evaluation.gradients[p.name])} for p in graph.parameters
        ],
        "fd": max(fd_errors.values(), default=0.0),
    }


def context(graph: Graph, bp: Backprop, evaluation, sizes: dict, fd_errors: dict) -> dict:
    """Everything the model file's document shows."""
    return {
        "title": graph.title,
        "model": graph.name,
        "notation": notation(graph),
        "definitions": [equation(n.ref, n.expr) for n in (*graph.definitions, graph.loss)],
        "assumptions": [{"name": a.name, "equation": equation(a.lhs, a.rhs)} for a in graph.assumptions],
        "assumed": bool(bp.assumptions),
        "parts": parts(bp),
        "signals": [
            {
                "equation": equation(s.ref, s.value),
                "meaning": latex(bp.lhs(s.node)),
                "vector": signal_vectors(bp).get(getattr(s.ref, "base", None), ""),
            }
            for s in bp.signals
        ],
        "results": results(bp),
        "example": example(graph, bp, evaluation, sizes, fd_errors),
    }


def second_lhs(graph: Graph, second) -> str:
    r"""\frac{\partial^2 H}{\partial W_{ij} \, \partial W_{lk}}."""
    first, other = latex(second.first.ref), latex(second.second.ref)
    return rf"\frac{{\partial^2 {latex(graph.loss.ref)}}}{{\partial {first} \, \partial {other}}}"


#: the largest Hessian a document prints entry by entry (its eigenvalues are always printed)
PRINTED = 12


def second_order(graph: Graph, seconds, arrays: dict, sizes: dict, lr: float, gradients: dict) -> dict:
    """The section "Second derivatives": the index forms, the convexity argument's checked claims, the example's
    Hessian with its eigenvalues, and one Newton step (pseudo-inverse) beside one gradient-descent step."""
    from derive.verify.convexity import claims
    from derive.verify.network import hessian_matrix

    matrix = hessian_matrix(graph, seconds, arrays)
    gradient = np.concatenate([np.ravel(gradients[p.name]) for p in graph.parameters])
    start = np.concatenate([np.ravel(arrays[p.name]) for p in graph.parameters])
    newton = start - np.linalg.pinv(matrix, hermitian=True) @ gradient
    own = {i for p in graph.parameters for i in p.indices}
    renamed = [i for i in dict.fromkeys(i for s in seconds for i in s.second.indices) if i not in own]
    return {
        "lines": [f"{second_lhs(graph, s)} = {latex(s.value)}" for s in seconds],
        "second_indices": [latex(i) for i in renamed],
        "matrix_equation": (
            rf"\nabla^2 {latex(graph.loss.ref)} = \small {numbers(matrix)}" if matrix.shape[0] <= PRINTED else None
        ),
        "steps_equation": rf"\theta_{{\text{{Newton}}}} = {numbers(newton)}, \qquad"
        rf" \theta_{{\text{{GD}}}} = {numbers(start - lr * gradient)}",
        "claims": [_claim(c) for c in claims(graph, seconds, sizes)],
        "size": matrix.shape[0],
        "eigenvalues": ", ".join(shown(v, ".4g") for v in np.linalg.eigvalsh(matrix)),
        "indefinite": bool(np.linalg.eigvalsh(matrix).min() < -SHOWN),
        "lr": f"{lr:g}",
        "order": ", ".join(p.key for p in graph.parameters),
    }


def _claim(claim) -> dict:
    """One checked claim: the fact's statement and why in LaTeX (with the engine's steps of a derived one), or the
    closing sentence on the whole Hessian."""
    found = {"text": claim.text, "holds": claim.holds, "detail": claim.detail, "statement": None, "steps": []}
    fact = claim.fact
    if fact is not None:
        found["statement"] = statement(fact)
        found["why"] = explained(fact, Tex())
        found["name"] = fact.name
        found["steps"] = [equation(step.lhs, step.rhs) for step in fact.steps]
    return found
