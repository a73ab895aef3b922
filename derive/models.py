"""Models as data: the loss, the activation, the logits and the assumptions.

A model is a declarative :class:`Model` entry in :data:`MODELS`; the derivation
driver, the worked example and the renderers read nothing else, so adding a
model is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from . import rules
from . import symbols as S


@dataclass(frozen=True)
class Assumption:
    """A named assumption, the equation it states and the rule that uses it."""

    name: str
    statement: sp.Eq
    rule: rules.Rule
    description: str


@dataclass(frozen=True)
class Model:
    """A loss of an activation of affine logits, in index notation.

    ``loss`` is written in terms of ``activation`` (a_k) and the labels;
    ``activation_definition`` gives a_k in terms of the logits z; the logit
    ``logit`` (z_j) is ``logit_definition`` in terms of the ``parameters``.
    The output index of the loss's sum is ``output_index`` (k).
    """

    name: str
    title: str
    summary: str
    loss: sp.Expr
    activation: sp.Indexed
    activation_definition: sp.Expr
    logit: sp.Indexed
    logit_definition: sp.Expr
    parameters: tuple[sp.Indexed, ...]
    label: sp.IndexedBase
    output_index: sp.Symbol
    assumptions: tuple[Assumption, ...]
    activation_words: str

    @property
    def naming_rule(self) -> rules.Rule:
        """The rule that names the activation, e.g. exp(z_q)/Sum_m exp(z_m) -> a_q."""
        return rules.name_quantity(
            self.activation,
            self.activation_definition,
            self.output_index,
            f"name the {self.activation_words}: {{0}} = {{1}}",
            (self.activation, self.activation_definition),
        )

    @property
    def sign_rule(self) -> rules.Rule:
        return rules.label_first_sign(self.label)

    def assumption(self, name: str) -> Assumption:
        for assumption in self.assumptions:
            if assumption.name == name:
                return assumption
        known = ", ".join(a.name for a in self.assumptions) or "none"
        raise KeyError(f"model {self.name!r} has no assumption {name!r} (known: {known})")


LABELS_SUM_TO_ONE = Assumption(
    name="labels_sum_to_one",
    statement=sp.Eq(S.label_total(), 1, evaluate=False),
    rule=rules.substitute(
        "labels_sum_to_one",
        S.label_total(),
        sp.Integer(1),
        "the labels are a probability distribution (one-hot or soft): {0} = 1",
        (S.label_total(),),
    ),
    description="the labels P form a probability distribution over the K classes",
)

SOFTMAX = Model(
    name="softmax",
    title="Softmax regression with cross-entropy loss",
    summary="K-class softmax regression, H = -Sum_k P_k log a_k, a = softmax(W^T x + b)",
    loss=-S.class_sum(S.P[S.m] * sp.log(S.a[S.m]), S.m),
    activation=S.a[S.k],
    activation_definition=sp.exp(S.z[S.k]) / S.class_sum(sp.exp(S.z[S.m]), S.m),
    logit=S.z[S.j],
    logit_definition=S.feature_sum(S.W[S.l, S.j] * S.x[S.l]) + S.b[S.j],
    parameters=(S.W[S.i, S.j], S.b[S.j]),
    label=S.P,
    output_index=S.k,
    assumptions=(LABELS_SUM_TO_ONE,),
    activation_words="softmax output",
)

MODELS: dict[str, Model] = {SOFTMAX.name: SOFTMAX}


def get_model(name: str = "softmax") -> Model:
    """The registered model called ``name``; KeyError listing the known ones otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r} (known: {', '.join(sorted(MODELS))})") from None
