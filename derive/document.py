"""The derivation document: every formula of the LaTeX and Markdown derivations, printed.

:func:`document` turns the engine's derivations and a worked example into the
context of the templates ``templates/latex/*.tex.jinja`` and
``templates/markdown/*.md.jinja``.  Every formula in it is a string printed by
:mod:`derive.latexprinter` from a SymPy expression; prose (justifications,
meanings, class names) stays plain text for the templates to escape.  Nothing
here formats math by hand, renders templates or writes files.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import sympy as sp

from . import checking
from . import symbols as S
from .derivation import FACTOR, MAIN, Derivation, derive
from .example import MISTAKES, SEED_CLASSES, SEED_FEATURES, Example, inputs
from .latexprinter import Gradient, equation, index_range, latex

#: the learning rate, as a symbol in the update W <- W - eta * grad
ETA = sp.Symbol("eta")


@dataclass(frozen=True)
class Tex:
    """Prints SymPy expressions, with the sizes K and d made concrete when they are given."""

    sizes: tuple[tuple[sp.Symbol, int], ...] = ()

    def concrete(self, expr: sp.Basic) -> sp.Basic:
        return expr.xreplace(dict(self.sizes)) if self.sizes else expr

    def __call__(self, *sides: sp.Basic, **settings) -> str:
        """``a = b = c``, each side printed by the LaTeX printer."""
        return equation(*(self.concrete(side) for side in sides), **settings)


@dataclass(frozen=True)
class Line:
    """One step: ``lhs = rhs`` (lhs empty when it continues the line before), and why.

    ``equation`` is the whole ``lhs = rhs`` for layouts that do not align steps;
    ``justification`` is prose as pieces ("text", words) and ("math", printed formula).
    """

    number: int
    lhs: str
    rhs: str
    equation: str
    justification: tuple[tuple[str, str], ...]
    assumption: str = ""


@dataclass(frozen=True)
class Block:
    """Consecutive steps of one quantity, aligned on their equals signs.

    ``see`` is (derivation, first, last) when the same steps were shown before; ``lines`` is then empty.
    """

    lhs: str
    lines: tuple[Line, ...]
    see: tuple[str, int, int] | None = None


@dataclass(frozen=True)
class Section:
    """The derivation of one gradient: chain rule, its factors, the main line, the result."""

    lhs: str
    chain: Line
    factors: tuple[Block, ...]
    main: Block
    result: str
    assumption_steps: tuple[int, ...]


def written(expr: sp.Expr) -> sp.Expr:
    """A product in the textbook's order: sign, quantities, brackets, the feature x last.

    a_j*x_i*(1 - P_j) -> a_j*(1 - P_j)*x_i, (1 - a_1)*a_1 -> a_1*(1 - a_1); kept unevaluated.
    """
    factors = sp.Mul.make_args(expr)
    return sp.Mul(*sorted(factors, key=_place), evaluate=False) if len(factors) > 1 else expr


def _place(factor: sp.Expr) -> int:
    if factor.is_Number:
        return 0
    if factor.has(S.x):
        return 3
    return 2 if isinstance(factor, sp.Add) else 1


def explained(step, tex: Tex) -> tuple[tuple[str, str], ...]:
    """The step's justification as ("text", words) and ("math", formula) pieces, in order."""
    pieces = []
    for words, field, _, _ in string.Formatter().parse(step.justification):
        if words:
            pieces.append(("text", words))
        if field is not None:
            pieces.append(("math", tex(step.terms[int(field)])))
    return tuple(pieces)


def lines(steps, tex: Tex, used: frozenset[str], start: int, statement: str) -> tuple[Line, ...]:
    """Numbered lines; the left-hand side printed on the first line only."""
    return tuple(
        Line(
            start + n,
            tex(s.lhs) if n == 0 else "",
            tex(s.rhs),
            tex(s.lhs, s.rhs),
            explained(s, tex),
            statement if s.rule in used else "",
        )
        for n, s in enumerate(steps)
    )


def section(derivation: Derivation, tex: Tex, shown: dict) -> Section:
    """The steps of ``derivation`` grouped as the chain rule, its factors and the main line.

    A factor whose steps are in ``shown`` (from an earlier derivation) refers to them
    instead of repeating them; new ones are added to ``shown``.
    """
    model, steps = derivation.model, derivation.steps
    used = frozenset(model.assumption(n).rule.name for n in derivation.assumptions)
    statement = assumption_statement(derivation, tex)
    number = {id(s): n for n, s in enumerate(steps, 1)}
    factors = []
    for lhs in dict.fromkeys(s.lhs for s in steps if s.kind == FACTOR):
        group = tuple(s for s in steps if s.kind == FACTOR and s.lhs == lhs)
        first = number[id(group[0])]
        if group in shown:
            factors.append(Block(tex(lhs), (), see=shown[group]))
            continue
        factors.append(Block(tex(lhs), lines(group, tex, used, first, statement)))
        shown[group] = (tex(derivation.lhs), first, first + len(group) - 1)
    main = [s for s in steps if s.kind == MAIN]
    return Section(
        lhs=tex(derivation.lhs),
        chain=lines(steps[:1], tex, used, 1, statement)[0],
        factors=tuple(factors),
        main=Block(tex(derivation.lhs), lines(main, tex, used, number[id(main[0])], statement)),
        result=tex(derivation.lhs, derivation.result),
        assumption_steps=tuple(number[id(s)] for s in steps if s.rule in used),
    )


def assumption_statement(derivation: Derivation, tex: Tex) -> str:
    """Sum_k P_k = 1, printed, or "" when the derivation assumes nothing."""
    model = derivation.model
    return "; ".join(
        tex(a.statement.lhs, a.statement.rhs) for a in model.assumptions if a.name in derivation.assumptions
    )


def symbols(model, tex: Tex) -> dict:
    """The symbols the prose mentions, printed: x_i, K, P, a, k, j, k = j, k != j and the vectors."""
    k, j = model.output_index, model.logit.indices[0]
    i = model.parameters[0].indices[0]
    vectors = {f"{n}_vector": tex(sp.MatrixSymbol(n, 1, 1)) for n in ("x", "a", "P")}
    return dict(
        feature=tex(S.x[i]),
        classes=tex(S.K),
        label=tex(model.label.label),
        activation=tex(model.activation.base.label),
        k=tex(k),
        j=tex(j),
        entry=tex(sp.Tuple(k, j)),
        same=tex(sp.Eq(k, j)),
        other=tex(sp.Ne(k, j)),
        **vectors,
    )


def notation(model, tex: Tex) -> list[dict]:
    """The table of symbols: symbol, meaning (prose), the range of each of its indices."""
    rows = []
    for quantity, meaning, _ in S.MEANINGS:
        ranges = [index_range(q, low, tex.concrete(high)) for q, (low, high) in _ranges(quantity)]
        rows.append({"symbol": tex(quantity), "meaning": meaning, "indices": ranges})
    return rows


def _ranges(quantity: sp.Basic):
    return [(q, S.INDEX_RANGES[q]) for q in getattr(quantity, "indices", ())]


def definitions(model, tex: Tex) -> list[dict]:
    """The activation and the logit, indexed as in the notation table, with their meaning."""
    table = {q.base: (q, text) for q, text, _ in S.MEANINGS if isinstance(q, sp.Indexed)}
    rows = []
    for lhs, rhs in ((model.activation, model.activation_definition), (model.logit, model.logit_definition)):
        quantity, meaning = table[lhs.base]
        rhs = rhs.subs(dict(zip(lhs.indices, quantity.indices)))
        rows.append({"equation": tex(quantity, rhs), "meaning": meaning})
    return rows


def jacobian(derivation: Derivation, classes: int, tex: Tex) -> dict:
    """The softmax Jacobian for concrete K: the engine's factor da_k/dz_j at every k, j."""
    model = derivation.model
    lhs = sp.Derivative(model.activation, model.logit)
    factor = derivation.factor(lhs)
    k, j = model.output_index, model.logit.indices[0]
    entries = sp.Matrix(classes, classes, lambda r, c: written(factor.subs({k: r + 1, j: c + 1})))
    a, z = (sp.MatrixSymbol(str(q.base), classes, 1) for q in (model.activation, model.logit))
    return {
        "entry": tex(lhs, factor),
        "matrix": tex(sp.Derivative(a, z, evaluate=False), entries),
        "size": equation(S.K, sp.Integer(classes)),
        "diagonal": tex(written(factor.subs(k, j))),
        "off_diagonal": tex(written(factor.subs(sp.KroneckerDelta(j, k), 0))),
    }


def assumptions(derivation: Derivation, tex: Tex) -> list[dict]:
    """Each assumption of the model: its statement, what it means, whether the derivation uses it."""
    return [
        {
            "statement": tex(a.statement.lhs, a.statement.rhs),
            "description": a.description,
            "used": a.name in derivation.assumptions,
        }
        for a in derivation.model.assumptions
    ]


def exact_results(derivations: tuple[Derivation, ...], tex: Tex) -> list[str]:
    """Each result derived without the model's assumptions (for any labels)."""
    return [tex(d.lhs, derive(d.model, d.wrt, assume=False).result) for d in derivations]


def vector(expr: sp.Expr, index: sp.Symbol, length: sp.Expr) -> sp.MatrixExpr:
    """The index expression g_j as a vector: each quantity q_j becomes the column q (bold)."""
    expr = sp.expand(expr)
    columns = {q: sp.MatrixSymbol(str(q.base), length, 1) for q in expr.atoms(sp.Indexed) if q.indices == (index,)}
    return expr.xreplace(columns)


def matrix_forms(derivations: tuple[Derivation, ...]) -> list[tuple[sp.MatrixExpr, sp.MatrixExpr]]:
    """(nabla_W H, x g^T) and (nabla_b H, g) from the engine's results dH/dW_ij = x_i g_j, dH/db_j = g_j.

    Raises ValueError when dH/dW_ij is not x_i times an expression free of x.
    """
    weights, biases = derivations
    i, j = weights.wrt.indices
    row = sp.expand(weights.result / S.x[i])
    if row.has(S.x):
        raise ValueError(f"dH/dW_ij = {weights.result} is not x_i times a row")
    x = sp.MatrixSymbol("x", S.d, 1)
    W, b = sp.MatrixSymbol("W", S.d, S.K), sp.MatrixSymbol("b", S.K, 1)
    return [
        (Gradient(S.H, W), sp.MatMul(x, sp.Transpose(vector(row, j, S.K)), evaluate=False)),
        (Gradient(S.H, b), vector(biases.result, j, S.K)),
    ]


def class_names(classes: int) -> tuple[str, ...]:
    """The seed's class names when there are as many classes, else "class 1", "class 2", ..."""
    return SEED_CLASSES if classes == len(SEED_CLASSES) else tuple(f"class {q}" for q in range(1, classes + 1))


def feature_names(features: int) -> tuple[str, ...]:
    return SEED_FEATURES if features == len(SEED_FEATURES) else tuple(f"feature {q}" for q in range(1, features + 1))


def numbers(values: np.ndarray) -> sp.ImmutableMatrix:
    """An array as an explicit matrix of Floats (a vector as a column)."""
    array = np.asarray(values, dtype=float)
    return sp.ImmutableMatrix(array.reshape(-1, 1) if array.ndim == 1 else array)


def worked(example: Example, model, forms, tex: Tex) -> dict:
    """The worked example: the sample, the seed's table, z, a, H, the gradients, one descent step."""
    K, d = example.classes, example.features
    x, b, P, z, a = (sp.MatrixSymbol(n, d if n == "x" else K, 1) for n in ("x", "b", "P", "z", "a"))
    W = sp.MatrixSymbol("W", d, K)
    j = model.logit.indices[0]
    return {
        "header_a": tex(model.activation.base[j], sp.Function("Q")(S.x[j])),
        "header_y": tex(sp.IndexedBase("y")[j], sp.Function("P")(S.x[j])),
        "header_j": tex(j),
        "table": [
            {"meaning": name, "a": tex(sp.Float(av)), "j": tex(sp.Integer(q)), "y": tex(sp.Float(pv))}
            for q, (name, av, pv) in enumerate(zip(class_names(K), example.a, example.P), 1)
        ],
        "features_table": [
            {"meaning": name, "symbol": tex(S.x[q]), "value": tex(sp.Float(v))}
            for q, (name, v) in enumerate(zip(feature_names(d), example.x), 1)
        ],
        "inputs": [tex(W, numbers(example.W)), tex(b, numbers(example.b)), tex(P, numbers(example.P))],
        "z": tex(z, sp.MatAdd(sp.MatMul(sp.Transpose(W), x), b), numbers(example.z)),
        "a": tex(a, numbers(example.a)),
        "loss": tex(S.H, model.loss.subs(S.K, K), sp.Float(example.loss)),
        "gradients": [tex(lhs, rhs, numbers(v)) for (lhs, rhs), v in zip(forms, (example.grad_W, example.grad_b))],
        "fd_error": tex(sp.Float(example.fd_error, 2), decimals=None),
        "labels_total": tex(S.label_total().subs(S.K, K), sp.Float(example.P.sum())),
        "assumption_fails": bool(example.assume and not np.isclose(example.P.sum(), 1.0)),
        "descent": descent(example, (W, b)) if example.lr is not None else None,
    }


def descent(example: Example, parameters) -> dict:
    """One gradient-descent step: theta' = theta - eta nabla_theta H, symbolically and in numbers.

    Each step is the list of the sides of theta' = ... = ... = (the new values), printed.
    """
    steps = []
    for theta, now, grad, after in zip(
        parameters, (example.W, example.b), (example.grad_W, example.grad_b), (example.W_next, example.b_next)
    ):
        new = sp.MatrixSymbol(f"{theta.name}'", *theta.shape)
        rule = sp.MatAdd(theta, sp.MatMul(-1, ETA, Gradient(S.H, theta), evaluate=False), evaluate=False)
        numeric = sp.MatAdd(numbers(now), sp.MatMul(-1, ETA, numbers(grad), evaluate=False), evaluate=False)
        steps.append([latex(side) for side in (new, rule, numeric, numbers(after))])
    return {"eta": equation(ETA, sp.Float(example.lr), decimals=None), "steps": steps}


def missing_term(derivation: Derivation, formula: sp.Expr) -> sp.Expr:
    """truth - formula, under the derivation's assumptions, factored: what the formula drops."""
    difference = derivation.result - formula
    for name in derivation.assumptions:
        difference = derivation.model.assumption(name).rule(difference)
    return written(sp.factor_terms(sp.expand(difference)))


def mistakes(derivation: Derivation, example: Example, tex: Tex) -> list[dict]:
    """Each formula of MISTAKES beside the truth: the term it drops and the entries where it differs."""
    model = derivation.model
    K, d = example.classes, example.features
    values = checking.valuation(model, K, d, inputs(example.x, example.W, example.b, example.P, model))
    out = []
    for name, (formula, why) in MISTAKES.items():
        missing = missing_term(derivation, formula)
        given = example.mistakes[name]
        differ = [
            (r, c)
            for (r, c), v in np.ndenumerate(given)
            if not np.isclose(v, example.grad_W[r, c], rtol=1e-9, atol=1e-12)
        ]
        out.append(
            {
                "name": name,
                "why": why,
                "claim": tex(derivation.lhs, formula),
                "missing": tex(missing),
                "identity": tex(derivation.result, sp.Add(formula, missing, evaluate=False)),
                "matrix": tex(numbers(given)),
                "differences": [
                    _difference(derivation, missing, given, example, values, position, tex) for position in differ
                ],
            }
        )
    return out


def _difference(derivation: Derivation, missing: sp.Expr, given, example: Example, values, position, tex: Tex) -> dict:
    """One entry where a mistake differs: its value, the truth and the dropped term there."""
    r, c = position
    i, j = derivation.wrt.indices
    at = {i: r + 1, j: c + 1}
    dropped = checking.value(missing, example.classes, example.features, values, at)
    return {
        "entry": tex(sp.Derivative(S.H, derivation.wrt.subs(at))),
        "given": tex(sp.Float(given[position])),
        "truth": tex(sp.Float(example.grad_W[position])),
        "dropped": tex(sp.Float(dropped)),
        "dropped_value": dropped,
        "position": position,
    }


def document(derivations: tuple[Derivation, ...], example: Example, sizes: tuple[int, int] | None = None) -> dict:
    """The context of the derivation templates: generic K and d unless ``sizes`` (K, d) are given.

    Raises ValueError when ``sizes`` differ from the worked example's.
    """
    if sizes is not None and tuple(sizes) != (example.classes, example.features):
        raise ValueError(
            f"--classes {sizes[0]} --features {sizes[1]} do not match the worked example's sample "
            f"({example.classes} classes, {example.features} features): give --x and --W of that shape"
        )
    model = derivations[0].model
    tex = Tex(((S.K, sizes[0]), (S.d, sizes[1]))) if sizes else Tex()
    forms = matrix_forms(derivations)
    shown: dict = {}
    return {
        "title": model.title,
        "symbols": symbols(model, tex),
        "notation": notation(model, tex),
        "loss": tex(S.H, model.loss),
        "definitions": definitions(model, tex),
        "sections": [section(d, tex, shown) for d in derivations],
        "jacobian": jacobian(derivations[0], example.classes, tex),
        "assumptions": assumptions(derivations[0], tex),
        "exact": exact_results(derivations, tex),
        "matrix_forms": [tex(lhs, rhs) for lhs, rhs in forms],
        "example": worked(example, model, forms, tex),
        "mistakes": mistakes(derivations[0], example, tex),
    }
