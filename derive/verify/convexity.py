"""The structure of a Hessian, claim by claim, each checked with numbers at random points.

For a parameter with a feature and a class index whose block is d2H/dW_ij/dW_lk = A_jk B_il
(:func:`derive.graph.hessian.kronecker`), the block is the mean over samples of A ⊗ B; when every sample's A
and B are positive semi-definite, so is their Kronecker product and the mean: the loss is convex in W. A
whose rows sum to zero (A 1 = 0) gives a null direction: adding the same vector to every class's weights
changes nothing, so the loss is not strictly convex. Each claim is checked at random points, every sample's
matrices by their eigenvalues; the whole Hessian's smallest eigenvalue says convex or indefinite there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.graph.graph import Graph
from derive.graph.hessian import Kronecker, kronecker
from derive.verify.network import _number, forward, hessian_matrix, random_arrays
from derive.verify.network_proof import written_out

#: eigenvalues above minus this count as non-negative (rounding of a sum of products)
TOLERANCE = 1e-10


@dataclass(frozen=True)
class Claim:
    """One sentence of the argument and whether the numbers bear it out (with the numbers that decided it)."""

    text: str
    holds: bool
    detail: str


def claims(graph: Graph, seconds, sizes: dict[str, int], points: int = 3) -> list[Claim]:
    """The Kronecker structure of each block that has one, its semi-definiteness and null direction, and the
    smallest eigenvalue of the whole Hessian, at ``points`` random points of 3 samples each."""
    found = []
    for second in seconds:
        block = kronecker(second)
        if block is not None and len(second.first.indices) == 2:
            found += _block_claims(graph, block, sizes, points)
    smallest = min(
        float(np.linalg.eigvalsh(hessian_matrix(graph, seconds, random_arrays(graph, sizes, 3, seed))).min())
        for seed in range(points)
    )
    convex = smallest > -TOLERANCE
    text = "the whole Hessian is positive semi-definite at the points" if convex else "the Hessian is indefinite"
    found.append(Claim(text, True, f"smallest eigenvalue {smallest:.3g} over {points} random points"))
    return found


def _block_claims(graph: Graph, block: Kronecker, sizes: dict[str, int], points: int) -> list[Claim]:
    name = block.derivative.first.name
    outer_low, inner_low = [], []
    row_sums = 0.0
    for seed in range(points):
        arrays = random_arrays(graph, sizes, 3, seed)
        values, _ = forward(graph, arrays)
        for sample in range(3):
            outer = _matrix(graph, block.outer_factor, block.outer, values, sample, sizes)
            inner = _matrix(graph, block.inner_factor, block.inner, values, sample, sizes)
            outer_low.append(np.linalg.eigvalsh((outer + outer.T) / 2).min())
            inner_low.append(np.linalg.eigvalsh((inner + inner.T) / 2).min())
            row_sums = max(row_sums, float(np.abs(outer.sum(axis=1)).max()))
    a, b = _shown(block.outer_factor), _shown(block.inner_factor)
    outer_psd, inner_psd = min(outer_low) > -TOLERANCE, min(inner_low) > -TOLERANCE
    return [
        Claim(
            f"d2H/d{name}/d{name} = A (x) B with A = {a} over the classes and B = {b} over the features",
            True,
            "the factors of the closed form split into the two pairs of indices",
        ),
        Claim(f"A = {a} is positive semi-definite", outer_psd, f"smallest eigenvalue {min(outer_low):.3g}"),
        Claim(f"B = {b} is positive semi-definite", inner_psd, f"smallest eigenvalue {min(inner_low):.3g}"),
        Claim(
            f"so each sample's A (x) B, and their mean, is positive semi-definite: H is convex in {name}",
            outer_psd and inner_psd,
            "a Kronecker product of PSD matrices is PSD; a mean of PSD matrices is PSD",
        ),
        Claim(
            f"A 1 = 0: adding the same vector to every class's {name} changes nothing (not strictly convex;"
            f" an L2 term lambda/2 Sum {name}^2 adds lambda I)",
            row_sums < TOLERANCE,
            f"largest row sum of A {row_sums:.1e}",
        ),
    ]


def _matrix(graph: Graph, factor: sp.Expr, pair: tuple, values: dict, sample: int, sizes: dict) -> np.ndarray:
    """The factor's matrix over a pair of indices (both in the range of the pair's first) for one sample."""
    size = sizes[graph.size_of(pair[0]).name] if pair[0] in dict(graph.ranges) else 1
    limits = {s: sizes[s.name] for s in graph.sizes}
    matrix = np.zeros((size, size))
    for row in range(size):
        for column in range(size):
            entry = written_out(factor, {pair[0]: row + 1, pair[1]: column + 1}, limits)
            matrix[row, column] = _number(graph, entry, values, sample)
    return matrix


def _shown(expr: sp.Expr) -> str:
    from derive.printing.text import text

    return text(expr)
