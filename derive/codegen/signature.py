"""The generated functions' arguments: names, shapes and meanings, read from the model's inputs.

A model with classes takes ``(W, b, X, P)``, a single-output model ``(w, b, X, y)``:
the parameters in the model's order, then the batch of features and of labels,
each with its shape in N, d and K and the meaning the model gives it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.codegen.arrays import BATCHED, BATCHED_SCALARS
from derive.core import symbols as S
from derive.core.models import Model


@dataclass(frozen=True)
class Argument:
    """An argument of the generated functions: its name in the code, shape (as Python text) and meaning."""

    name: str
    shape: str
    meaning: str

    @property
    def scalar(self) -> bool:
        return self.shape == "()"


@dataclass(frozen=True)
class Signature:
    """The arguments of the generated functions, in order: the parameters, X, the labels."""

    parameters: tuple[Argument, ...]
    features: Argument
    label: Argument

    @property
    def arguments(self) -> tuple[Argument, ...]:
        return (*self.parameters, self.features, self.label)

    @property
    def names(self) -> str:
        return ", ".join(a.name for a in self.arguments)

    @property
    def typed(self) -> str:
        return ", ".join(f"{a.name}: {'float' if a.scalar else 'np.ndarray'}" for a in self.arguments)

    @property
    def gradients(self) -> tuple[str, ...]:
        return tuple(f"d{p.name}" for p in self.parameters)

    @property
    def results(self) -> tuple[str, ...]:
        """The names of loss_and_grad's results: H and the gradients."""
        return ("H", *self.gradients)

    @property
    def documented(self) -> tuple[Argument, ...]:
        """The arguments in the order the module's docstring lists them: the data first."""
        return (self.features, self.label, *self.parameters)

    @property
    def bias(self) -> Argument:
        return self.parameters[-1]


#: the line length of the generated code (the project's ruff setting)


def _shape(sizes: tuple[str, ...]) -> str:
    return f"({sizes[0]},)" if len(sizes) == 1 else f"({', '.join(sizes)})"


def signature(model: Model) -> Signature:
    """The generated functions' arguments, read from the model's inputs (their shapes in d and K, their meanings)."""
    inputs = {i.base: i for i in model.inputs}
    parameters = tuple(
        Argument(str(S.key(p)), _shape(inputs[S.key(p)].shape), inputs[S.key(p)].meaning) for p in model.parameters
    )
    label = inputs[model.label]
    return Signature(
        parameters,
        Argument(BATCHED[S.x], _shape(("N", *inputs[S.x].shape)), inputs[S.x].meaning),
        Argument(BATCHED.get(model.label) or BATCHED_SCALARS[model.label], _shape(("N", *label.shape)), label.meaning),
    )


def gradient_name(parameter: sp.Basic) -> str:
    """dW for W_ij, db for b_j or a scalar b."""
    return f"d{S.key(parameter)}"
