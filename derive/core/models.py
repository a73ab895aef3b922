"""Models as data: the loss, the activation, the logits and the assumptions.

A model is a declarative :class:`Model` entry in :data:`MODELS`; the derivation
driver, the worked example and the renderers read nothing else, so adding a
model is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

import sympy as sp

from derive.core import rules
from derive.core import symbols as S
from derive.core.primitives import indexed_softmax, sigmoid
from derive.core.strategies import Rule


@dataclass(frozen=True)
class Assumption:
    """A named assumption, the equation it states and the rule that uses it."""

    name: str
    statement: sp.Eq
    rule: Rule
    description: str


class Input(NamedTuple):
    """An independent quantity of one sample: its base, its shape in "d" and "K", and what it holds in a batch."""

    base: sp.Basic
    shape: tuple[str, ...]
    meaning: str


@dataclass(frozen=True)
class Model:
    """A loss of an activation of affine logits, in index notation.

    ``loss`` is written in terms of ``activation`` (a_k, or a scalar such as
    sigma) and the labels; ``activation_definition`` gives it in terms of the
    logits; the logit ``logit`` (z_j, or a scalar z) is ``logit_definition`` in
    terms of the ``parameters``.  ``output_index`` (k) is the index the loss sums
    over, ``None`` for a single output.  ``naming`` are the rules that name the
    activation inside its own derivative (exp(z_k)/Sum_m exp(z_m) -> a_k).
    ``inputs`` lists the independent quantities with their shapes in "d" and "K",
    ``label_kind`` how labels are drawn ("distribution", "probability", "real").
    ``penalty`` is an extra loss term in the parameters (L2 regularisation).
    ``lead`` is written first in the closed form's difference (default: the label).
    ``label_definition`` defines the labels P_k (label smoothing) when they are not free.
    ``example`` is the model's worked-example sample (x, W, b, P: the two parameters
    and the label; "classes" and "features": what its classes and features are called),
    ``mistakes`` formulas people wrote for the first parameter's derivative, ``claims``
    the same as people typed them (judged by ``derive check`` in the documents),
    ``constants`` default values of symbolic strengths (lambda, epsilon).
    ``loss_name`` names the data loss in prose ("cross-entropy"), ``loss_note`` remarks
    on its convention.
    """

    name: str
    title: str
    summary: str
    loss: sp.Expr
    activation: sp.Basic
    activation_definition: sp.Expr
    logit: sp.Basic
    logit_definition: sp.Expr
    parameters: tuple[sp.Basic, ...]
    label: sp.Basic
    output_index: sp.Symbol | None
    assumptions: tuple[Assumption, ...]
    activation_words: str
    naming: tuple[Rule, ...] = ()
    lead: sp.Basic | None = None
    inputs: tuple[Input, ...] = ()
    label_kind: str = "distribution"
    penalty: sp.Expr = sp.S.Zero
    label_definition: sp.Expr | None = None
    example: dict = field(default_factory=dict, hash=False, compare=False)
    mistakes: tuple[tuple[str, sp.Expr, str], ...] = ()
    constants: dict = field(default_factory=dict, hash=False, compare=False)
    claims: tuple[tuple[str, str], ...] = ()
    derivations: tuple[tuple[str, str], ...] = ()
    loss_name: str = "loss"
    loss_note: str = ""

    @property
    def base_name(self) -> str:
        """The registered model an add-on was applied to: softmax+l2 -> softmax."""
        return self.name.split("+")[0]

    def names(self, kind: str, count: int) -> tuple[str, ...]:
        """What the example calls its ``count`` "classes" or "features"; generic names for other sizes."""
        named = tuple(self.example.get(kind, ()))
        if len(named) == count:
            return named
        generic = {"classes": "class", "features": "feature"}[kind]
        return tuple(f"{generic} {q}" for q in range(1, count + 1))

    @property
    def sign_rule(self) -> Rule:
        if self.lead is None or self.lead == self.label:
            return rules.lead_with(self.label)
        return rules.lead_with(self.lead, "prediction_first", f"the {self.activation_words}")

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

#: a_k = exp(z_k) / Sum_m exp(z_m) and sigma = 1/(1 + exp(-z)), written out from the primitives
SOFTMAX_OUTPUT = indexed_softmax(S.z, S.k, S.m, S.K)
SIGMOID_OUTPUT = sigmoid(S.logit).rewrite(sp.exp)

#: the accepted answer's derivation, exactly as it was posted
ACCEPTED_DERIVATION = (
    r"\begin{align} \frac{\partial H}{\partial W_{i,j}} &= -\frac{\partial}{\partial W_{i,j}} \left(\sum_{k=1}^2 P_k(x) "
    r"\log Q_k(x) \right) \\ &= -\frac{\partial}{\partial W_{i,j}} \left(P_j(x) \log Q_j(x) \right) \\ "
    r"&=-\frac{P_j(x)}{Q_j(x)} \cdot \frac{\partial Q_j(x)}{\partial W_{i,j}} \\ &= - \frac{P_j(x)}{a_j(x)} \cdot "
    r"\frac{\partial a_j(x)}{\partial z_j(x)} \cdot \frac{\partial z_j(x)}{\partial W_{i,j}}\\ &=-P_j(x) "
    r"(1-a_j(x)) x_i \end{align}"
)

#: the features of the seed's sample, an iris flower
FLOWER = ("petal length", "petal width")

SOFTMAX = Model(
    name="softmax",
    title="Softmax regression with cross-entropy loss",
    summary="K-class softmax regression, H = -Sum_k P_k log a_k, a = softmax(W^T x + b)",
    loss=-S.class_sum(S.P[S.m] * sp.log(S.a[S.m]), S.m),
    activation=S.a[S.k],
    activation_definition=SOFTMAX_OUTPUT,
    logit=S.z[S.j],
    logit_definition=S.feature_sum(S.W[S.l, S.j] * S.x[S.l]) + S.b[S.j],
    parameters=(S.W[S.i, S.j], S.b[S.j]),
    label=S.P,
    output_index=S.k,
    assumptions=(LABELS_SUM_TO_ONE,),
    activation_words="softmax output",
    naming=(
        rules.name_quantity(
            S.a[S.k], SOFTMAX_OUTPUT, S.k, "name the softmax output: {0} = {1}", (S.a[S.k], SOFTMAX_OUTPUT)
        ),
        rules.RULES["factor"],
    ),
    inputs=(
        Input(S.W, ("d", "K"), "weights: rows = features i, columns = classes j"),
        Input(S.b, ("K",), "biases b_j"),
        Input(S.x, ("d",), "features x_i of each sample"),
        Input(S.P, ("K",), "labels P_j of each sample (one-hot or soft)"),
    ),
    # the student's sample: petal length and width of an iris Setosa, label Setosa
    example={
        "x": (1.9, 0.4),
        "W": ((0.1, 0.5), (0.1, 0.5)),
        "b": (0.0, 0.0),
        "P": (1.0, 0.0),
        "classes": ("Setosa", "Non-Setosa"),
        "features": FLOWER,
    },
    mistakes=(
        (
            "accepted answer",
            sp.Mul(-1, S.P[S.j], 1 - S.a[S.j], S.x[S.i], evaluate=False),
            "keeps only the k = j term of the chain rule (the diagonal of the softmax Jacobian)",
        ),
        (
            "student's answer",
            sp.Mul(-1, 1 - S.a[S.j], S.x[S.i], S.label_total(), evaluate=False),
            "replaces every P_k by its own diagonal term a_k(1 - a_k)",
        ),
    ),
    # the question's two answers as their writers typed them, and the accepted answer's derivation as posted
    claims=(("accepted answer", "-P_j*(1-a_j)*x_i"), ("student's answer", "-(1-a_j)*x_i*(P_1+P_2)")),
    derivations=(("accepted answer", ACCEPTED_DERIVATION),),
    loss_name="cross-entropy",
)

MODELS: dict[str, Model] = {SOFTMAX.name: SOFTMAX}


def get_model(name: str = "softmax") -> Model:
    """The registered model called ``name``; KeyError listing the known ones otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r} (known: {', '.join(sorted(MODELS))})") from None


def _sigmoid_naming() -> tuple[Rule, ...]:
    """exp(-z) -> (1 - sigma)/sigma names the sigmoid; cancelling then gives sigma (1 - sigma)."""
    name = rules.substitute(
        "name_sigma",
        sp.exp(-S.logit),
        (1 - S.sigma) / S.sigma,
        "name the sigmoid output: {0} = {1}, so {2}",
        (S.sigma, SIGMOID_OUTPUT, sp.Eq(sp.exp(-S.logit), (1 - S.sigma) / S.sigma)),
    )
    return name, rules.RULES["cancel"], rules.RULES["factor"]


_SCALAR_LOGIT = S.feature_sum(S.w[S.l] * S.x[S.l]) + S.bias


def _scalar_inputs(label: str) -> tuple[Input, ...]:
    return (
        Input(S.w, ("d",), "weights w_i"),
        Input(S.bias, (), "bias b: a number"),
        Input(S.x, ("d",), "features x_i of each sample"),
        Input(S.y, (), label),
    )


LOGISTIC = Model(
    name="logistic",
    title="Binary logistic regression with cross-entropy loss",
    summary="sigmoid of z = Sum_i w_i x_i + b, loss -[y log sigma + (1 - y) log(1 - sigma)]",
    loss=-(S.y * sp.log(S.sigma) + (1 - S.y) * sp.log(1 - S.sigma)),
    activation=S.sigma,
    activation_definition=SIGMOID_OUTPUT,
    logit=S.logit,
    logit_definition=_SCALAR_LOGIT,
    parameters=(S.w[S.i], S.bias),
    label=S.y,
    output_index=None,
    assumptions=(),
    activation_words="sigmoid output",
    naming=_sigmoid_naming(),
    inputs=_scalar_inputs("labels y of each sample: 0 or 1, or a probability"),
    label_kind="probability",
    # the seed's sample as a binary model: w = W_.1 - W_.2, b = b_1 - b_2, y = P_1 (Setosa)
    example={"x": (1.9, 0.4), "W": (-0.4, -0.4), "b": 0.0, "P": 1.0, "features": FLOWER},
    loss_name="binary cross-entropy",
)

LINEAR = Model(
    name="linear",
    title="Linear regression with squared error",
    summary="prediction yhat = Sum_i w_i x_i + b, loss (yhat - y)^2 / 2 (the 1/2 makes the gradient clean)",
    loss=(S.yhat - S.y) ** 2 / 2,
    activation=S.yhat,
    activation_definition=S.logit,
    logit=S.logit,
    logit_definition=_SCALAR_LOGIT,
    parameters=(S.w[S.i], S.bias),
    label=S.y,
    output_index=None,
    assumptions=(),
    activation_words="prediction",
    lead=S.yhat,
    inputs=_scalar_inputs("targets y of each sample"),
    label_kind="real",
    # predict the petal width from the petal length and width... of the seed's flower
    example={"x": (1.9, 0.4), "W": (0.1, 0.5), "b": 0.0, "P": 0.4, "features": FLOWER},
    loss_name="squared error",
    loss_note="The factor one half is a convention: it cancels the 2 that differentiating the square brings down, "
    "so the gradient is the error times the feature. Over a batch of samples the generated code takes the mean.",
)

MODELS.update({LOGISTIC.name: LOGISTIC, LINEAR.name: LINEAR})


# --- add-ons: each turns a model into a new model ------------------------------------------


def with_l2(model: Model, strength: sp.Expr = S.lam) -> Model:
    """The model with the penalty (lambda/2) Sum W^2 over every weight (not the biases).

    Its derivative, lambda W_ij, is derived and added as steps of their own.
    """
    weights = model.parameters[0]
    dummies = {S.i: S.l, S.j: S.m}
    square = weights.xreplace(dummies) ** 2
    for index in reversed(weights.indices):
        low, high = S.INDEX_RANGES[index]
        square = sp.Sum(square, (dummies[index], low, high))
    return replace(
        model,
        name=f"{model.name}+l2",
        title=f"{model.title}, L2-regularised",
        summary=f"{model.summary}, plus (lambda/2) Sum {weights.base}^2",
        penalty=strength / 2 * square,
        claims=(),
        derivations=(),
        constants={**model.constants, strength: 0.01} if strength.is_Symbol else model.constants,
    )


def with_smoothing(model: Model, strength: sp.Expr = S.eps) -> Model:
    """Softmax with label smoothing: P_k = (1 - epsilon) delta_kc + epsilon/K for the true class c.

    The smoothed labels still sum to one, so the closed form stays a_j - P_j; the
    derivation proves the sum (``label_definition``) where it uses the assumption.
    """
    if model.label_kind != "distribution":
        raise ValueError(f"label smoothing needs class labels; model {model.name!r} has none")
    k = model.output_index
    definition = (1 - strength) * sp.KroneckerDelta(k, S.c) + strength / S.K
    return replace(
        model,
        name=f"{model.name}+smoothing",
        title=f"{model.title}, with label smoothing",
        summary=f"{model.summary}, labels (1 - epsilon) onehot + epsilon/K",
        label_definition=definition,
        claims=(),
        derivations=(),
        constants={**model.constants, strength: 0.1} if strength.is_Symbol else model.constants,
    )


def configure(name: str = "softmax", l2: float | None = None, smoothing: float | None = None) -> Model:
    """The registered model ``name`` with the requested add-ons (strengths stay symbolic)."""
    model = get_model(name)
    if smoothing is not None:
        model = with_smoothing(model)
    if l2 is not None:
        model = with_l2(model)
    return model
