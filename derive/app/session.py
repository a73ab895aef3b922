r"""Interactive use: the engine's objects wrapped for a notebook and a terminal.

:func:`model` returns a :class:`Session`; its derivations, formulas and worked
examples display as math in Jupyter (``_repr_latex_`` / ``_repr_markdown_``)
and as the command line's text in a terminal (``repr``).  Math is printed by
:mod:`derive.latexprinter` and :mod:`derive.textprinter`, Markdown laid out by
the templates ``templates/markdown/session-*.md.jinja``; nothing here formats a
formula by hand.

>>> import derive
>>> softmax = derive.model("softmax")
>>> softmax.derivation("W").result
dH/dW_ij = -(P_j - a_j)*x_i
>>> softmax.derivation("W").result._repr_latex_()
'$\\displaystyle \\frac{\\partial H}{\\partial W_{ij}} = - \\left(P_{j} - a_{j}\\right) x_{i}$'
>>> softmax.steps[0]
 1. [chain_rule] dH/dW_ij = Sum(dH/da_k*da_k/dz_j*dz_j/dW_ij, (k, 1, K))
      W_ij enters H only through z_j, which enters through every a_k
>>> softmax.gradients()
dH/dW_ij = -(P_j - a_j)*x_i
dH/db_j = -(P_j - a_j)
assuming Sum(P_k, (k, 1, K)) = 1 (labels_sum_to_one); --exact drops the assumption
>>> softmax.jacobian(2)
da/dz = Matrix([
[a_1*(1 - a_1),      -a_1*a_2],
[     -a_1*a_2, a_2*(1 - a_2)]])
>>> example = softmax.example(lr=0.1)
>>> round(example.loss, 6)
1.255414
>>> example.grad_W[:, 1].round(6).tolist()
[1.35858, 0.286017]
>>> result = softmax.check("-P_j*(1-a_j)*x_i")
>>> result.verdict, result.counterexample.entry, round(result.counterexample.truth, 6)
('incorrect', 'W_12', 1.35858)
>>> softmax.code(dtype="float32").module().DTYPE
dtype('float32')
>>> derive.model("logistic", l2=0.01).derivation("w").result
dH/dw_i = -(y - sigma)*x_i + lambda*w_i
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import sympy as sp

from derive.app import code as codegen
from derive.claims import verdict
from derive.claims.verdict import CheckResult, seed_checks
from derive.core import symbols as S
from derive.core.derivation import Derivation, Step, derive
from derive.core.models import Model, configure
from derive.core.rules import WrittenSum
from derive.printing.latex import Gradient, equation
from derive.printing.text import text
from derive.render import document
from derive.render.check import report as check_report
from derive.render.check import repr_latex
from derive.render.environment import render
from derive.render.report import assumption_line, example_report
from derive.verify import checking
from derive.verify.example import Example, two_class_pair, worked_example

#: the learning rate of the documents' gradient-descent step (as ``derive latex``'s default)
DOCUMENT_LR = 0.1


@dataclass(frozen=True)
class Formula:
    """``a = b = c`` of SymPy objects: LaTeX in Jupyter, the seed's plain text in a terminal.

    ``value`` is the last side, the SymPy object to compute with.
    """

    sides: tuple[sp.Basic, ...]

    @property
    def value(self) -> sp.Basic:
        return self.sides[-1]

    def latex(self) -> str:
        return equation(*self.sides)

    def _repr_latex_(self) -> str:
        return rf"$\displaystyle {self.latex()}$"

    def __repr__(self) -> str:
        return " = ".join(text(side) for side in self.sides)


@dataclass(frozen=True)
class StepView:
    """Step ``number`` of a derivation: its equation, the rule that produced it and why."""

    step: Step
    number: int
    derivation: Derivation = field(repr=False)

    @property
    def formula(self) -> Formula:
        return Formula((self.step.lhs, self.step.rhs))

    def _repr_latex_(self) -> str:
        return self.formula._repr_latex_()

    def _repr_markdown_(self) -> str:
        return _steps_markdown(self.derivation, (self.step,), self.number)

    def __repr__(self) -> str:
        return f"{self.number:2d}. [{self.step.rule}] {self.formula!r}\n      {self.step.explain(text)}"


@dataclass(frozen=True)
class DerivationView:
    """One derivation: its numbered steps in Jupyter (Markdown) and in a terminal, and its result.

    ``derivation`` is the engine's :class:`~derive.derivation.Derivation`.
    """

    derivation: Derivation

    @property
    def steps(self) -> tuple[StepView, ...]:
        return tuple(StepView(s, n, self.derivation) for n, s in enumerate(self.derivation.steps, 1))

    @property
    def result(self) -> Formula:
        """The closed form, dH/dW_ij = ..."""
        return Formula((self.derivation.lhs, self.derivation.result))

    def latex(self) -> str:
        return self.result.latex()

    def markdown(self) -> str:
        return _steps_markdown(self.derivation, self.derivation.steps, 1)

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __repr__(self) -> str:
        return "\n".join([*map(repr, self.steps), repr(self.result)])


@dataclass(frozen=True)
class Gradients:
    """Every closed form of a model, like ``derive gradient``; iterate for the derivations."""

    derivations: tuple[DerivationView, ...]

    def __iter__(self):
        return iter(self.derivations)

    def __getitem__(self, n: int) -> DerivationView:
        return self.derivations[n]

    def __len__(self) -> int:
        return len(self.derivations)

    def _repr_markdown_(self) -> str:
        first = self.derivations[0].derivation
        assumptions = [a.statement for a in first.model.assumptions if a.name in first.assumptions]
        return render(
            "markdown",
            "session-gradients.md.jinja",
            results=[d.latex() for d in self.derivations],
            assumptions=[equation(a.lhs, a.rhs) for a in assumptions],
        )

    def __repr__(self) -> str:
        return "\n".join([*(repr(d.result) for d in self.derivations), assumption_line(self.derivations[0].derivation)])


@dataclass(frozen=True)
class ExampleView:
    """A worked example: tables in a terminal, the engine's numbers as math in Jupyter.

    Every attribute of the engine's :class:`~derive.example.Example` (``z``, ``a``,
    ``loss``, ``grad_W``, ``W_next`` ...) is available on the view.
    """

    example: Example
    derivations: tuple[Derivation, ...]

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.example, name)

    def _repr_markdown_(self) -> str:
        return render("markdown", "session-example.md.jinja", **_example_context(self.example, self.derivations))

    def __repr__(self) -> str:
        return example_report(self.example, self.derivations).rstrip("\n")


@dataclass(frozen=True)
class CheckView:
    """A verdict of ``derive check``: its report in a terminal, one line of math in Jupyter.

    Every attribute of the engine's :class:`~derive.claims.verdict.CheckResult` (``verdict``,
    ``difference``, ``counterexample``, ``as_dict()`` ...) is available on the view.
    """

    result: CheckResult

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.result, name)

    def report(self) -> str:
        """The text ``derive check`` prints."""
        return check_report(self.result)

    def _repr_latex_(self) -> str:
        return repr_latex(self.result)

    def __repr__(self) -> str:
        return self.report().rstrip("\n")


@dataclass(frozen=True)
class Code:
    """Generated Python source: a highlighted block in Jupyter, the text itself in a terminal.

    ``head(n)`` is its first n lines (for display); ``module()`` imports the whole source.
    """

    source: str
    dtype: str = "float64"

    def head(self, lines: int = 12) -> Code:
        return Code("".join(self.source.splitlines(keepends=True)[:lines]), self.dtype)

    def module(self):
        """The source as a module object with ``loss``, ``grad`` and ``loss_and_grad``."""
        return codegen.load_module(self.source, codegen.module_name(self.dtype).removesuffix(".py"))

    def _repr_markdown_(self) -> str:
        return render("markdown", "session-code.md.jinja", source=self.source)

    def __repr__(self) -> str:
        return self.source.rstrip("\n")


@dataclass(frozen=True)
class Session:
    """A model with its add-ons, and everything derive knows about it, ready to display.

    Build it with :func:`model`.  ``constants`` are the numeric strengths of the
    add-ons (lambda, epsilon); ``assume`` switches the model's assumptions on.
    """

    model: Model
    constants: dict = field(default_factory=dict, hash=False, compare=False)
    assume: bool = True

    def derivation(self, wrt: str | sp.Basic | None = None) -> DerivationView:
        """The derivation of dH/d(wrt), by default for the first parameter (W_ij, or w_i)."""
        return DerivationView(derive(self.model, self.model.parameters[0] if wrt is None else wrt, self.assume))

    @property
    def steps(self) -> tuple[StepView, ...]:
        """The steps of the first parameter's derivation."""
        return self.derivation().steps

    def gradients(self) -> Gradients:
        """One derivation per parameter, displayed as the closed forms."""
        return Gradients(tuple(self.derivation(p) for p in self.model.parameters))

    def jacobian(self, classes: int | None = None) -> Formula:
        """da_k/dz_j from the derivation; for ``classes`` K the K x K matrix of its entries."""
        if self.model.output_index is None:
            single = text(sp.Derivative(self.model.activation, self.model.logit))
            raise ValueError(f"model {self.model.name!r} has a single output: no Jacobian matrix, only {single}")
        lhs = sp.Derivative(self.model.activation, self.model.logit)
        factor = self.derivation().derivation.factor(lhs)
        if classes is None:
            return Formula((lhs, factor))
        return Formula(_jacobian_matrix(self.model, factor, classes))

    def example(self, x=None, W=None, b=None, P=None, lr: float | None = None, label: int | None = None) -> ExampleView:
        """The worked example at one's own sample; missing values are the model's own example's.

        ``W`` and ``b`` are the model's parameters (W: rows = features, columns =
        classes; w and the scalar b for single-output models), ``P`` its labels
        (the scalar y), or ``label`` the 1-based true class (one-hot, or smoothed).
        Raises ValueError for shapes that do not fit.
        """
        x, W, b, P = _sample(self.model, x, W, b, P, label, self.constants)
        example = worked_example(x, W, b, P, lr=lr, model=self.model, assume=self.assume, constants=self.constants)
        return ExampleView(example, tuple(d.derivation for d in self.gradients()))

    def context(self, lr: float = DOCUMENT_LR) -> dict:
        """The context of the derivation documents (softmax without add-ons, as ``derive latex``)."""
        if self.model.name != "softmax":
            raise ValueError(f"the derivation documents cover the plain softmax model, not {self.model.name!r}")
        derivations = tuple(d.derivation for d in self.gradients())
        judged = seed_checks(self.model, self.assume)
        return document.document(derivations, self.example(lr=lr).example, judged=judged, pair=two_class_pair(self.model))

    def latex(self, lr: float = DOCUMENT_LR) -> str:
        """The derivation as LaTeX, the body ``derive latex --fragment`` writes."""
        return render("latex", "body.tex.jinja", **self.context(lr))

    def markdown(self, lr: float = DOCUMENT_LR) -> str:
        """The derivation as Markdown with $$ math, as ``derive markdown`` writes."""
        return render("markdown", "derivation.md.jinja", **self.context(lr))

    def check(self, claim: str, wrt: str | None = None, latex: bool | None = None) -> CheckView:
        """``derive check``: the verdict on a claimed formula for the first parameter's derivative
        (``wrt="b"``: the bias's).

        Judged for this session's model and add-ons, with its assumption (``exact=True`` drops
        Sum_k P_k = 1); ``latex`` reads the claim as LaTeX (None: detected).  Raises ValueError for
        a claim that cannot be read.
        """
        result = verdict.check(claim, wrt=wrt, assume=self.assume, latex=latex, model=self.model, constants=self.constants)
        return CheckView(result)

    def code(self, dtype: str = "float64") -> Code:
        """The generated NumPy module (``derive code``): the exact form, for any labels.

        Raises ValueError for a dtype other than float64 and float32.
        """
        return Code(codegen.module_source(dtype, self.model, self.constants), dtype)

    @cached_property
    def definitions(self) -> tuple[Formula, ...]:
        """The loss, the activation and the logit, as formulas."""
        m = self.model
        loss = Formula((S.H, m.loss + m.penalty))
        return loss, Formula((m.activation, m.activation_definition)), Formula((m.logit, m.logit_definition))

    def _repr_markdown_(self) -> str:
        return render(
            "markdown",
            "session-model.md.jinja",
            title=self.model.title,
            definitions=[f.latex() for f in self.definitions],
            results=[d.latex() for d in self.gradients()],
        )

    def __repr__(self) -> str:
        lines = [f"{self.model.name}: {self.model.title}", *(f"  {f!r}" for f in self.definitions)]
        return "\n".join([*lines, *(f"  {line}" for line in repr(self.gradients()).splitlines())])


def model(
    name: str = "softmax", l2: float | None = None, smoothing: float | None = None, exact: bool = False
) -> Session:
    """The registered model ``name`` (``derive models`` lists them) with its add-ons.

    ``l2``: strength lambda of the L2 penalty; ``smoothing``: epsilon of label
    smoothing; ``exact``: do not assume the labels sum to one.  The derivations
    keep the strengths symbolic; worked examples use these values.
    """
    constants = {S.lam: float(l2)} if l2 is not None else {}
    if smoothing is not None:
        constants[S.eps] = float(smoothing)
    return Session(configure(name, l2=l2, smoothing=smoothing), constants, assume=not exact)


def check(claim: str, wrt: str | None = None, **options) -> CheckView:
    """``derive check`` in Python: the verdict on ``claim`` (options of :func:`derive.claims.verdict.check`),
    shown as its report in a terminal and as math in Jupyter."""
    return CheckView(verdict.check(claim, wrt, **options))


# --- helpers: the sample, the Jacobian, the Markdown contexts ------------------------------


def _sample(model: Model, x, W, b, P, label: int | None, constants: dict) -> tuple[np.ndarray, ...]:
    """(x, W, b, P) as float arrays, each the model's example unless given; shapes checked."""
    seed = model.example
    given = {"x": x, "W": W, "b": b, "P": P}
    x, W, b, P = (np.asarray(seed[n] if given[n] is None else given[n], dtype=float) for n in ("x", "W", "b", "P"))
    several = model.output_index is not None
    if W.ndim != (2 if several else 1) or W.shape[0] != x.shape[0] or x.ndim != 1:
        raise ValueError(
            f"x has shape {x.shape} and W {W.shape}: W needs one row per feature" + ("" if several else " (a vector)")
        )
    classes = W.shape[1] if several else 1
    if several and given["b"] is None and given["W"] is not None:
        b = np.zeros(classes)
    if b.shape != ((classes,) if several else ()):
        raise ValueError(
            f"b has shape {b.shape}: it needs " + (f"{classes} values, one per class" if several else "one number")
        )
    P = _labels(model, P, label, classes, constants)
    return x, W, b, P


def _labels(model: Model, P: np.ndarray, label: int | None, classes: int, constants: dict) -> np.ndarray:
    """The labels: P itself, one-hot (or smoothed) for a 1-based ``label``."""
    if model.output_index is None:
        if label is not None or P.shape != ():
            raise ValueError(f"model {model.name!r} has one target: give it as P (a number)")
        return P
    if label is not None:
        if not 1 <= label <= classes:
            raise ValueError(f"label {label} is out of range 1..{classes}")
        P = np.eye(classes)[label - 1]
    if P.shape != (classes,):
        raise ValueError(f"give P ({classes} values) or label for {classes} classes")
    if (P < 0).any():
        raise ValueError("labels must not be negative")
    if model.label_definition is None:
        return P
    smoothed = checking.defined_labels(model, classes, {**model.constants, **constants}[S.eps], int(np.argmax(P)) + 1)
    return np.array([smoothed[model.label[k]] for k in range(1, classes + 1)])


def _jacobian_matrix(model: Model, factor: sp.Expr, classes: int) -> tuple[sp.Basic, sp.Basic]:
    """(da/dz, the K x K matrix of da_k/dz_j at every k, j)."""
    k, j = model.output_index, model.logit.indices[0]
    entries = sp.ImmutableMatrix(classes, classes, lambda r, c: document.written(factor.subs({k: r + 1, j: c + 1})))
    a, z = (sp.MatrixSymbol(str(q.base), classes, 1) for q in (model.activation, model.logit))
    return sp.Derivative(a, z, evaluate=False), entries


def _steps_markdown(derivation: Derivation, steps, start: int) -> str:
    tex = document.Tex()
    used = frozenset(derivation.model.assumption(n).rule.name for n in derivation.assumptions)
    statement = document.assumption_statement(derivation, tex)
    return render("markdown", "session-steps.md.jinja", lines=document.lines(steps, tex, used, start, statement))


def _quantity(base: sp.Basic, values: np.ndarray) -> tuple[sp.Basic, sp.Basic]:
    """(the quantity, its numbers): a bold vector or matrix and a matrix, or a scalar and a Float."""
    values = np.asarray(values, dtype=float)
    if values.size == 1 and not isinstance(base, sp.IndexedBase):
        return base, sp.Float(float(values.reshape(())))
    shape = values.shape if values.ndim == 2 else (values.size, 1)
    return sp.MatrixSymbol(str(base.label), *shape), document.numbers(values)


def _gradient(parameter: sp.Basic, values: np.ndarray) -> tuple[sp.Basic, sp.Basic]:
    """(nabla_W H or dH/db, its numbers)."""
    quantity, numbers = _quantity(S.key(parameter), values)
    return (Gradient(S.H, quantity) if isinstance(quantity, sp.MatrixSymbol) else sp.Derivative(S.H, quantity)), numbers


def _descent(theta: sp.Basic, grad: sp.Basic, now: sp.Basic, step: sp.Basic, after: sp.Basic) -> str:
    """theta' = theta - eta grad = now - eta step = after, printed."""
    matrix = isinstance(theta, sp.MatrixSymbol)
    new = sp.MatrixSymbol(f"{theta.name}'", *theta.shape) if matrix else sp.Symbol(f"{theta.name}'")
    if matrix:
        sides = [
            sp.MatAdd(t, sp.MatMul(-1, document.ETA, g, evaluate=False), evaluate=False)
            for t, g in ((theta, grad), (now, step))
        ]
    else:  # a scalar sum prints in its written order only as a WrittenSum
        sides = [
            WrittenSum.written(t, sp.Mul(-1, document.ETA, g, evaluate=False)) for t, g in ((theta, grad), (now, step))
        ]
    return equation(new, *sides, after)


def _example_context(example: Example, derivations: tuple[Derivation, ...]) -> dict:
    """The worked example's formulas, printed, for templates/markdown/session-example.md.jinja."""
    model = derivations[0].model
    arrays = dict(zip((i.base for i in model.inputs), (example.W, example.b, example.x, example.P)))
    outputs = [(S.key(model.logit), example.z), (S.key(model.activation), example.a)]
    gradients = [_gradient(d.wrt, v) for d, v in zip(derivations, (example.grad_W, example.grad_b))]
    context = {
        "title": model.title,
        "inputs": [equation(*_quantity(base, values)) for base, values in arrays.items()],
        "outputs": [equation(*_quantity(base, values)) for base, values in outputs],
        "loss": equation(S.H, sp.Float(example.loss)),
        "gradients": [equation(*g) for g in gradients],
        "fd_error": document.fd_gap(example, equation),
        "eta": None,
        "descent": [],
    }
    if example.lr is not None:
        now = [_quantity(S.key(d.wrt), v) for d, v in zip(derivations, (example.W, example.b))]
        after = [_quantity(S.key(d.wrt), v)[1] for d, v in zip(derivations, (example.W_next, example.b_next))]
        context["eta"] = equation(document.ETA, sp.Float(example.lr), decimals=None)
        context["descent"] = [_descent(q, g[0], n, g[1], a) for (q, n), g, a in zip(now, gradients, after)]
    return context
