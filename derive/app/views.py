r"""Views of the engine's objects: math in Jupyter, the command line's text in a terminal.

Each view wraps one value of the engine (a formula, a step, a derivation, the gradients,
a worked example, a verdict, generated source) and displays it: ``_repr_latex_`` /
``_repr_markdown_`` for Jupyter (Markdown from :mod:`derive.render.session`, LaTeX from
:mod:`derive.printing.latex`), ``repr`` as ``derive`` prints it.  The session
(:mod:`derive.app.session`) hands them out; they compute nothing themselves.

>>> from derive.core.derivation import derive
>>> Formula((sp.Symbol("u"), sp.Integer(2))).latex()
'u = 2'
>>> DerivationView(derive("softmax", "b")).result
dH/db_j = -(P_j - a_j)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from derive.app import code as codegen
from derive.claims.judge import Judgement
from derive.claims.judge import as_dict as judgement_dict
from derive.claims.verdict import CheckResult
from derive.core.derivation import Derivation, Step
from derive.printing.latex import equation
from derive.printing.text import text
from derive.render.check import report as check_report
from derive.render.check import repr_latex
from derive.render.judgement import report as judgement_report
from derive.render.judgement import repr_latex as judgement_latex
from derive.render.report import assumption_line, example_report
from derive.render.session import code_markdown, example_markdown, gradients_markdown, steps_markdown
from derive.verify.example import Example


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
        return steps_markdown(self.derivation, (self.step,), self.number)

    def __repr__(self) -> str:
        return f"{self.number:2d}. [{self.step.rule}] {self.formula!r}\n      {self.step.explain(text)}"


@dataclass(frozen=True)
class DerivationView:
    """One derivation: its numbered steps in Jupyter (Markdown) and in a terminal, and its result.

    ``derivation`` is the engine's :class:`~derive.core.derivation.Derivation`.
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
        return steps_markdown(self.derivation, self.derivation.steps, 1)

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
        return gradients_markdown(tuple(d.derivation for d in self.derivations))

    def __repr__(self) -> str:
        return "\n".join([*(repr(d.result) for d in self.derivations), assumption_line(self.derivations[0].derivation)])


@dataclass(frozen=True)
class ExampleView:
    """A worked example: tables in a terminal, the engine's numbers as math in Jupyter.

    Every attribute of the engine's :class:`~derive.verify.example.Example` (``z``, ``a``,
    ``loss``, ``grad_W``, ``W_next`` ...) is available on the view.
    """

    example: Example
    derivations: tuple[Derivation, ...]

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.example, name)

    def _repr_markdown_(self) -> str:
        return example_markdown(self.example, self.derivations)

    def __repr__(self) -> str:
        return example_report(self.example, self.derivations).rstrip("\n")


@dataclass(frozen=True)
class JudgementView:
    """A whole derivation judged: the lines with ✓ or ✗ in a terminal, an aligned display in Jupyter.

    Every attribute of :class:`~derive.claims.judge.Judgement` (``verdict``, ``first_wrong_line``,
    ``lines``, ``why``, ``counterexample`` ...) is available on the view; ``as_dict()`` gives the JSON.
    """

    judgement: Judgement

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.judgement, name)

    def as_dict(self) -> dict:
        return judgement_dict(self.judgement)

    def report(self) -> str:
        """The text ``derive check --file`` prints."""
        return judgement_report(self.judgement)

    def _repr_latex_(self) -> str:
        return judgement_latex(self.judgement)

    def __repr__(self) -> str:
        return self.report().rstrip("\n")


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
        return code_markdown(self.source)

    def __repr__(self) -> str:
        return self.source.rstrip("\n")
