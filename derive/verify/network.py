"""Numbers for any model of a model file: the forward pass, the loss, the derived gradients, finite differences.

:func:`evaluate` computes, for a batch of samples, every definition in order, the loss (mean over
the batch), the error signals and each parameter's closed form (mean over the batch), from the
graph's expressions and the backpropagation's results, printed as NumPy by
:class:`~derive.printing.tensor.TensorPrinter` and run (derive's own code, never a user's text).
:func:`finite_differences` perturbs every entry of every parameter and takes central differences
of the loss, the independent check of the derived gradients (:func:`check`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from derive.graph.backprop import Backprop
from derive.graph.graph import Graph, Node
from derive.printing.tensor import BATCH, HELPERS, TensorPrinter


@dataclass(frozen=True)
class Evaluation:
    """The numbers of one batch: every quantity (batched ones with a leading axis), the loss and the gradients."""

    values: dict[str, np.ndarray]
    loss: float
    gradients: dict[str, np.ndarray]


def printer(graph: Graph, bp: Backprop | None = None) -> TensorPrinter:
    """The printer that names each quantity (and error signal) after itself in the code."""
    names = {n.base: n.name for n in graph.nodes}
    batched = {n.base for n in (*graph.inputs, *graph.definitions, graph.loss)}
    for signal in bp.signals if bp is not None else ():
        base = signal.ref.base if isinstance(signal.ref, sp.Indexed) else signal.ref
        names[base] = signal_name(signal.node)
        batched.add(base)
    return TensorPrinter(names, batched, data=frozenset(n.base for n in graph.inputs))


def signal_name(node: Node) -> str:
    return f"delta_{node.name}"


@cache
def _helpers() -> dict:
    namespace = {"np": np, "DTYPE": np.float64}
    exec(compile(HELPERS, "<derive helpers>", "exec"), namespace)  # noqa: S102 -- derive's own code
    return namespace


def _run(code: str, namespace: dict) -> np.ndarray:
    return eval(compile(code, "<derive expression>", "eval"), namespace)


def forward(graph: Graph, arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every definition for the batch (inputs with a leading axis N), and the loss of each sample."""
    namespace = {**_helpers(), **arrays}
    namespace["N"] = _batch_size(graph, arrays)
    tensor = printer(graph)
    for node in graph.definitions:
        namespace[node.name] = np.asarray(_run(tensor.doprint(node.expr, (BATCH, *node.indices)), namespace))
    losses = np.broadcast_to(_run(tensor.doprint(graph.loss.expr, (BATCH,)), namespace), (namespace["N"],))
    return {k: namespace[k] for k in (*arrays, *(n.name for n in graph.definitions))}, losses


def evaluate(graph: Graph, bp: Backprop, arrays: dict[str, np.ndarray]) -> Evaluation:
    """Forward pass, loss (mean over the batch), error signals and the derived gradients (means)."""
    values, losses = forward(graph, arrays)
    namespace = {**_helpers(), **values, "N": _batch_size(graph, arrays)}
    tensor = printer(graph, bp)
    for signal in bp.signals:
        code = tensor.doprint(signal.value, (BATCH, *signal.node.indices))
        namespace[signal_name(signal.node)] = np.asarray(_run(code, namespace))
        values[signal_name(signal.node)] = namespace[signal_name(signal.node)]
    gradients = {}
    for parameter, result in bp.results:
        code = tensor.batch_mean(result, parameter.indices)
        gradients[parameter.name] = np.broadcast_to(_run(code, namespace), np.shape(arrays[parameter.name])).copy()
    return Evaluation(values, float(losses.mean()), gradients)


def finite_differences(graph: Graph, arrays: dict[str, np.ndarray], step: float = 1e-6) -> dict[str, np.ndarray]:
    """Central differences of the mean loss by every entry of every parameter."""
    found = {}
    for parameter in graph.parameters:
        value = np.array(arrays[parameter.name], dtype=np.float64)
        grad = np.zeros_like(value)
        for position in np.ndindex(value.shape):
            grad[position] = _difference(graph, arrays, parameter.name, value, position, step)
        found[parameter.name] = grad
    return found


def _difference(graph: Graph, arrays: dict, name: str, value: np.ndarray, position: tuple, step: float) -> float:
    losses = []
    for sign in (1, -1):
        moved = value.copy()
        moved[position] += sign * step
        losses.append(forward(graph, {**arrays, name: moved})[1].mean())
    return (losses[0] - losses[1]) / (2 * step)


def check(graph: Graph, bp: Backprop, arrays: dict[str, np.ndarray], rtol: float = 1e-5) -> dict[str, float]:
    """The largest relative difference between each derived gradient and finite differences."""
    derived = evaluate(graph, bp, arrays).gradients
    numeric = finite_differences(graph, arrays)
    return {
        name: float(np.max(np.abs(derived[name] - numeric[name]) / (np.abs(numeric[name]) + rtol))) for name in numeric
    }


def random_arrays(
    graph: Graph, sizes: dict[str, int], batch: int = 1, seed: int = 0, exact: bool = False
) -> dict[str, np.ndarray]:
    """Random inputs (a batch) and parameters at ``sizes``; labels that look like labels (one-hot rows), or with
    ``exact`` labels in [0, 1] that need not sum to one (where the file's assumption is not made)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for node in graph.parameters:
        arrays[node.name] = rng.normal(0.0, 0.5, _shape(graph, node, sizes))
    for node in graph.inputs:
        arrays[node.name] = rng.normal(0.0, 1.0, (batch, *_shape(graph, node, sizes)))
    for node in graph.inputs:
        if graph.assumptions and any(a.lhs.has(node.base) for a in graph.assumptions) and node.indices:
            shape = arrays[node.name].shape
            labels = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
            arrays[node.name] = rng.uniform(0.0, 1.0, shape) if exact else labels
    return arrays


def _shape(graph: Graph, node: Node, sizes: dict[str, int]) -> tuple[int, ...]:
    return tuple(sizes[graph.size_of(i).name] for i in node.indices)


def _batch_size(graph: Graph, arrays: dict[str, np.ndarray]) -> int:
    for node in graph.inputs:
        if node.name in arrays:
            return int(np.shape(arrays[node.name])[0])
    raise ValueError("no input given")


#: central differences (step 1e-6) agree with an exact gradient to about 1e-8 relative; a wrong one is off by far more
FD_TOLERANCE = 1e-5
#: the size every index runs to when neither the file's example nor --sizes says
DEFAULT_SIZE = 3
#: the largest size of a worked example (its numbers are printed)
MAX_EXAMPLE_SIZE = 50


def example_sizes(graph: Graph, given: dict[str, int] | None = None) -> dict[str, int]:
    """The sizes of the worked example: ``given``, else read off the file's example numbers, else 3 each."""
    sizes = {size.name: DEFAULT_SIZE for size in graph.sizes}
    for name, value in graph.example:
        node = _example_node(graph, name)
        shape = _example_value(name, value).shape
        if len(shape) != len(node.indices):
            raise ValueError(f"example.{name}: {len(shape)} axes given, {node.key} has {len(node.indices)}")
        for index, length in zip(node.indices, shape, strict=True):
            sizes[graph.size_of(index).name] = length
    for name, value in (given or {}).items():
        if name not in sizes:
            raise ValueError(f"--sizes: {name} is not a size of the model (its sizes: {', '.join(sizes)})")
        sizes[name] = value
    for name, value in sizes.items():
        if not 1 <= value <= MAX_EXAMPLE_SIZE:
            raise ValueError(f"size {name} = {value} is outside 1..{MAX_EXAMPLE_SIZE} for a worked example")
    return sizes


def example_arrays(graph: Graph, sizes: dict[str, int], seed: int = 0) -> dict[str, np.ndarray]:
    """One sample (a batch of 1) and the parameters: the file's numbers where given, random (seeded) elsewhere."""
    arrays = random_arrays(graph, sizes, batch=1, seed=seed)
    given = dict(graph.example)
    for node in (*graph.inputs, *graph.parameters):
        if node.name not in given:
            continue
        value = _example_value(node.name, given[node.name])
        if value.shape != _shape(graph, node, sizes):
            raise ValueError(f"example.{node.name}: shape {value.shape}, expected {_shape(graph, node, sizes)}")
        arrays[node.name] = value[None] if node.kind == "input" else value
    return arrays


def _example_value(name: str, value) -> np.ndarray:
    """The numbers of example.<name>: a finite number, or a rectangular list (of lists) of them."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"example.{name}: not a number or a rectangular list of numbers") from None
    if not np.all(np.isfinite(array)) or np.any(np.abs(array) > 1e6):
        raise ValueError(f"example.{name}: numbers must be finite and at most 1e6 in magnitude")
    return array


def _example_node(graph: Graph, name: str) -> Node:
    for node in (*graph.inputs, *graph.parameters):
        if node.name == name:
            return node
    raise ValueError(f"example.{name}: not an input or a parameter of the model")


def as_dict(graph: Graph, sizes: dict[str, int], evaluation: Evaluation, fd_errors: dict[str, float]) -> dict:
    """The worked example as JSON-ready data: ``loss``, ``grad_<parameter>``, the sample and every value."""
    data = {"model": graph.name, "sizes": sizes, "loss": evaluation.loss}
    data.update({f"grad_{name}": value.tolist() for name, value in evaluation.gradients.items()})
    batched = {n.name for n in (*graph.inputs, *graph.definitions)} | {
        k for k in evaluation.values if k.startswith("delta_")
    }
    data["values"] = {
        name: (np.asarray(value)[0] if name in batched else np.asarray(value)).tolist()
        for name, value in evaluation.values.items()
    }
    data["fd_max_rel_error"] = max(fd_errors.values(), default=0.0)
    return data


@dataclass(frozen=True)
class ClaimVerdict:
    """The verdict on a claimed dH/d(parameter) of a model file, judged by numbers.

    ``verdict`` is "correct" (for any labels), "correct if assumed" (only where the file's assumptions
    hold, e.g. labels that sum to one) or "incorrect"; ``counterexample`` the first entry that differs.
    """

    verdict: str
    wrt: Node
    claim: sp.Expr
    truth: sp.Expr
    points: int
    samples: int
    counterexample: dict | None
    #: the assumptions the verdict relied on (their text), none under --exact
    assumed: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return {"correct": 0, "incorrect": 1, "correct if assumed": 3}[self.verdict]


def judge(
    graph: Graph, assumed: Backprop, exact: Backprop, wrt: Node, claim: sp.Expr, assume: bool = True, points: int = 3
) -> ClaimVerdict:
    """Compare the claim with the engine's dH/d(wrt), sample by sample, at random points (other sizes each).

    With ``assume`` a claim right where the file's assumptions hold is correct; without, it must hold for
    any labels, and one right only where they hold is "correct if assumed".
    """
    samples = 4
    truth = (assumed if assume else exact).result(wrt.name)
    passes = ("assumed", "any") if graph.assumptions and not assume else ("assumed",)
    used = tuple(a.text for a in graph.assumptions) if assume else ()
    for labels in passes:
        bp = assumed if labels == "assumed" else exact
        for seed in range(points):
            sizes = {s.name: 2 + (seed + n) % 3 for n, s in enumerate(graph.sizes)}
            arrays = random_arrays(graph, sizes, batch=samples, seed=seed)
            if labels == "any":
                arrays = _unnormalised(graph, arrays, seed)
            found = _first_difference(graph, bp, wrt, claim, arrays)
            if found is not None:
                verdict = "incorrect" if labels == "assumed" else "correct if assumed"
                return ClaimVerdict(verdict, wrt, claim, truth, points, samples, found | {"sizes": sizes}, used)
    return ClaimVerdict("correct", wrt, claim, truth, points, samples, None, used)


def _unnormalised(graph: Graph, arrays: dict, seed: int) -> dict:
    rng = np.random.default_rng(1000 + seed)
    assumed = {n.name for n in graph.inputs if any(a.lhs.has(n.base) for a in graph.assumptions)}
    return {k: rng.uniform(0.1, 1.0, v.shape) if k in assumed else v for k, v in arrays.items()}


def _first_difference(graph: Graph, bp: Backprop, wrt: Node, claim: sp.Expr, arrays: dict) -> dict | None:
    evaluation = evaluate(graph, bp, arrays)
    namespace = {**_helpers(), **evaluation.values, "N": _batch_size(graph, arrays)}
    tensor = printer(graph, bp)
    axes = (BATCH, *wrt.indices)
    truth = np.broadcast_to(
        _run(tensor.doprint(bp.result(wrt.name), axes), namespace), (namespace["N"], *np.shape(arrays[wrt.name]))
    )
    claimed = np.broadcast_to(_run(tensor.doprint(claim, axes), namespace), truth.shape)
    return first_wrong(claimed, truth, lambda at: f"{wrt.name}_{''.join(at)}" if at else wrt.name)


def first_wrong(claimed: np.ndarray, truth: np.ndarray, entry) -> dict | None:
    """The first entry (sample first) where a claim's numbers differ from the truth's, or None: its sample, its
    name (``entry`` of the 1-based positions after the sample, as strings), and both values."""
    wrong = ~np.isclose(claimed, truth, rtol=1e-9, atol=1e-12)
    if not wrong.any():
        return None
    position = tuple(int(p) for p in np.argwhere(wrong)[0])
    return {
        "sample": position[0] + 1,
        "entry": entry([str(p + 1) for p in position[1:]]),
        "claimed": float(claimed[position]),
        "truth": float(truth[position]),
    }


def verdict_dict(verdict: ClaimVerdict) -> dict:
    """The verdict as JSON-ready data (``verdict``, ``wrt``, ``claim``, ``truth``, ``counterexample``)."""
    from derive.printing.text import text

    return {
        "verdict": verdict.verdict,
        "wrt": verdict.wrt.key,
        "claim": text(verdict.claim),
        "truth": text(verdict.truth),
        "points": verdict.points,
        "samples": verdict.samples,
        "counterexample": verdict.counterexample,
        "assumed": list(verdict.assumed),
    }


# ---------------------------------------------------------------------------- second derivatives
def hessian_matrix(graph: Graph, seconds, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The Hessian of the mean loss from the engine's second derivatives, every parameter entry flattened in C
    order, one parameter after the other (small sizes: each entry is written out and evaluated by SymPy)."""
    from derive.verify.network_proof import entries, written_out

    values, _ = forward(graph, arrays)
    sizes = {s: int(_size(graph, s, arrays)) for s in graph.sizes}
    offsets, total = _offsets(graph, arrays)
    matrix = np.zeros((total, total))
    samples = _batch_size(graph, arrays)
    for second in seconds:
        first_entries = entries(graph, second.first, {k.name: v for k, v in sizes.items()})
        second_entries = entries(graph, graph.node(second.second.name), {k.name: v for k, v in sizes.items()})
        for a, first_at in enumerate(first_entries):
            for b, second_at in enumerate(second_entries):
                assignment = dict(zip(second.first.indices, first_at, strict=True))
                assignment |= dict(zip(second.second.indices, second_at, strict=True))
                entry = written_out(second.expanded, assignment, sizes)
                value = np.mean([_number(graph, entry, values, n) for n in range(samples)])
                row, column = offsets[second.first.name] + a, offsets[second.second.name] + b
                matrix[row, column] = matrix[column, row] = value
    return matrix


def hessian_by_differences(graph: Graph, bp: Backprop, arrays: dict[str, np.ndarray], step: float = 1e-6) -> np.ndarray:
    """Central differences of the derived gradient (the mean over the batch), column by column."""
    offsets, total = _offsets(graph, arrays)
    matrix = np.zeros((total, total))
    for parameter in graph.parameters:
        value = np.array(arrays[parameter.name], dtype=float)
        for k, position in enumerate(np.ndindex(value.shape)):
            columns = []
            for sign in (1, -1):
                moved = value.copy()
                moved[position] += sign * step
                grads = evaluate(graph, bp, {**arrays, parameter.name: moved}).gradients
                columns.append(np.concatenate([np.ravel(grads[p.name]) for p in graph.parameters]))
            matrix[:, offsets[parameter.name] + k] = (columns[0] - columns[1]) / (2 * step)
    return matrix


def _offsets(graph: Graph, arrays: dict) -> tuple[dict[str, int], int]:
    offsets, total = {}, 0
    for parameter in graph.parameters:
        offsets[parameter.name] = total
        total += int(np.size(arrays[parameter.name]))
    return offsets, total


def _size(graph: Graph, size: sp.Symbol, arrays: dict) -> int:
    for node in (*graph.parameters, *graph.inputs):
        for axis, index in enumerate(node.indices):
            if graph.size_of(index) == size:
                return np.shape(arrays[node.name])[axis + (node.kind == "input")]
    raise ValueError(f"no array has the size {size}")


def _number(graph: Graph, expr: sp.Expr, values: dict, sample: int) -> float:
    """A written-out expression's value for one sample: every entry of every quantity put in."""
    batched = {n.name for n in (*graph.inputs, *graph.definitions)}
    substitution = {}
    for node in (*graph.inputs, *graph.parameters, *graph.definitions):
        array = np.asarray(values[node.name])
        array = array[sample] if node.name in batched else array
        if node.indices:
            for q in expr.atoms(sp.Indexed):
                if q.base == node.base:
                    substitution[q] = sp.Float(float(array[tuple(int(i) - 1 for i in q.indices)]))
        elif node.base in expr.free_symbols:
            substitution[node.base] = sp.Float(float(array))
    return float(expr.xreplace(substitution).doit())
