"""The derivation document: every formula of the LaTeX and Markdown derivations, printed.

:func:`document` turns the engine's derivations and a worked example into the
context of the templates ``templates/latex/*.tex.jinja`` and
``templates/markdown/*.md.jinja``.  Every formula in it is a string printed by
:mod:`derive.latexprinter` from a SymPy expression; prose (justifications,
meanings, class names) stays plain text for the templates to escape.  Nothing
here formats math by hand, renders templates or writes files.

Every model goes through the same function and templates: what appears is
decided by the model's data.  A model with classes (``Model.output_index``)
gets the softmax Jacobian, the question's class table and its matrix forms; a
single output gets vector forms, and a sigmoid (named in its own derivative)
the section on sigma' = sigma (1 - sigma) and its equivalence with the 2-class
softmax; ``Model.mistakes``, a penalty and defined labels (label smoothing)
each bring their own section.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.claims.verdict import CheckResult
from derive.core import symbols as S
from derive.core.derivation import FACTOR, LABEL, Derivation, derive
from derive.core.models import SOFTMAX, Model
from derive.core.rules import WrittenSum
from derive.printing.latex import Gradient, equation, index_range, latex
from derive.verify.example import FD_TOLERANCE, Example

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

    ``kind`` says what the steps derive: "factor" (of the chain rule), "labels"
    (defined labels sum to one), "main" (the chain rule's product reduced),
    "penalty" (dR/dtheta of an L2 penalty) or "total" (data term plus penalty).
    ``see`` is (derivation, first, last) when the same steps were shown before; ``lines`` is then empty.
    """

    lhs: str
    lines: tuple[Line, ...]
    see: tuple[str, int, int] | None = None
    kind: str = "factor"


@dataclass(frozen=True)
class Section:
    """The derivation of one gradient: the chain rule, then its blocks of steps in order, the result."""

    lhs: str
    chain: Line
    blocks: tuple[Block, ...]
    result: str
    assumption_steps: tuple[int, ...]

    def block(self, kind: str) -> Block | None:
        """The first block of that kind, None when there is none."""
        return next((b for b in self.blocks if b.kind == kind), None)


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
    """Numbered lines; the left-hand side printed on the first line and wherever it changes."""
    return tuple(
        Line(
            start + n,
            tex(s.lhs) if n == 0 or s.lhs != steps[n - 1].lhs else "",
            tex(s.rhs),
            tex(s.lhs, s.rhs),
            explained(s, tex),
            statement if s.rule in used else "",
        )
        for n, s in enumerate(steps)
    )


def runs(steps) -> list[tuple[str, tuple]]:
    """Consecutive steps of the same kind and left-hand side, each with the kind of its block."""
    groups: list[list] = []
    for step in steps:
        if groups and (groups[-1][0].kind, groups[-1][0].lhs) == (step.kind, step.lhs):
            groups[-1].append(step)
        else:
            groups.append([step])
    kinds = []
    for group in groups:
        first = group[0]
        if first.kind == FACTOR:
            kinds.append("penalty" if first.lhs.expr == S.R else "factor")
        elif first.kind == LABEL:
            kinds.append("labels")
        else:
            kinds.append("total" if "main" in kinds else "main")
    return list(zip(kinds, map(tuple, groups)))


def section(derivation: Derivation, tex: Tex, shown: dict) -> Section:
    """The steps of ``derivation`` after the chain rule, in blocks: factors, labels, main line, penalty.

    A block whose steps are in ``shown`` (from an earlier derivation) refers to them
    instead of repeating them; new ones are added to ``shown``.
    """
    model, steps = derivation.model, derivation.steps
    used = frozenset(model.assumption(n).rule.name for n in derivation.assumptions)
    statement = assumption_statement(derivation, tex)
    blocks, first = [], 2
    for kind, group in runs(steps[1:]):
        if kind in ("factor", "labels", "penalty") and group in shown:
            blocks.append(Block(tex(group[0].lhs), (), see=shown[group], kind=kind))
        else:
            blocks.append(Block(tex(group[0].lhs), lines(group, tex, used, first, statement), kind=kind))
            shown.setdefault(group, (tex(derivation.lhs), first, first + len(group) - 1))
        first += len(group)
    return Section(
        lhs=tex(derivation.lhs),
        chain=lines(steps[:1], tex, used, 1, statement)[0],
        blocks=tuple(blocks),
        result=tex(derivation.lhs, derivation.result),
        assumption_steps=tuple(n for n, s in enumerate(steps, 1) if s.rule in used),
    )


def assumption_statement(derivation: Derivation, tex: Tex) -> str:
    """Sum_k P_k = 1, printed, or "" when the derivation assumes nothing."""
    model = derivation.model
    return "; ".join(
        tex(a.statement.lhs, a.statement.rhs) for a in model.assumptions if a.name in derivation.assumptions
    )


def words(model: Model) -> dict:
    """How the prose names the model's quantities (plural for a model with classes)."""
    many = model.output_index is not None
    label = {"distribution": "labels", "probability": "label", "real": "target"}[model.label_kind]
    return {
        "loss": model.loss_name,
        "label": label,
        "activation": model.activation_words + ("s" if many else ""),
        "logit": "logits" if many else "logit",
        "note": model.loss_note,
    }


def symbols(model: Model, tex: Tex) -> dict:
    """The symbols the prose mentions, printed: x_i, K, P, a (and k, j, k = j, k != j and the vectors)."""
    i = model.parameters[0].indices[0]
    out = dict(
        feature=tex(S.x[i]),
        label=tex(S.key(model.label)),
        activation=tex(S.key(model.activation)),
        x_vector=tex(sp.MatrixSymbol("x", 1, 1)),
        data_term=tex(S.L),
        penalty=tex(S.R),
    )
    k = model.output_index
    if k is None:
        return out
    j = model.logit.indices[0]
    vectors = {f"{n}_vector": tex(sp.MatrixSymbol(n, 1, 1)) for n in ("a", "P")}
    return dict(
        out,
        classes=tex(S.K),
        k=tex(k),
        j=tex(j),
        entry=tex(sp.Tuple(k, j)),
        same=tex(sp.Eq(k, j)),
        other=tex(sp.Ne(k, j)),
        **vectors,
    )


def quantities(model: Model) -> list[sp.Basic]:
    """The keys of the model's quantities in the order of the notation table."""
    keys = [S.x, *(S.key(p) for p in model.parameters), S.key(model.logit), S.key(model.activation), S.key(model.label)]
    if model.label_definition is not None:
        keys += [S.eps, S.c]
    if model.penalty != 0:
        keys += [S.L, S.R, S.lam]
    return keys + [S.H]


def meaning(model: Model, key: sp.Basic) -> tuple[sp.Basic, str]:
    """(the quantity as the table writes it, what it means) for the model."""
    if key == S.key(model.label) and model.label_kind in S.LABEL_MEANINGS:
        return model.label, S.LABEL_MEANINGS[model.label_kind]
    if key == S.H:
        return S.H, f"{model.loss_name} loss" + (" plus the L2 penalty" if model.penalty != 0 else "")
    if key == S.L:
        return S.L, f"data term of the loss: the {model.loss_name}"
    return S.NOTATION[key]


def notation(model: Model, tex: Tex) -> list[dict]:
    """The table of symbols: symbol, meaning (prose), the range of each of its indices."""
    rows = []
    for key in quantities(model):
        quantity, text = meaning(model, key)
        ranges = [index_range(q, low, tex.concrete(high)) for q, (low, high) in _ranges(quantity)]
        rows.append({"symbol": tex(quantity), "meaning": text, "indices": ranges})
    return rows


def _ranges(quantity: sp.Basic):
    return [(q, S.INDEX_RANGES[q]) for q in getattr(quantity, "indices", ())]


#: the meaning of defined labels (label smoothing) in the definitions, in the notation table's index j
DEFINED_LABEL = "smoothed label of class j, for the true class c"


def definitions(model: Model, tex: Tex) -> list[dict]:
    """The activation, the logit (and defined labels), indexed as in the notation table, with their meaning."""
    rows = [
        (model.activation, model.activation_definition, None),
        (model.logit, model.logit_definition, None),
    ]
    if model.label_definition is not None:
        rows.append((model.label[model.output_index], model.label_definition, DEFINED_LABEL))
    out = []
    for lhs, rhs, text in rows:
        quantity, meant = meaning(model, S.key(lhs))
        if isinstance(lhs, sp.Indexed):
            rhs = rhs.subs(dict(zip(lhs.indices, quantity.indices)))
        out.append({"equation": tex(quantity, rhs), "meaning": text or meant})
    return out


def losses(model: Model, tex: Tex) -> list[str]:
    """H = the loss; with a penalty H = L + R, then L and R."""
    if model.penalty == 0:
        return [tex(S.H, model.loss)]
    return [tex(S.H, WrittenSum.written(S.L, S.R)), tex(S.L, model.loss), tex(S.R, model.penalty)]


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


def array(quantity: sp.Basic) -> sp.Basic:
    """The matrix (bold) that holds every entry of an indexed quantity: W_ij -> W (d x K), b_j -> b, w_i -> w.

    A scalar stays itself.
    """
    if not isinstance(quantity, sp.Indexed):
        return quantity
    sizes = [S.INDEX_RANGES[q][1] for q in quantity.indices]
    return sp.MatrixSymbol(str(quantity.base), sizes[0], sizes[1] if len(sizes) > 1 else 1)


def gradient_symbol(parameter: sp.Basic) -> sp.Basic:
    """nabla_W H for a vector or matrix parameter, dH/db for a scalar one."""
    holder = array(parameter)
    return Gradient(S.H, holder) if isinstance(holder, sp.MatrixSymbol) else sp.Derivative(S.H, holder)


def matrix_form(derivation: Derivation) -> tuple[sp.Basic, sp.Basic]:
    """(nabla_theta H, its closed form in matrices) from the engine's result, one case per index shape.

    dH/dW_ij = x_i g_j -> x g^T; dH/db_j = g_j -> g; dH/dw_i = x_i s -> s x; dH/db = s; a penalty's
    dR/dW_ij = lambda W_ij adds lambda W.  Raises ValueError when the data term is not of that shape.
    """
    wrt, data = derivation.wrt, derivation.data_result
    indices = getattr(wrt, "indices", ())
    if S.i in indices:
        row = sp.expand(data / S.x[S.i])
        if row.has(S.x):
            raise ValueError(f"dH/d{wrt} = {data} is not x_i times a row")
        x = array(S.x[S.i])
        if len(indices) == 2:
            form = sp.MatMul(x, sp.Transpose(vector(row, indices[1], S.K)), evaluate=False)
        else:
            form = sp.MatMul(row, x, evaluate=False)
    else:
        form = vector(data, indices[0], S.K) if indices else sp.expand(data)
    penalty = derivation.penalty_result
    if penalty != 0:
        form = sp.MatAdd(form, penalty.xreplace({wrt: array(wrt)}), evaluate=False)
    return gradient_symbol(wrt), form


def matrix_forms(derivations: tuple[Derivation, ...]) -> list[tuple[sp.Basic, sp.Basic]]:
    """(nabla_W H, x g^T) and (nabla_b H, g) from the engine's results dH/dW_ij = x_i g_j, dH/db_j = g_j.

    Raises ValueError when dH/dW_ij is not x_i times an expression free of x.
    """
    return [matrix_form(d) for d in derivations]


def columns(model: Model, tex: Tex) -> list[dict]:
    """The columns the matrix forms are written in: x (features), and a, P for a model with classes."""
    quantities = [(S.x, "features")]
    if model.output_index is not None:
        quantities += [
            (S.key(model.activation), words(model)["activation"]),
            (S.key(model.label), words(model)["label"]),
        ]
    return [{"symbol": tex(sp.MatrixSymbol(str(q), 1, 1)), "words": w} for q, w in quantities]


def numbers(values: np.ndarray) -> sp.ImmutableMatrix:
    """An array as an explicit matrix of Floats (a vector as a column)."""
    array = np.asarray(values, dtype=float)
    return sp.ImmutableMatrix(array.reshape(-1, 1) if array.ndim == 1 else array)


def value(holder: sp.Basic, values) -> sp.Basic:
    """The numbers of a quantity: an explicit matrix for a matrix symbol, a Float for a scalar."""
    if isinstance(holder, sp.MatrixSymbol):
        return numbers(values)
    return sp.Float(float(np.asarray(values, dtype=float).reshape(-1)[0]))


def sized(holder: sp.Basic, K: int, d: int) -> sp.Basic:
    """A matrix symbol with the sizes of the worked example."""
    if not isinstance(holder, sp.MatrixSymbol):
        return holder
    return sp.MatrixSymbol(holder.name, *(n.xreplace({S.K: K, S.d: d}) for n in holder.shape))


def worked(example: Example, model: Model, forms, tex: Tex, constants: dict) -> dict:
    """The worked example: the sample, the seed's table, z, a, H, the gradients, one descent step."""
    K, d = example.classes, example.features
    many = model.output_index is not None
    label = model.label[S.j] if many else model.label
    W, b, P, z, a = (sized(array(q), K, d) for q in (*model.parameters, label, model.logit, model.activation))
    x = sized(array(S.x[S.i]), K, d)
    j = model.logit.indices[0] if many else None
    strengths = [tex(symbol, sp.Float(number), decimals=None) for symbol, number in constants.items()]
    if model.label_definition is not None:
        strengths.append(tex(S.c, sp.Integer(int(np.argmax(example.P)) + 1)))
    logit = (
        sp.MatAdd(sp.MatMul(sp.Transpose(W), x), b) if many else WrittenSum.written(sp.MatMul(sp.Transpose(W), x), b)
    )
    return {
        "table": _question_table(example, model, j, tex) if many else None,
        "features_table": [
            {"meaning": name, "symbol": tex(S.x[q]), "value": tex(sp.Float(v))}
            for q, (name, v) in enumerate(zip(model.names("features", d), example.x), 1)
        ],
        "inputs": [tex(W, value(W, example.W)), tex(b, value(b, example.b)), tex(P, value(P, example.P))],
        "strengths": strengths,
        "z": tex(z, logit, value(z, example.z)),
        "a": tex(a, value(a, example.a)),
        "loss": tex(S.H, _loss(model, K, d), sp.Float(example.loss)),
        "gradients": [
            # labels that break the assumption get the exact form's numbers, which the matrix form does not give
            tex(lhs, value(sized(array(p), K, d), v)) if example.dropped else tex(lhs, rhs, value(sized(array(p), K, d), v))
            for (lhs, rhs), p, v in zip(forms, model.parameters, (example.grad_W, example.grad_b))
        ],
        "fd_error": fd_gap(example, tex),
        "labels_total": tex(S.label_total().subs(S.K, K), sp.Float(example.P.sum())) if many else "",
        "assumption_fails": bool(example.dropped),
        "descent": descent(example, (W, b)) if example.lr is not None else None,
    }


def fd_gap(example: Example, printer) -> str:
    """The finite-difference gap as the bound "< 10^{-8}" when it is below it (the gap's own last
    digits depend on the machine), else the gap itself."""
    if example.fd_agrees:
        return "< " + printer(sp.Float(FD_TOLERANCE, 1), decimals=None)
    return printer(sp.Float(example.fd_error, 2), decimals=None)


def _loss(model: Model, K: int, d: int) -> sp.Expr:
    """The loss for the example's number of classes (and features, in a penalty): H, or L + R written so."""
    if model.penalty == 0:
        return model.loss.subs(S.K, K)
    return WrittenSum.written(*(term.subs({S.K: K, S.d: d}) for term in (model.loss, model.penalty)))


def _question_table(example: Example, model: Model, j: sp.Symbol, tex: Tex) -> dict:
    """The question's table: meaning | a_j = Q(x_j) | j | y_j = P(x_j), one row per class."""
    return {
        "header_a": tex(model.activation.base[j], sp.Function("Q")(S.x[j])),
        "header_y": tex(sp.IndexedBase("y")[j], sp.Function("P")(S.x[j])),
        "header_j": tex(j),
        "rows": [
            {"meaning": name, "a": tex(sp.Float(av)), "j": tex(sp.Integer(q)), "y": tex(sp.Float(pv))}
            for q, (name, av, pv) in enumerate(zip(model.names("classes", example.classes), example.a, example.P), 1)
        ],
    }


def descent(example: Example, parameters) -> dict:
    """One gradient-descent step: theta' = theta - eta nabla_theta H, symbolically and in numbers.

    Each step is the list of the sides of theta' = ... = ... = (the new values), printed.
    """
    steps = []
    for theta, now, grad, after in zip(
        parameters, (example.W, example.b), (example.grad_W, example.grad_b), (example.W_next, example.b_next)
    ):
        if isinstance(theta, sp.MatrixSymbol):
            new = sp.MatrixSymbol(f"{theta.name}'", *theta.shape)
            rule = sp.MatAdd(theta, sp.MatMul(-1, ETA, Gradient(S.H, theta), evaluate=False), evaluate=False)
            numeric = sp.MatAdd(numbers(now), sp.MatMul(-1, ETA, numbers(grad), evaluate=False), evaluate=False)
        else:
            new = sp.Symbol(f"{theta.name}'")
            rule = WrittenSum.written(theta, sp.Mul(-1, ETA, sp.Derivative(S.H, theta), evaluate=False))
            numeric = WrittenSum.written(value(theta, now), sp.Mul(-1, ETA, value(theta, grad), evaluate=False))
        steps.append([latex(side) for side in (new, rule, numeric, value(theta, after))])
    return {"eta": equation(ETA, sp.Float(example.lr), decimals=None), "steps": steps}


def missing_term(derivation: Derivation, formula: sp.Expr) -> sp.Expr:
    """truth - formula, under the derivation's assumptions, factored: what the formula drops."""
    difference = derivation.result - formula
    for name in derivation.assumptions:
        difference = derivation.model.assumption(name).rule(difference)
    return written(sp.factor_terms(sp.expand(difference)))


def mistakes(derivation: Derivation, example: Example, tex: Tex, constants: dict | None = None) -> list[dict]:
    """Each of the model's common mistakes beside the truth: the term it drops and the entries where it differs."""
    model = derivation.model
    out = []
    for name, formula, why in model.mistakes:
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
                "differences": [_difference(derivation, given, example, position, tex) for position in differ],
            }
        )
    return out


def _difference(derivation: Derivation, given, example: Example, position, tex: Tex) -> dict:
    """One entry where a mistake differs: its value, the truth and the dropped term there (truth - mistake)."""
    r, c = position
    i, j = derivation.wrt.indices
    at = {i: r + 1, j: c + 1}
    dropped = float(example.grad_W[position] - given[position])
    return {
        "entry": tex(sp.Derivative(S.H, derivation.wrt.subs(at))),
        "given": tex(sp.Float(given[position])),
        "truth": tex(sp.Float(example.grad_W[position])),
        "dropped": tex(sp.Float(dropped)),
        "dropped_value": dropped,
        "position": position,
    }


def activation_derivative(derivation: Derivation, section: Section, tex: Tex) -> dict | None:
    """For a single output named in its own derivative (the sigmoid): sigma' = sigma (1 - sigma), and its use.

    The factor, the steps that derived it, and the product with dH/dsigma that the chain rule reduces.
    """
    model = derivation.model
    if model.output_index is not None or not model.naming:
        return None
    lhs = sp.Derivative(model.activation, model.logit)
    outer = next(s.lhs for s in derivation.steps if s.kind == FACTOR and s.lhs.variables == (model.activation,))
    block = next(b for b in section.blocks if b.lhs == tex(lhs))
    product = sp.Mul(derivation.factor(outer), derivation.factor(lhs), evaluate=False)
    return {
        "entry": tex(lhs, derivation.factor(lhs)),
        "steps": (block.lines[0].number, block.lines[-1].number),
        "product": tex(sp.Mul(outer, lhs, evaluate=False), product, sp.factor(sp.cancel(sp.Mul(*product.args)))),
    }


def penalty(derivations: tuple[Derivation, ...], sections: list[Section], tex: Tex) -> dict | None:
    """Where the L2 penalty enters: dR/dtheta (its steps), the step that adds it, the parameters it spares."""
    model = derivations[0].model
    if model.penalty == 0:
        return None
    found = [(d, s) for d, s in zip(derivations, sections) if s.block("penalty") is not None]
    derivation, section_ = found[0]
    block, total = section_.block("penalty"), section_.block("total")
    return {
        "definition": tex(S.R, model.penalty),
        "derivative": tex(sp.Derivative(S.R, derivation.wrt), derivation.penalty_result),
        "of": section_.lhs,
        "steps": (block.lines[0].number, block.lines[-1].number),
        "total_step": total.lines[0].number,
        "data": tex(sp.Derivative(S.L, derivation.wrt), derivation.data_result),
        "spared": [s.lhs for d, s in zip(derivations, sections) if s.block("penalty") is None],
    }


def smoothing(derivations: tuple[Derivation, ...], sections: list[Section], tex: Tex) -> dict | None:
    """Defined labels (label smoothing): the steps that prove they sum to one, and the unchanged closed form."""
    model = derivations[0].model
    block = sections[0].block("labels")
    if model.label_definition is None or block is None:
        return None
    k = model.output_index
    last = [s for s in derivations[0].steps if s.kind == LABEL][-1]
    return {
        "definition": tex(model.label[k], model.label_definition),
        "steps": (block.lines[0].number, block.lines[-1].number),
        "of": sections[0].lhs,
        "total": tex(last.lhs, last.rhs),
        "result": tex(derivations[0].lhs, derivations[0].result),
    }


def two_class_softmax(model: Model, pair: tuple[Example, Example] | None, tex: Tex) -> dict | None:
    """The sigmoid model is the 2-class softmax: at the seed's sample with w = W_.1 - W_.2, b = b_1 - b_2, y = P_1,
    the engine's numbers of both models (``pair``: the binary and the softmax worked examples), side by side.
    """
    if pair is None:
        return None
    binary, softmax = pair
    i, z1, z2 = S.i, S.z[1], S.z[2]
    first = SOFTMAX.activation_definition.subs({SOFTMAX.output_index: 1, S.K: 2}).doit()
    pairs = [
        ((S.logit, binary.z[0]), (WrittenSum.written(z1, -z2), softmax.z[0] - softmax.z[1])),
        ((S.sigma, binary.a[0]), (S.a[1], softmax.a[0])),
        ((S.H, binary.loss), (S.H, softmax.loss)),
        *(
            (
                (sp.Derivative(S.H, S.w[r]), binary.grad_W[r - 1]),
                (sp.Derivative(S.H, S.W[r, 1]), softmax.grad_W[r - 1, 0]),
            )
            for r in range(1, binary.features + 1)
        ),
        ((sp.Derivative(S.H, S.bias), float(binary.grad_b)), (sp.Derivative(S.H, S.b[1]), softmax.grad_b[0])),
    ]
    rows = [{"binary": tex(q, sp.Float(u)), "softmax": tex(r, sp.Float(v))} for (q, u), (r, v) in pairs]
    largest = max(abs(u - v) for (_, u), (_, v) in pairs)
    return {
        "parameters": [
            tex(S.w[i], WrittenSum.written(S.W[i, 1], -S.W[i, 2])),
            tex(S.bias, WrittenSum.written(S.b[1], -S.b[2])),
            tex(S.y, S.P[1]),
        ],
        "numbers": [
            tex(sp.MatrixSymbol("w", 2, 1), numbers(binary.W)),
            tex(S.bias, sp.Float(float(binary.b))),
            tex(S.y, sp.Float(float(binary.P))),
        ],
        "logit": tex(S.logit, WrittenSum.written(z1, -z2)),
        "identity": tex(
            S.a[1],
            first,
            model.activation_definition.subs(S.logit, WrittenSum.written(z1, -z2)),
            sp.Function("sigma")(z1 - z2),
        ),
        "rows": rows,
        "largest": tex(sp.Float(largest, 2), decimals=None),
        "largest_value": largest,
        "agree": bool(largest < 1e-9),
    }


def checks(model: Model, judged: tuple[tuple[str, CheckResult], ...], assume: bool) -> dict | None:
    """The model's seed claims as judged by ``derive check`` (``judged``, at its example); None when there are none.

    The claims and the truth are generic in K and d (the verdict is), so they are printed without the
    document's concrete sizes.
    """
    if not judged:
        return None
    tex = Tex()
    x = np.asarray(model.example["x"], dtype=float)
    classes = model.names("classes", len(model.example["P"]))
    return {
        "lhs": tex(judged[0][1].lhs),
        "exact": not assume,
        "assumption": "; ".join(tex(a.statement.lhs, a.statement.rhs) for a in model.assumptions) if assume else "",
        "sample": [tex(S.x[q], sp.Float(v), decimals=None) for q, v in enumerate(x, 1)],
        "label": classes[int(np.argmax(model.example["P"]))],
        "claims": [checked(model, name, result, tex) for name, result in judged],
    }


def checked(model: Model, name: str, result: CheckResult, tex: Tex) -> dict:
    """One verdict: the claim as typed and as read, the truth, claim - truth, why, and a counterexample."""
    found = result.counterexample
    return {
        "name": name,
        "typed": result.claim.text,
        "claim": tex(result.lhs, written(result.claim.expr)),
        "truth": tex(result.lhs, result.truth),
        "verdict": result.verdict,
        "exit_code": result.exit_code,
        "difference": tex(written(result.difference)),
        "explanation": result.explanation or "",
        "method": result.method(),
        "counterexample": counterexample(model, result, tex) if found else None,
    }


def counterexample(model: Model, result: CheckResult, tex: Tex) -> dict:
    """The entry where claim and truth differ most: its name, both values, the finite difference of the loss.

    ``place`` names the entry's feature and class at the question's sample, or (``seed`` False) describes
    the random point where the claim fails.
    """
    found = result.counterexample
    entry = result.claim.wrt.xreplace({q: found.indices[str(q)] for q in result.claim.wrt.indices})
    seed = found.where == "seed"
    features = model.names("features", len(model.example["x"]))
    classes = model.names("classes", len(model.example["P"]))
    place = [features[found.indices["i"] - 1]] if "i" in found.indices else []
    return {
        "seed": seed,
        "entry": tex(sp.Derivative(S.H, entry)),
        "place": ", ".join([*place, classes[found.indices["j"] - 1]]) if seed else found.description,
        "claim": tex(sp.Float(found.claim)),
        "truth": tex(sp.Float(found.truth)),
        "finite_difference": None if found.finite_difference is None else tex(sp.Float(found.finite_difference)),
    }


def document(
    derivations: tuple[Derivation, ...],
    example: Example,
    sizes: tuple[int, int] | None = None,
    constants: dict | None = None,
    judged: tuple[tuple[str, CheckResult], ...] = (),
    pair: tuple[Example, Example] | None = None,
) -> dict:
    """The context of the derivation templates: generic K and d unless ``sizes`` (K, d) are given.

    ``constants`` are the values of the model's symbolic strengths (lambda, epsilon) in the
    worked example, by default the model's own.  ``judged`` are the model's seed claims with
    their verdicts (the section "Check your derivation"), ``pair`` the worked examples of a
    sigmoid model and of the 2-class softmax at the seed's sample (the section on their
    equivalence); both are computed by the caller.  Raises ValueError when ``sizes`` differ
    from the worked example's.
    """
    if sizes is not None and tuple(sizes) != (example.classes, example.features):
        raise ValueError(
            f"--classes {sizes[0]} --features {sizes[1]} do not match the worked example's sample "
            f"({example.classes} classes, {example.features} features): give --x and --W of that shape"
        )
    model = derivations[0].model
    constants = {**model.constants, **(constants or {})}
    tex = Tex(((S.K, sizes[0]), (S.d, sizes[1]))) if sizes else Tex()
    forms = matrix_forms(derivations)
    shown: dict = {}
    sections = [section(d, tex, shown) for d in derivations]
    many = model.output_index is not None
    return {
        "title": model.title,
        "many": many,
        "words": words(model),
        "symbols": symbols(model, tex),
        "notation": notation(model, tex),
        "loss": losses(model, tex),
        "definitions": definitions(model, tex),
        "sections": sections,
        "jacobian": jacobian(derivations[0], example.classes, tex) if many else None,
        "derivative": activation_derivative(derivations[0], sections[0], tex),
        "assumptions": assumptions(derivations[0], tex),
        "smoothing": smoothing(derivations, sections, tex),
        "penalty": penalty(derivations, sections, tex),
        "exact": exact_results(derivations, tex),
        "matrix_forms": [tex(lhs, rhs) for lhs, rhs in forms if isinstance(lhs, Gradient)],
        "columns": columns(model, tex),
        "example": worked(example, model, forms, tex, constants),
        "mistakes": mistakes(derivations[0], example, tex, constants),
        "equivalence": two_class_softmax(model, pair, tex),
        "check": checks(model, judged, bool(derivations[0].assumptions)),
    }
