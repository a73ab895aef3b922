"""Plain-text reports for the terminal: the worked example as tables, steps as lines.

Numbers are formatted here; math is printed by :mod:`derive.printing.text`.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from derive.core import symbols as S
from derive.core.derivation import Derivation
from derive.printing.text import equation, statement, text
from derive.verify import network
from derive.verify.example import FD_TOLERANCE, Example


def fmt(value: float) -> str:
    return f"{value:+.6f}"


def names(example: Example, model) -> tuple[list[str], list[str]]:
    """Column (class) and row (feature) headings: the names of the model's example when the shapes fit."""
    named_classes, named_features = (tuple(model.example.get(kind, ())) for kind in ("classes", "features"))
    classes = [f"{n} (j={q})" for q, n in enumerate(named_classes, 1)] if example.classes == len(named_classes) else []
    features = (
        [f"{n} (i={q})" for q, n in enumerate(named_features, 1)] if example.features == len(named_features) else []
    )
    classes = classes or [f"j={q}" for q in range(1, example.classes + 1)]
    features = features or [f"i={q}" for q in range(1, example.features + 1)]
    return classes, features


def table(title: str, rows: list[tuple[str, np.ndarray]], columns: list[str]) -> list[str]:
    width = max([len(title), *(len(r) for r, _ in rows)]) + 2
    col = max(12, *(len(c) + 2 for c in columns))
    lines = [title.ljust(width) + "".join(c.rjust(col) for c in columns)]
    lines += ["  " + r.ljust(width - 2) + "".join(fmt(v).rjust(col) for v in values) for r, values in rows]
    return lines


def example_report(example: Example, derivations: tuple[Derivation, ...]) -> str:
    """The worked example as readable tables."""
    model = derivations[0].model
    classes, features = names(example, model)
    lines = [f"Worked example: {model.title}, K = {example.classes}, d = {example.features}", ""]
    lines += ["closed forms from the engine:"] + [f"  {equation(d.lhs, d.result)}" for d in derivations]
    lines += [""] + table(
        "input", [(f"x_{q}  {f}", [v]) for q, (f, v) in enumerate(zip(features, example.x), 1)], ["value"]
    )
    per_class = [
        (text(q), np.atleast_1d(v)) for q, v in zip(_per_class_names(model), (example.z, example.a, example.P))
    ]
    lines += [""] + table("per class" if model.output_index else "output", per_class, classes)
    lines += ["", f"loss H = {example.loss:.6f}", ""]
    lines += table(text(derivations[0].lhs), list(zip(features, _rows(example.grad_W))), classes)
    lines += table("", [(text(derivations[1].lhs), np.atleast_1d(example.grad_b))], classes)
    lines += ["", _fd_line(example)]
    lines += _mistakes(example, model, features, classes)
    if example.lr is not None:
        lines += ["", f"one gradient-descent step, lr = {example.lr:g}: W <- W - lr dH/dW, b <- b - lr dH/db"]
        lines += table("W_next", list(zip(features, _rows(example.W_next))), classes)
        lines += table("", [("b_next", np.atleast_1d(example.b_next))], classes)
    return "\n".join(lines) + "\n"


def _fd_line(example: Example) -> str:
    if example.dropped:
        return f"assumption not applicable: {example.dropped_reason()}\n{_fd_agreement(example)}"
    return _fd_agreement(example)


def _fd_agreement(example: Example) -> str:
    if example.fd_agrees:
        return f"central finite differences of the loss agree to within {FD_TOLERANCE:g}"
    return f"central finite differences of the loss DIFFER by {example.fd_error:.1e}: are the labels normalised? try --exact"


def _per_class_names(model) -> tuple:
    """z_j, a_j, P_j (or z, sigma, y for a single output)."""
    k = model.output_index
    activation = model.activation.subs(k, S.j) if k is not None else model.activation
    label = model.label[S.j] if k is not None else model.label
    return model.logit, activation, label


def _rows(values: np.ndarray) -> np.ndarray:
    """A gradient as rows per feature: d x K, or d x 1 for a single output."""
    return values if values.ndim == 2 else values[:, None]


def _mistakes(example: Example, model, features: list[str], classes: list[str]) -> list[str]:
    if not model.mistakes:
        return []
    lines = ["", f"common mistakes for {text(sp.Derivative(S.H, model.parameters[0]))}, at the same sample:"]
    for name, expr, why in model.mistakes:
        values = example.mistakes[name]
        worst = np.unravel_index(np.abs(values - example.grad_W).argmax(), values.shape)
        lines += ["", f"{name}: {text(expr)}  ({why})"]
        lines += table("  gives", list(zip(features, _rows(values))), classes)
        where = "".join(str(q + 1) for q in worst)
        lines.append(
            f"  wrong at {model.parameters[0].base.label}_{where}: gives {fmt(values[worst])}, truth {fmt(example.grad_W[worst])}"
            if not np.allclose(values, example.grad_W)
            else "  agrees with the truth at this sample"
        )
    return lines


def steps_report(derivation: Derivation) -> str:
    """Every step of a derivation, one line each with its rule and justification."""
    lines = []
    for n, step in enumerate(derivation.steps, 1):
        lines.append(f"{n:2d}. [{step.rule}] {equation(step.lhs, step.rhs)}")
        lines.append(f"      {step.explain(text)}")
    return "\n".join(lines) + "\n"


def assumption_line(derivation: Derivation) -> str:
    model = derivation.model
    if not model.assumptions:
        return "no assumption needed"
    if derivation.assumptions:
        stated = "; ".join(f"{text(model.assumption(n).statement.lhs)} = 1 ({n})" for n in derivation.assumptions)
        return f"assuming {stated}; --exact drops the assumption"
    return f"exact: no assumption on {text(S.label_total())}"


# --------------------------------------------------------------------------- model files (backpropagation)
def backprop_lines(bp) -> list[str]:
    """One closed form per parameter (dH/dV_ih = ...), then the error signals they use, then the assumptions."""
    lines = [equation(bp.lhs(node), result) for node, result in bp.results]
    if bp.signals:
        lines.append("where (error signals, from the loss back):")
        lines += [f"  {equation(s.ref, s.value)}   [= {text(bp.lhs(s.node))}]" for s in bp.signals]
    return [*lines, backprop_assumption_line(bp)]


def backprop_assumption_line(bp) -> str:
    graph = bp.graph
    if not graph.assumptions:
        return "no assumption needed"
    if bp.assumptions:
        stated = "; ".join(f"{a.text} ({a.name})" for a in graph.assumptions if a.name in bp.assumptions)
        return f"assuming {stated}; --exact drops the assumption"
    return "exact: no assumption used (" + "; ".join(a.text for a in graph.assumptions) + " not assumed)"


def network_example_report(graph, bp, evaluation, sizes: dict[str, int], fd_errors: dict[str, float]) -> str:
    """The worked example of a model file: every quantity's numbers, the loss, the gradients, the check."""
    shown = ", ".join(f"{k} = {v}" for k, v in sizes.items())
    lines = [f"Worked example: {graph.title}, {shown} (one sample)", "", "closed forms from the engine:"]
    lines += [f"  {line}" for line in backprop_lines(bp)]
    for title, nodes in (
        ("inputs", graph.inputs),
        ("parameters", graph.parameters),
        ("definitions", graph.definitions),
    ):
        lines += ["", f"{title}:"] + [_quantity(n.key, _sample(evaluation.values[n.name], n.kind)) for n in nodes]
    if bp.signals:
        lines += ["", "error signals:"]
        lines += [_quantity(text(s.ref), evaluation.values[f"delta_{s.node.name}"][0]) for s in bp.signals]
    lines += ["", f"loss {text(graph.loss.ref)} = {evaluation.loss:.6f}", "", "gradients:"]
    lines += [_quantity(text(bp.lhs(p)), evaluation.gradients[p.name]) for p in graph.parameters]
    worst = max(fd_errors.values(), default=0.0)
    verdict = "agree" if worst < network.FD_TOLERANCE else "DIFFER"
    lines += ["", f"central finite differences of the loss {verdict}: largest relative difference {worst:.1e}"]
    return "\n".join(lines) + "\n"


def _sample(value: np.ndarray, kind: str) -> np.ndarray:
    return value if kind == "parameter" else np.asarray(value)[0]


def _quantity(name: str, value) -> str:
    array = np.asarray(value, dtype=float) + 0.0  # no "-0."
    if array.ndim == 0:
        return f"  {name} = {float(array):.6f}"
    body = np.array2string(array, precision=6, suppress_small=True, separator=", ", max_line_width=100)
    return f"  {name} = " + body.replace("\n", "\n  " + " " * (len(name) + 3))


def graph_claim_report(verdict, lhs: str | None = None) -> str:
    """``derive check --model-file F --wrt V``: the claim as read, the verdict, and where it goes wrong; ``lhs``
    names what is claimed (d2H/dW_ij/dW_lk for a second derivative), dH/d(wrt) otherwise."""
    lhs = lhs or f"dH/d{verdict.wrt.key}"
    lines = [f"claim: {lhs} = {text(verdict.claim)}", f"the engine's closed form: {lhs} = {text(verdict.truth)}"]
    checked = f"{verdict.points} random points of {verdict.samples} samples each"
    if verdict.verdict == "correct":
        labels = f"assuming {'; '.join(verdict.assumed)}" if verdict.assumed else "for any labels"
        lines.append(f"verdict: correct (the same numbers at {checked}, {labels})")
    elif verdict.verdict == "correct if assumed":
        lines.append(f"verdict: correct only where the file's assumptions hold (checked at {checked}); --exact")
    else:
        lines.append(f"verdict: incorrect (checked at {checked})")
    example = verdict.counterexample
    if example is not None:
        sizes = ", ".join(f"{k} = {v}" for k, v in example["sizes"].items())
        lines.append(
            f"  e.g. sample {example['sample']}, entry {example['entry']} ({sizes}): claimed {example['claimed']:.6f},"
            f" true {example['truth']:.6f}"
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- second order: the structure
def structure_report(structures) -> str:
    """The facts of each block with a structure (derive.graph.structure), each with why, and the engine's steps
    for a derived one (the row sums)."""
    lines = []
    for structure in (s for s in structures if s.facts):
        lines.append(f"the structure of the block in {structure.parameter.name}:")
        for n, fact in enumerate(structure.facts, 1):
            lines.append(f"{n:2d}. [{fact.name}] {statement(fact)}")
            lines.append(f"      {fact.explain(text)}")
            for step in fact.steps:
                lines.append(f"        [{step.rule}] {equation(step.lhs, step.rhs)}")
    return "\n".join(lines) + ("\n" if lines else "")
