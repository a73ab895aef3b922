r"""Interactive use: :func:`model` gives a :class:`Session`, everything derive knows about one model.

A session derives (``derivation``, ``gradients``, ``steps``, ``jacobian``), evaluates
(``example`` at one's own sample, checked for shape), judges (``check``), writes the
documents (``latex``, ``markdown``) and generates code (``code``), and hands each result
out as a view of :mod:`derive.app.views` (math in Jupyter, the command line's text in a
terminal).  :func:`check` is ``derive check`` without a session.

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
from derive.app import documents
from derive.app.inputs import MAX_MAGNITUDE
from derive.app.views import CheckView, Code, DerivationView, ExampleView, Formula, Gradients, JudgementView, StepView
from derive.claims import verdict
from derive.claims.judge import is_derivation, judge_text
from derive.core import symbols as S
from derive.core.derivation import derive, gradients
from derive.core.models import Model, configure
from derive.printing.text import text
from derive.render.session import definitions, jacobian_matrix, model_markdown
from derive.verify import checking
from derive.verify.example import MAX_CLASSES, MAX_FEATURES, worked_example

__all__ = ["CheckView", "Code", "Session", "check", "model"]

#: the learning rate of the documents' gradient-descent step (as ``derive latex``'s default)
DOCUMENT_LR = documents.DOCUMENT_LR


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
        if not (isinstance(classes, int) and 1 <= classes <= MAX_CLASSES):
            raise ValueError(f"the Jacobian matrix is written out for 1 to {MAX_CLASSES} classes, not {classes!r}")
        return Formula(jacobian_matrix(self.model, factor, classes))

    def example(self, x=None, W=None, b=None, P=None, lr: float | None = None, label: int | None = None) -> ExampleView:
        """The worked example at one's own sample; missing values are the model's own example's.

        ``W`` and ``b`` are the model's parameters (W: rows = features, columns =
        classes; w and the scalar b for single-output models), ``P`` its labels
        (the scalar y), or ``label`` the 1-based true class (one-hot, or smoothed).
        Raises ValueError for shapes that do not fit.
        """
        x, W, b, P = _sample(self.model, x, W, b, P, label, self.constants)
        if lr is not None and not (np.isfinite(lr) and lr > 0):
            raise ValueError(f"the learning rate must be a positive number, not {lr!r}")
        example = worked_example(x, W, b, P, lr=lr, model=self.model, assume=self.assume, constants=self.constants)
        # labels that break the assumption are computed in the exact form: show its closed forms beside them
        return ExampleView(example, gradients(self.model, assume=example.assume))

    def context(self, lr: float = DOCUMENT_LR) -> dict:
        """The context of the derivation documents, as ``derive latex`` and ``derive markdown`` make it."""
        return documents.context(self.model, self.example(lr=lr).example, self.assume, constants=self.constants)

    def latex(self, lr: float = DOCUMENT_LR) -> str:
        """The derivation as LaTeX, the body ``derive latex --fragment`` writes."""
        return documents.render("body.tex", self.context(lr))

    def markdown(self, lr: float = DOCUMENT_LR) -> str:
        """The derivation as Markdown with $$ math, as ``derive markdown`` writes."""
        return documents.render("md", self.context(lr))

    def check(
        self, claim: str, wrt: str | None = None, latex: bool | None = None, let: dict | None = None
    ) -> CheckView | JudgementView:
        """``derive check``: the verdict on a claimed formula for the first parameter's derivative
        (``wrt="b"``: the bias's), or on a whole derivation, line by line (lines joined by ``\\\\``,
        ``align`` environments, ``&=``; ``let`` declares names, as ``--let``).

        Judged for this session's model and add-ons, with its assumption (``exact=True`` drops
        Sum_k P_k = 1); ``latex`` reads the claim as LaTeX (None: detected).  Raises ValueError for
        text that cannot be read.
        """
        if is_derivation(claim) or let:
            judged = judge_text(claim, self.model, wrt, self.assume, lets=let)
            return JudgementView(judged)
        result = verdict.check(
            claim, wrt=wrt, assume=self.assume, latex=latex, model=self.model, constants=self.constants
        )
        return CheckView(result)

    def code(self, dtype: str = "float64") -> Code:
        """The generated NumPy module (``derive code``): the exact form, for any labels.

        Raises ValueError for a dtype other than float64 and float32.
        """
        return Code(codegen.module_source(dtype, self.model, self.constants), dtype)

    @cached_property
    def definitions(self) -> tuple[Formula, ...]:
        """The loss, the activation and the logit, as formulas."""
        return tuple(Formula(sides) for sides in definitions(self.model))

    def _repr_markdown_(self) -> str:
        return model_markdown(self.model, tuple(d.derivation for d in self.gradients()))

    def __repr__(self) -> str:
        lines = [f"{self.model.name}: {self.model.title}", *(f"  {f!r}" for f in self.definitions)]
        return "\n".join([*lines, *(f"  {line}" for line in repr(self.gradients()).splitlines())])


def model(name: str = "softmax", l2: float | None = None, smoothing: float | None = None, exact: bool = False):
    """The registered model ``name`` (``derive models`` lists them) with its add-ons, or a model file.

    ``l2``: strength lambda of the L2 penalty; ``smoothing``: epsilon of label
    smoothing; ``exact``: do not assume the labels sum to one.  The derivations
    keep the strengths symbolic; worked examples use these values.  A path to a
    ``.toml`` model file, or a model that ships only as a file (``mlp``), gives a
    :class:`~derive.app.network_session.NetworkSession` (no add-ons: write them into the file).
    """
    from derive.app import graphs
    from derive.app.network_session import NetworkSession
    from derive.graph import library

    if str(name).endswith(".toml") or name in graphs.file_models():
        if l2 is not None or smoothing is not None:
            raise ValueError("l2 and smoothing are add-ons of the built-in models; write a penalty into the file")
        graph = library.builtin(name) if name in graphs.file_models() else graphs.read_model_file(str(name))
        return NetworkSession(graph, assume=not exact)
    for value, low, high, what in ((l2, 0, 1e6, "l2"), (smoothing, 0, 1, "smoothing")):
        if value is not None and not (np.isfinite(value) and low <= value < high):
            raise ValueError(f"{what} = {value!r} is out of range [{low:g}, {high:g})")
    constants = {S.lam: float(l2)} if l2 is not None else {}
    if smoothing is not None:
        constants[S.eps] = float(smoothing)
    return Session(configure(name, l2=l2, smoothing=smoothing), constants, assume=not exact)


def check(claim: str, wrt: str | None = None, **options) -> CheckView:
    """``derive check`` in Python: the verdict on ``claim`` (options of :func:`derive.claims.verdict.check`),
    shown as its report in a terminal and as math in Jupyter."""
    return CheckView(verdict.check(claim, wrt, **options))


# --- the sample of a worked example, checked ------------------------------------------------


def _sample(model: Model, x, W, b, P, label: int | None, constants: dict) -> tuple[np.ndarray, ...]:
    """(x, W, b, P) as float arrays, each the model's example unless given; shapes checked."""
    seed = model.example
    given = {"x": x, "W": W, "b": b, "P": P}
    x, W, b, P = (np.asarray(seed[n] if given[n] is None else given[n], dtype=float) for n in ("x", "W", "b", "P"))
    for name, values in zip("xWbP", (x, W, b, P)):
        if not np.isfinite(values).all() or (np.abs(values) > MAX_MAGNITUDE).any():
            raise ValueError(f"{name} must hold finite numbers of magnitude at most {MAX_MAGNITUDE:g}")
    several = model.output_index is not None
    if W.ndim != (2 if several else 1) or W.shape[0] != x.shape[0] or x.ndim != 1:
        raise ValueError(
            f"x has shape {x.shape} and W {W.shape}: W needs one row per feature" + ("" if several else " (a vector)")
        )
    classes = W.shape[1] if several else 1
    if classes > MAX_CLASSES or x.shape[0] > MAX_FEATURES:
        raise ValueError(f"a worked example has at most {MAX_CLASSES} classes and {MAX_FEATURES} features")
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
