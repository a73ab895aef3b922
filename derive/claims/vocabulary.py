"""The names a formula may use: they follow the model.

P, a, z, b, x, W for softmax regression (class index j, k, m; feature index i, l);
y, sigma (or yhat), z, b, w_i, x_i for the single-output models; lambda and
epsilon with the L2 and smoothing add-ons; and, for a user-written loss, any short
name as a real scalar and any ``name_k`` as an indexed quantity.  Every name maps
to the engine's own symbol (:mod:`derive.core.symbols`), so ``P_j`` in a claim *is*
the engine's ``P[j]``, with the engine's assumptions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import sympy as sp

from derive.core import symbols as S
from derive.core.primitives import sigmoid
from derive.notation.bounds import ClaimError

FEATURE, CLASS = "feature", "class"

#: base name -> (the engine's IndexedBase, the role of each index)
QUANTITIES: dict[str, tuple[sp.IndexedBase, tuple[str, ...]]] = {
    "P": (S.P, (CLASS,)),
    "a": (S.a, (CLASS,)),
    "z": (S.z, (CLASS,)),
    "b": (S.b, (CLASS,)),
    "x": (S.x, (FEATURE,)),
    "W": (S.W, (FEATURE, CLASS)),
}
DELTA = "delta"

#: index letter -> (the engine's symbol, its role)
INDICES: dict[str, tuple[sp.Symbol, str]] = {
    "i": (S.i, FEATURE),
    "l": (S.l, FEATURE),
    "j": (S.j, CLASS),
    "k": (S.k, CLASS),
    "m": (S.m, CLASS),
}
CONSTANTS: dict[str, sp.Symbol] = {"K": S.K, "d": S.d}


def _sigmoid(u: sp.Expr) -> sp.Expr:
    """The sigmoid of u written out, 1/(1 + exp(-u)), from its one definition (:mod:`derive.core.primitives`)."""
    return sigmoid(u).rewrite(sp.exp)


#: function name -> (builder, the bound on a constant argument: "exp", "log", "sym" (|c| <= 27), "root" (c >= 0))
FUNCTIONS = {"exp": sp.exp, "log": sp.log, "ln": sp.log, "sigmoid": _sigmoid}
#: further functions a user-written loss may call (their derivatives print in the same terms)
LOSS_FUNCTIONS = {**FUNCTIONS, "sigma": _sigmoid, "cosh": sp.cosh, "sinh": sp.sinh, "tanh": sp.tanh, "sqrt": sp.sqrt}
CONSTANT_DOMAIN = {sp.exp: "exp", sp.log: "log", _sigmoid: "sigmoid", sp.cosh: "sym", sp.sinh: "sym", sp.sqrt: "root"}
#: softmax(u, v, w) = exp(u)/(exp(u) + exp(v) + exp(w)); softmax(z_j) = exp(z_j)/Sum_m exp(z_m)
SOFTMAX = "softmax"
MAX_SOFTMAX_ARGS = 10
#: sum_k(f) = Sum_{k=1..K} f; the index's role gives the range
SUMS = {"sum_k": "k", "sum_m": "m", "sum_l": "l"}

KNOWN = (
    "P_j, a_j, z_j, b_j (class index j, k, m or 1..K), x_i (feature index i, l or 1..d), "
    "W_ij, delta_kj, K, d, exp, log, sum_k(...), Sum(..., (k, 1, K)); also P[j], W[i, j], W_i_j"
)


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """The names a formula may use, which follow the model.

    ``quantities``: base -> (IndexedBase, index roles); ``scalars``: name -> Symbol;
    ``parameters``: the names --wrt accepts -> the parameter; ``free``: a user-written
    loss, where any short name is a real scalar and any ``name_k`` an indexed quantity.
    """

    quantities: dict
    scalars: dict
    parameters: dict
    known: str
    functions: dict = field(default_factory=lambda: FUNCTIONS)
    activation: sp.Symbol | None = None
    free: bool = False
    #: other names people give the same quantities (Q_j, y_j, \hat{y}_j ...), and names too ambiguous to read
    aliases: dict = field(default_factory=dict)
    ambiguous: dict = field(default_factory=dict)
    #: the names of the prediction and of the label, which an ambiguous name may be declared as
    roles: tuple[str, str] = ("a", "P")

    @property
    def callable_names(self) -> str:
        return ", ".join([*self.functions, *SUMS]) + " and Sum"

    def meaning(self, name: str) -> str:
        """The name the vocabulary knows ``name`` by (its alias resolved); ClaimError for an ambiguous one."""
        if name in self.ambiguous and name not in self.aliases:
            prediction, label = self.roles
            raise ClaimError(
                f'{name} is ambiguous: {self.ambiguous[name]}; say which with --let "{name}={prediction}" (the'
                f' prediction) or --let "{name}={label}" (the label)'
            )
        return self.aliases.get(name, name)

    def with_aliases(self, aliases: dict[str, str]) -> Vocabulary:
        """The vocabulary with more aliases (``--let NAME=MEANING``), each meaning a name it knows."""
        for name, meaning in aliases.items():
            known = meaning in self.quantities or meaning in self.scalars or meaning in LOSSES
            if not (FREE_NAME.fullmatch(name) and known):
                raise ClaimError(f"--let {name}={meaning}: the meaning must be one of the names {self.known}")
        return replace(self, aliases={**self.aliases, **aliases})


#: names of the loss a derivative may be of: dH/dW_ij, dL/dw_ij, dJ/..., dE/..., \mathcal{L}
LOSSES = ("H", "L", "J", "E")
#: the prediction and the label under the names books give them (a_j is also Q_j, q_j, \hat{y}_j, S_j; P_j is y_j, t_j)
SOFTMAX_ALIASES = {"Q": "a", "q": "a", "S": "a", "yhat": "a", "y": "P", "t": "P", "w": "W"}
AMBIGUOUS = {"p": "p is the label in some books and the prediction in others"}

SOFTMAX_VOCABULARY = Vocabulary(
    QUANTITIES, dict(CONSTANTS), {"W": S.W[S.i, S.j], "b": S.b[S.j]}, KNOWN,
    aliases=SOFTMAX_ALIASES, ambiguous=AMBIGUOUS,
)  # fmt: skip

SCALAR_KNOWN = (
    "y, {act}, z, b, w_i and x_i (feature index i, l or 1..d), d, exp, log, sigmoid, sum_l(...), Sum(..., (l, 1, d))"
)


def vocabulary(model=None) -> Vocabulary:
    """The vocabulary of claims about ``model`` (a :class:`derive.core.models.Model`; None: softmax regression)."""
    if model is None:
        return SOFTMAX_VOCABULARY
    if model.output_index is not None:
        quantities, scalars, parameters, known, act = (
            QUANTITIES,
            dict(CONSTANTS),
            SOFTMAX_VOCABULARY.parameters,
            KNOWN,
            None,
        )
        aliases = SOFTMAX_ALIASES
    else:
        act = model.activation
        quantities = {"w": (S.w, (FEATURE,)), "x": (S.x, (FEATURE,))}
        scalars = {"y": S.y, "z": S.logit, "b": S.bias, "d": S.d, str(act): act}
        parameters, known = {"w": S.w[S.i], "b": S.bias}, SCALAR_KNOWN.format(act=act)
        prediction = {name: str(act) for name in ("a", "Q", "q", "S", "yhat") if name != str(act)}
        aliases = {"t": "y", "W": "w", **prediction}
    # "lambda" is a Python keyword: the claim's lambda is read as lam (see :func:`parse`)
    extras = {"lam": S.lam} if model.penalty != 0 else {}
    extras.update({"epsilon": S.eps} if model.label_definition is not None else {})
    known += "".join(f", {n}" for n in extras).replace("lam", "lambda")
    roles = ("a", "P") if act is None else (str(act), "y")
    return Vocabulary(
        quantities, {**scalars, **extras}, parameters, known, activation=act, aliases=aliases, ambiguous=AMBIGUOUS,
        roles=roles,
    )  # fmt: skip


#: a user-written loss: any name of letters and digits is a real scalar, name_k an indexed quantity
LOSS_VOCABULARY = Vocabulary(
    {}, dict(CONSTANTS), {}, "names of letters and digits (w, b, x1), indexed names z_k, w_i, numbers, "
    f"{', '.join(LOSS_FUNCTIONS)}, softmax(u, v, ...), softmax(z_j), sum_k(...), Sum(f, (k, 1, K))",
    LOSS_FUNCTIONS, None, True,
)  # fmt: skip
FREE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,15}")
