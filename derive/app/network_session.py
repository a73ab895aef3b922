r"""Interactive use of a model file: ``derive.model("mlp")`` or ``derive.model("net.toml")``.

A :class:`NetworkSession` holds the graph and its backpropagation, and hands out what the commands
print: ``gradients`` (the closed forms and error signals, math in Jupyter), ``steps``, ``result(name)``,
``example(...)`` (every quantity's numbers, the finite-difference check), ``code()`` (the generated
module) and ``train(...)`` (the iris run of ``derive train``).

>>> import derive
>>> mlp = derive.model("mlp")
>>> mlp.gradients
dH/dV_ih = x_i*delta_h
dH/dc_h = delta_h
dH/dW_hj = g_h*delta_j
dH/db_j = delta_j
where (error signals, from the loss back):
  delta_j = a_j - P_j   [= dH/dz_j]
  delta_h = (1 - g_h**2)*Sum(delta_j*W_hj, (j, 1, K))   [= dH/du_h]
assuming sum_j(P_j) = 1 (labels_sum_to_one); --exact drops the assumption
>>> mlp.result("W")
dH/dW_hj = g_h*delta_j
>>> mlp.expanded("b")
dH/db_j = -P_j + a_j
>>> example = mlp.example(seed=0)
>>> example.sizes, example.as_dict()["fd_max_rel_error"] < 1e-5
({'d': 4, 'M': 3, 'K': 3}, True)
>>> sorted(example.gradients)
['V', 'W', 'b', 'c']
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from derive.app import code as codegen
from derive.app.views import Code, Formula, StepView
from derive.graph.backprop import Backprop, backprop
from derive.graph.graph import Graph
from derive.printing.latex import equation as latex_equation
from derive.render.report import backprop_lines, network_example_report
from derive.verify import network


@dataclass(frozen=True)
class GradientsView:
    """A model file's closed forms and error signals: the lines of ``derive gradient``, math in Jupyter."""

    bp: Backprop

    def __iter__(self):
        return iter(Formula((self.bp.lhs(node), result)) for node, result in self.bp.results)

    def __len__(self) -> int:
        return len(self.bp.results)

    def __call__(self) -> GradientsView:  # derive.model("softmax").gradients() is a method: both spellings work
        return self

    def _repr_latex_(self) -> str:
        rows = [latex_equation(self.bp.lhs(n), r) for n, r in self.bp.results]
        rows += [latex_equation(s.ref, s.value) for s in self.bp.signals]
        return "$\\displaystyle \\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}$"

    def __repr__(self) -> str:
        return "\n".join(backprop_lines(self.bp))


@dataclass(frozen=True)
class NetworkExampleView:
    """A model file's worked example: every quantity, the loss, the gradients, the finite-difference check."""

    graph: Graph
    bp: Backprop
    evaluation: network.Evaluation
    sizes: dict
    errors: dict

    @property
    def loss(self) -> float:
        return self.evaluation.loss

    @property
    def gradients(self) -> dict:
        return self.evaluation.gradients

    @property
    def values(self) -> dict:
        return self.evaluation.values

    def as_dict(self) -> dict:
        return network.as_dict(self.graph, self.sizes, self.evaluation, self.errors)

    def __repr__(self) -> str:
        return network_example_report(self.graph, self.bp, self.evaluation, self.sizes, self.errors).rstrip("\n")


@dataclass(frozen=True)
class NetworkSession:
    """A model file and everything derive does with it."""

    graph: Graph
    assume: bool = True

    @cached_property
    def backprop(self) -> Backprop:
        return backprop(self.graph, self.assume)

    @property
    def gradients(self) -> GradientsView:
        return GradientsView(self.backprop)

    @property
    def steps(self) -> tuple[StepView, ...]:
        return tuple(StepView(s, n, self.backprop) for n, s in enumerate(self.backprop.steps, 1))

    def result(self, name: str) -> Formula:
        """dH/d(name) in terms of the definitions and error signals."""
        return Formula((self.backprop.lhs(self.graph.node(name)), self.backprop.result(name)))

    def expanded(self, name: str) -> Formula:
        """dH/d(name) with the error signals written out."""
        return Formula((self.backprop.lhs(self.graph.node(name)), self.backprop.expanded(name)))

    def example(self, sizes: dict | None = None, seed: int = 0) -> NetworkExampleView:
        """The worked example at the file's numbers (random with ``seed`` where it gives none)."""
        sizes = network.example_sizes(self.graph, sizes)
        arrays = network.example_arrays(self.graph, sizes, seed)
        evaluation = network.evaluate(self.graph, self.backprop, arrays)
        errors = network.check(self.graph, self.backprop, arrays)
        return NetworkExampleView(self.graph, self.backprop, evaluation, sizes, errors)

    def code(self, dtype: str = "float64") -> Code:
        """The generated NumPy module (``derive code --model-file``), with ``.module()`` to import it."""
        return NetworkCode(codegen.network_module_source(self.graph, dtype), dtype, self.graph.name)

    def train(self, task: str = "species", **options):
        """``derive train`` for this model on iris (needs the train extra); options of train_network."""
        from derive.app.network_training import train_network

        return train_network(self.graph, task, **options)

    def __repr__(self) -> str:
        head = f"{self.graph.name}: {self.graph.title}"
        return "\n".join([head, *(f"  {line}" for line in repr(self.gradients).splitlines())])


@dataclass(frozen=True)
class NetworkCode(Code):
    """A model file's generated module."""

    name: str = "model"

    def module(self):
        return codegen.load_module(self.source, f"{self.name}_grad")
