"""The structure of a Hessian, fact by fact (:mod:`derive.graph.structure`), each checked with numbers.

At a few random points of three samples each: a matrix form agrees with the index forms it was read off (every
sample) and, averaged over the samples, with the Hessian's own block (less the L2 term's lambda I); a factor said
positive semi-definite has no eigenvalue below zero (every sample), and a covariance's rows sum to zero; the block
less lambda I is positive semi-definite (convex); a null direction (the same number added along its axis) leaves
the loss unchanged but for the L2 term, and H times it is lambda times it; with an L2 term the block has no
eigenvalue below lambda.  Last, the whole Hessian's smallest eigenvalue: convex at the points, or indefinite (the
perceptron).  Rounding (below 1e-12) prints as 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.graph.graph import Graph
from derive.graph.structure import Fact, Structure, structures
from derive.printing.text import statement
from derive.verify.network import _number, forward, hessian_matrix, random_arrays
from derive.verify.network_proof import written_out

#: eigenvalues above minus this count as non-negative (rounding of a sum of products)
TOLERANCE = 1e-10

#: numbers below this in size are rounding: shown as 0, so that what is printed does not depend on the BLAS
SHOWN = 1e-12


def shown(value: float, digits: str = ".3g") -> str:
    """A number as the checks print it: 0 (|x| < 1e-12) for rounding noise, else to ``digits``."""
    return "0" if abs(value) < SHOWN else format(value, digits)


def below(value: float) -> str:
    """A difference that should be zero: "< 1e-12", or its size."""
    return "< 1e-12" if value < SHOWN else f"{value:.1e}"


@dataclass(frozen=True)
class Claim:
    """One fact of the argument (None for the closing claim on the whole Hessian), its sentence, and whether the
    numbers bear it out (with the numbers that decided it)."""

    text: str
    holds: bool
    detail: str
    fact: Fact | None = None


@dataclass(frozen=True)
class _Point:
    arrays: dict
    values: dict
    hessian: np.ndarray
    offsets: dict


def claims(graph: Graph, seconds, sizes: dict[str, int], points: int = 3, exact: bool = False) -> list[Claim]:
    """Every fact of every block with a structure, checked at ``points`` random points of 3 samples each (with
    ``exact``, labels that need not sum to one), then the smallest eigenvalue of the whole Hessian."""
    at = [_point(graph, seconds, sizes, seed, exact) for seed in range(points)]
    found = []
    for structure in structures(graph, seconds):
        for fact in structure.facts:
            holds, detail = CHECKS[fact.name](graph, structure, fact, at, sizes)
            found.append(Claim(statement(fact), holds, detail, fact))
    smallest = min(float(np.linalg.eigvalsh(p.hessian).min()) for p in at)
    convex = smallest > -TOLERANCE
    text = "the whole Hessian is positive semi-definite at the points" if convex else "the Hessian is indefinite"
    found.append(Claim(text, True, f"smallest eigenvalue {shown(smallest)} over {points} random points"))
    return found


def _point(graph: Graph, seconds, sizes: dict, seed: int, exact: bool = False) -> _Point:
    arrays = random_arrays(graph, sizes, 3, seed, exact)
    values, _ = forward(graph, arrays)
    offsets, total = {}, 0
    for p in graph.parameters:
        offsets[p.name] = (total, total + int(np.size(arrays[p.name])))
        total = offsets[p.name][1]
    return _Point(arrays, values, hessian_matrix(graph, seconds, arrays), offsets)


# ---------------------------------------------------------------------------- one check per kind of fact
def _matrix_form(graph, structure: Structure, fact: Fact, at, sizes) -> tuple[bool, str]:
    """The matrix form against the index forms it was read off (every sample), and the mean over the samples of
    the forms against the block of the Hessian itself (less lambda I), in the parameter's C order."""
    block, read_off, whole = structure.block, 0.0, 0.0
    for point in at:
        mean = 0.0
        for sample in range(3):
            outer = _index_matrix(graph, block.outer_factor, block.outer, point.values, sample, sizes)
            got = _evaluate(graph, structure.outer, point.values, sample, sizes)
            read_off = max(read_off, float(np.abs(got - outer).max()))
            if structure.inner is not None:
                inner = _index_matrix(graph, block.inner_factor, block.inner, point.values, sample, sizes)
                form = _evaluate(graph, structure.inner, point.values, sample, sizes)
                read_off = max(read_off, float(np.abs(form - inner).max()))
                got = np.kron(form, got)  # C order: the first index outermost
            mean = mean + got / 3
        actual = _block(point, structure) - float(structure.strength) * np.eye(np.shape(mean)[0])
        whole = max(whole, float(np.abs(mean - actual).max()))
    return max(
        read_off, whole
    ) < 1e-9, f"largest difference from the index forms {below(read_off)}, from H {below(whole)}"


def _semidefinite(graph, structure: Structure, fact: Fact, at, sizes) -> tuple[bool, str]:
    lowest = min(
        float(np.linalg.eigvalsh(_symmetric(_evaluate(graph, fact.lhs, p.values, n, sizes))).min())
        for p in at
        for n in range(3)
    )
    return lowest > -TOLERANCE, f"smallest eigenvalue over the samples {shown(lowest)}"


def _covariance(graph, structure: Structure, fact: Fact, at, sizes) -> tuple[bool, str]:
    holds, detail = _semidefinite(graph, structure, fact, at, sizes)
    rows = max(
        float(np.abs(_evaluate(graph, fact.lhs, p.values, n, sizes).sum(axis=1)).max()) for p in at for n in range(3)
    )
    derived = bool(fact.steps) and fact.steps[-1].rhs == 0
    return holds and rows < 1e-12 and derived, f"{detail}; largest row sum {below(rows)}"


def _convex(graph, structure: Structure, fact: Fact, at, sizes) -> tuple[bool, str]:
    """The block less lambda I (the L2 term's) has no eigenvalue below zero."""
    strength = float(structure.strength)
    lowest = min(float(np.linalg.eigvalsh(_block(p, structure)).min()) - strength for p in at)
    return (
        lowest > -TOLERANCE,
        f"smallest eigenvalue of the mean block{' less lambda I' if strength else ''} {shown(lowest)}",
    )


def _definite(graph, structure: Structure, fact: Fact, at, sizes) -> tuple[bool, str]:
    lowest = min(float(np.linalg.eigvalsh(_block(p, structure)).min()) for p in at)
    strength = float(structure.strength)
    return lowest >= strength - 1e-9, f"smallest eigenvalue of the block {shown(lowest, '.4g')} >= {strength:g}"


def _null(graph, structure: Structure, fact: Fact, at, sizes) -> tuple[bool, str]:
    """H times the direction (u 1^T in the parameter, nothing elsewhere) is 0 and the loss does not move; with an
    L2 term of strength lambda, H v = lambda v and the loss moves by the penalty's change alone."""
    name, strength = structure.parameter.name, float(structure.strength)
    worst, moved = 0.0, 0.0
    rng = np.random.default_rng(7)
    for point in at:
        value = np.asarray(point.arrays[name], dtype=float)
        # the same number added all along the null axis (u_i to every class's entry of row i; c 1 for a vector)
        shape = list(value.shape)
        shape[structure.null_axis] = 1
        shift = np.broadcast_to(rng.normal(size=shape), value.shape)
        direction = np.zeros(point.hessian.shape[0])
        start, stop = point.offsets[name]
        direction[start:stop] = np.ravel(shift)
        worst = max(worst, float(np.abs(point.hessian @ direction - strength * direction).max()))
        _, before = forward(graph, point.arrays)
        _, after = forward(graph, {**point.arrays, name: value + shift})
        penalty = strength / 2 * (np.sum((value + shift) ** 2) - np.sum(value**2))
        moved = max(moved, float(np.abs(after - before - penalty).max()))
    detail = f"largest entry of H v {below(worst)}; the loss moved by {below(moved)}"
    if strength:
        detail = (
            f"largest entry of H v - {strength:g} v {below(worst)}; the loss moved by {below(moved)} beyond the L2 term"
        )
    return worst < 1e-9 and moved < 1e-9, detail


CHECKS = {
    "kronecker_form": _matrix_form,
    "matrix_form": _matrix_form,
    "covariance": _covariance,
    "semidefinite": _semidefinite,
    "gram": _semidefinite,
    "convex": _convex,
    "null_direction": _null,
    "l2": _definite,
}


def _block(point: _Point, structure: Structure) -> np.ndarray:
    start, stop = point.offsets[structure.parameter.name]
    return _symmetric(point.hessian[start:stop, start:stop])


def _symmetric(matrix: np.ndarray) -> np.ndarray:
    return (matrix + matrix.T) / 2


# ---------------------------------------------------------------------------- numbers of matrix expressions
def _evaluate(graph: Graph, expr: sp.Basic, values: dict, sample: int, sizes: dict) -> np.ndarray:
    """A matrix form (diag(a) - a a^T, x x^T, their Kronecker product) at one sample's values."""
    if isinstance(expr, sp.MatrixSymbol):
        array = np.asarray(values[expr.name], dtype=float)
        batched = graph.node(expr.name).kind != "parameter"
        return np.reshape(array[sample] if batched else array, (-1, 1))
    if isinstance(expr, sp.OneMatrix):
        return np.ones((_length(graph, expr.shape[0], sizes), 1))
    if isinstance(expr, sp.Identity):
        return np.eye(_length(graph, expr.shape[0], sizes))
    if isinstance(expr, sp.DiagMatrix):
        return np.diag(np.ravel(_evaluate(graph, expr.args[0], values, sample, sizes)))
    if isinstance(expr, sp.Transpose):
        return _evaluate(graph, expr.arg, values, sample, sizes).T
    if isinstance(expr, sp.KroneckerProduct):
        parts = [_evaluate(graph, a, values, sample, sizes) for a in expr.args]
        result = parts[0]
        for part in parts[1:]:
            result = np.kron(result, part)
        return result
    if isinstance(expr, sp.MatAdd):
        return sum(_evaluate(graph, a, values, sample, sizes) for a in expr.args)
    if isinstance(expr, sp.MatMul):
        scalar, matrices = 1.0, []
        for factor in expr.args:
            if isinstance(factor, sp.MatrixExpr):
                matrices.append(_evaluate(graph, factor, values, sample, sizes))
            else:
                limits = {size: sizes[size.name] for size in graph.sizes}
                scalar *= _number(graph, written_out(factor, {}, limits), values, sample)
        result = matrices[0]
        for matrix in matrices[1:]:
            result = result @ matrix
        return scalar * result
    raise ValueError(f"no numbers for the matrix form {expr}")


def _length(graph: Graph, size: sp.Expr, sizes: dict) -> int:
    return int(size.xreplace({s: sizes[s.name] for s in graph.sizes}))


def _index_matrix(graph: Graph, factor: sp.Expr, pair: tuple, values: dict, sample: int, sizes: dict) -> np.ndarray:
    """The index form over a pair of indices (both in the range of the pair's first) for one sample."""
    size = sizes[graph.size_of(pair[0]).name] if pair[0] in dict(graph.ranges) else 1
    limits = {s: sizes[s.name] for s in graph.sizes}
    matrix = np.zeros((size, size))
    for row in range(size):
        for column in range(size):
            entry = written_out(factor, {pair[0]: row + 1, pair[1]: column + 1}, limits)
            matrix[row, column] = _number(graph, entry, values, sample)
    return matrix
