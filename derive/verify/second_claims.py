"""A claimed second derivative of a model file, judged by numbers: every sample, every entry, random points.

The claim and the engine's d2H/dp_I/dq_L are both printed as array code over the batch and the two parameters'
indices (:mod:`derive.printing.tensor`, a Kronecker delta as an identity matrix) and compared entry by entry; the
verdict and the first entry that differs are those of a first-order claim (:class:`~derive.verify.network.ClaimVerdict`).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from derive.graph.graph import Graph
from derive.printing.tensor import BATCH
from derive.verify.network import (
    ClaimVerdict,
    _batch_size,
    _helpers,
    _run,
    first_wrong,
    forward,
    printer,
    random_arrays,
)


def judge_second(graph: Graph, second, claim: sp.Expr, points: int = 3) -> ClaimVerdict:
    """Compare ``claim`` with the engine's second derivative at ``points`` random points of 4 samples."""
    for seed in range(points):
        sizes = {s.name: 2 + (seed + n) % 3 for n, s in enumerate(graph.sizes)}
        arrays = random_arrays(graph, sizes, batch=4, seed=seed)
        found = _difference(graph, second, claim, arrays, sizes)
        if found is not None:
            return ClaimVerdict("incorrect", second.first, claim, second.value, points, 4, found | {"sizes": sizes})
    return ClaimVerdict("correct", second.first, claim, second.value, points, 4, None)


def _difference(graph: Graph, second, claim: sp.Expr, arrays: dict, sizes: dict) -> dict | None:
    values, _ = forward(graph, arrays)
    namespace = {**_helpers(), **values, "N": _batch_size(graph, arrays)}
    tensor = printer(graph)
    original = graph.node(second.second.name)
    ranges = dict(graph.ranges) | {
        new: graph.size_of(old) for new, old in zip(second.second.indices, original.indices, strict=True)
    }
    tensor.sizes = {index: str(sizes[size.name]) for index, size in ranges.items()}
    axes = (BATCH, *second.first.indices, *second.second.indices)
    shape = (namespace["N"], *np.shape(arrays[second.first.name]), *np.shape(arrays[original.name]))
    truth = np.broadcast_to(_run(tensor.doprint(second.expanded, axes), namespace), shape)
    claimed = np.broadcast_to(_run(tensor.doprint(claim, axes), namespace), shape)
    split = len(second.first.indices)

    def entry(at: list[str]) -> str:
        return f"{second.first.name}_{''.join(at[:split]) or '-'}, {original.name}_{''.join(at[split:]) or '-'}"

    return first_wrong(claimed, truth, entry)
