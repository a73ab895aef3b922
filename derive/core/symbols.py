"""The seed's notation as SymPy objects: one place that owns every symbol.

Every other module takes its symbols from here, so a symbol built elsewhere with
other assumptions (which SymPy would treat as a *different* symbol, and whose
derivative would silently be 0) cannot sneak in.

Conventions (the student's, from the question this project answers):

=========  ==========================================  ==========
name       meaning                                     indices
=========  ==========================================  ==========
x_i        feature i of one sample                     i = 1..d
W_ij       weight from feature i to class j            i, j
b_j        bias of class j                             j = 1..K
z_j        logit: z_j = sum_i W_ij x_i + b_j           j
a_j        softmax output, a_j = Q(x_j)                j
P_j        label (one-hot or soft), y_j = P(x_j)       j
H          cross-entropy loss -sum_j P_j log a_j       --
=========  ==========================================  ==========
"""

from __future__ import annotations

import sympy as sp

#: number of classes and of features; symbolic in the generic derivation
K, d = sp.symbols("K d", integer=True, positive=True)

#: free indices of the result (i: feature, j: class) and dummy summation indices
i, j, k, m, l = sp.symbols("i j k m l", integer=True, positive=True)

W = sp.IndexedBase("W")
x = sp.IndexedBase("x")
b = sp.IndexedBase("b")
z = sp.IndexedBase("z")
a = sp.IndexedBase("a")
P = sp.IndexedBase("P")

#: the loss, as the name of the left-hand side of the derivation's equations; with a
#: penalty R (L2 regularisation) the loss is H = L + R and L names the data term
H = sp.Symbol("H")
L = sp.Symbol("L")
R = sp.Symbol("R")

#: every index with the inclusive range it runs over; used to drop the
#: "index in range" Piecewise that SymPy attaches to collapsed sums
INDEX_RANGES: dict[sp.Symbol, tuple[sp.Expr, sp.Expr]] = {
    i: (sp.Integer(1), d),
    l: (sp.Integer(1), d),
    j: (sp.Integer(1), K),
    k: (sp.Integer(1), K),
    m: (sp.Integer(1), K),
}

#: one line of meaning per symbol, in the order a notation table shows them
MEANINGS: tuple[tuple[sp.Basic, str, str], ...] = (
    (x[i], "feature i of one sample (e.g. petal length, petal width)", "i = 1..d"),
    (W[i, j], "weight from feature i to class j", "i = 1..d, j = 1..K"),
    (b[j], "bias of class j", "j = 1..K"),
    (z[j], "logit of class j", "j = 1..K"),
    (a[j], "softmax output: predicted probability of class j", "j = 1..K"),
    (P[j], "label: true probability of class j (one-hot or soft)", "j = 1..K"),
    (H, "cross-entropy loss", "scalar"),
)


def class_sum(expr: sp.Expr, index: sp.Symbol = k) -> sp.Sum:
    """Sum_{index=1..K} expr."""
    return sp.Sum(expr, (index, 1, K))


def feature_sum(expr: sp.Expr, index: sp.Symbol = l) -> sp.Sum:
    """Sum_{index=1..d} expr."""
    return sp.Sum(expr, (index, 1, d))


def label_total() -> sp.Sum:
    """Sum_k P_k, the quantity the normalisation assumption sets to 1."""
    return class_sum(P[k])


def instantiate(expr: sp.Expr, classes: int, features: int, indices: dict | None = None) -> sp.Expr:
    """expr for concrete K and d (and concrete free indices), with every sum written out."""
    concrete = {K: classes, d: features, **(indices or {})}
    return expr.subs(concrete).doit()


class Explicit:
    """Instantiate index expressions with explicit scalar symbols: W[2, 1] -> W_2_1.

    For concrete K and d, ``Explicit(K, d)(expr, j=3)`` writes every sum out
    and replaces every indexed quantity by a plain :class:`~sympy.Symbol`
    (cached, so the same entry is always the same symbol).  Differentiating
    with respect to a plain symbol is much cheaper than with respect to an
    ``Indexed``, which is what makes the element-wise proof fast.
    """

    def __init__(self, classes: int, features: int):
        self.sizes = {K: sp.Integer(classes), d: sp.Integer(features)}
        self.table: dict[tuple, sp.Symbol] = {}

    def symbol(self, base: sp.IndexedBase, indices: tuple[int, ...]) -> sp.Symbol:
        key = (base, indices)
        if key not in self.table:
            self.table[key] = sp.Symbol("_".join([str(base.label), *map(str, indices)]))
        return self.table[key]

    def __call__(self, expr: sp.Basic, **indices: int) -> sp.Basic:
        env = {**self.sizes, **{sp.Symbol(n, integer=True, positive=True): sp.Integer(v) for n, v in indices.items()}}
        return self._walk(expr, env)

    def _walk(self, expr: sp.Basic, env: dict) -> sp.Basic:
        if isinstance(expr, sp.Indexed):
            return self.symbol(expr.base, tuple(int(env.get(q) or q.xreplace(env)) for q in expr.indices))
        if isinstance(expr, sp.Sum):
            return self._sum(expr, env)
        if expr in env:
            return env[expr]
        if not expr.args:
            return expr
        return expr.func(*(self._walk(arg, env) for arg in expr.args))

    def _sum(self, expr: sp.Sum, env: dict) -> sp.Expr:
        *inner_limits, (index, low, high) = expr.limits  # the last limit is the outermost
        inner = sp.Sum(expr.function, *inner_limits) if inner_limits else expr.function
        lo, hi = int(low.xreplace(env)), int(high.xreplace(env))
        return sp.Add(*(self._walk(inner, {**env, index: sp.Integer(n)}) for n in range(lo, hi + 1)))


# --- scalar-output models (binary logistic and linear regression) -------------------------

#: weights and bias of a single-output model: z = Sum_i w_i x_i + b
w = sp.IndexedBase("w")
bias = sp.Symbol("b")
#: the single logit, the sigmoid output, the prediction and the target of a scalar model
logit = sp.Symbol("z")
sigma = sp.Symbol("sigma")
yhat = sp.Symbol("yhat")
y = sp.Symbol("y")

#: strength of L2 regularisation and of label smoothing; the true class under smoothing
lam = sp.Symbol("lambda", positive=True)
eps = sp.Symbol("epsilon", positive=True)
c = sp.Symbol("c", integer=True, positive=True)


def key(quantity: sp.Basic) -> sp.Basic:
    """What a valuation stores a quantity under: its base for z_j, itself for a scalar z."""
    return quantity.base if isinstance(quantity, sp.Indexed) else quantity


#: the true class under label smoothing is a class index
INDEX_RANGES[c] = (sp.Integer(1), K)

#: what each quantity means, by its key (:func:`key`), as the notation table writes it: the seed's
#: table, then the single-output models' quantities and the add-ons'
NOTATION: dict[sp.Basic, tuple[sp.Basic, str]] = {
    **{key(q): (q, meaning) for q, meaning, _ in MEANINGS},
    w: (w[i], "weight of feature i"),
    bias: (bias, "bias"),
    logit: (logit, "logit"),
    sigma: (sigma, "sigmoid output: predicted probability that the sample is of the class"),
    yhat: (yhat, "prediction"),
    eps: (eps, "strength of the label smoothing"),
    c: (c, "true class of the sample"),
    L: (L, "data term of the loss"),
    R: (R, "L2 penalty on the weights"),
    lam: (lam, "strength of the L2 penalty"),
}

#: the label's meaning for models whose label is not a distribution over classes (``Model.label_kind``)
LABEL_MEANINGS = {
    "probability": "label: 1 if the sample is of the class, 0 if not (or a probability)",
    "real": "target: the true value of the sample",
}
