"""The element-wise proof: for concrete K and d, every dH/dW_ij and dH/db_j.

Plain ``sympy.diff`` of the fully expanded loss costs seconds per entry at
K = 10, d = 784; this module exploits the structure instead, while every entry
stays a real derivative that is checked:

1. The loss is written in the logits z_1..z_K.  With u_q = exp(z_q) > 0 it is a
   function of logarithms of rational functions, and dH/dz_j = u_j dH/du_j is a
   rational function: SymPy differentiates it (K derivatives, not K*d).
2. Each logit z_j = Sum_i W_ij x_i + b_j is linear, so dz_q/dtheta is the sum of
   the derivatives of the terms of z_q that contain theta; the others are free
   of theta (checked) and contribute 0.  The lookup from parameter to terms is
   built in one pass over the logits.
3. Chain rule: dH/dtheta = Sum_q dH/dz_q * dz_q/dtheta over the logits that
   contain theta.  The engine's generic closed form, instantiated at (i, j),
   splits into a class part and a feature part (a_j - P_j and x_i); the proof
   shows dH/dz_j equal to the class part symbolically (``cancel`` of a rational
   function, labels normalised by P_K = 1 - Sum_{k<K} P_k when assumed) and
   every dz_j/dtheta equal to the feature part exactly.
4. All entries are also evaluated numerically at a random point, both ways.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
import sympy as sp
from tqdm import tqdm

from . import symbols as S
from .derivation import derive
from .models import Model, get_model

#: refuse sizes that could not finish in minutes
MAX_ENTRIES = 200_000
#: entries whose dz_q/dtheta is also re-derived by ``sympy.diff`` of the whole logit
SPOT_CHECKS = 10


@dataclass(frozen=True)
class ElementwiseProof:
    """What was proven for concrete K and d, and how long it took."""

    model: str
    classes: int
    features: int
    assume: bool
    entries: int
    logit_identities: int
    spot_checked: int
    max_numeric_error: float
    seconds: float

    def summary(self) -> str:
        assumption = "with Sum_k P_k = 1" if self.assume else "without assuming Sum_k P_k = 1"
        return (
            f"proved {self.entries} entries (K = {self.classes}, d = {self.features}, {assumption}): "
            f"{self.logit_identities} logit identities symbolically, every dz_j/dtheta exactly "
            f"({self.spot_checked} re-derived by sympy.diff), "
            f"max numeric deviation {self.max_numeric_error:.2e}, {self.seconds:.2f} s"
        )


class ProofError(AssertionError):
    """An entry differs from the closed form: the engine would be wrong."""


def prove(model: Model | str, classes: int, features: int, assume: bool = True, progress: bool = False) -> ElementwiseProof:
    """Differentiate H in every W_ij and b_j for concrete K, d and prove each equal to the closed form."""
    model = get_model(model) if isinstance(model, str) else model
    if classes < 1 or features < 1:
        raise ValueError(f"K and d must be at least 1 (got K = {classes}, d = {features})")
    if classes * features + classes > MAX_ENTRIES:
        raise ValueError(f"K*d + K = {classes * features + classes} entries is more than the limit {MAX_ENTRIES}")
    start = time.perf_counter()
    entries = classes * features + classes
    bar = tqdm(total=entries + classes, desc=f"proving K={classes} d={features}", unit="entry", disable=not progress, leave=False)
    explicit = S.Explicit(classes, features)
    parts = {p: _separate(derive(model, p, assume).result) for p in model.parameters}
    dHdz = _logit_derivatives(model, explicit, classes)
    identities = _prove_logit_identities(model, explicit, classes, dHdz, {c for c, _ in parts.values()}, assume)
    logits = {}
    for q in range(1, classes + 1):
        logits[q] = explicit(model.logit_definition, j=q)
        bar.update()
    jacobian = _logit_jacobian(model, logits, explicit)
    expected_for = _FeaturePart(explicit, {p: f for p, (_, f) in parts.items()})
    numeric = _NumericCheck(model, explicit, classes, features, dHdz, assume)
    for (generic, position), found in jacobian.items():
        numeric.add(*_prove_entry(generic, position, found, expected_for))
        bar.update()
    bar.close()
    spot = _spot_check(logits, jacobian, SPOT_CHECKS)
    return ElementwiseProof(
        model.name, classes, features, assume, len(jacobian), identities, spot, numeric.error, time.perf_counter() - start
    )


def _separate(result: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """(class part, feature part) of a closed form such as -(P_j - a_j)*x_i."""
    product = sp.expand(result)
    class_part, feature_part = sp.factor_terms(product).as_independent(S.i, as_Add=False)
    if sp.expand(class_part * feature_part - product) != 0 or class_part.has(S.i) or feature_part.has(S.j):
        raise ProofError(f"closed form {result} does not separate into class and feature parts")
    return class_part, feature_part


def _exp_symbols(explicit: S.Explicit, classes: int) -> dict[sp.Symbol, sp.Symbol]:
    """z_q -> u_q, the positive symbol standing for exp(z_q)."""
    return {explicit.symbol(S.z, (q,)): sp.Symbol(f"u_{q}", positive=True) for q in range(1, classes + 1)}


def _logit_derivatives(model: Model, explicit: S.Explicit, classes: int) -> dict[int, sp.Expr]:
    """dH/dz_q = u_q * dH/du_q for q = 1..K, with u_q = exp(z_q), by SymPy's diff."""
    u = _exp_symbols(explicit, classes)
    a = {explicit.symbol(model.activation.base, (q,)): explicit(model.activation_definition, k=q) for q in range(1, classes + 1)}
    loss = explicit(model.loss).xreplace(a).xreplace({sp.exp(z): uq for z, uq in u.items()})
    loss = sp.expand_log(loss)
    return {q: uq * sp.diff(loss, uq) for q, uq in enumerate(u.values(), start=1)}


def _prove_logit_identities(model, explicit, classes, dHdz, class_parts, assume) -> int:
    """dH/dz_q == class part at j = q, as rational functions of u (labels normalised if assumed)."""
    u = _exp_symbols(explicit, classes)
    total = sp.Add(*u.values())
    a = {explicit.symbol(model.activation.base, (q,)): uq / total for q, uq in enumerate(u.values(), start=1)}
    labels = [explicit.symbol(model.label, (q,)) for q in range(1, classes + 1)]
    normalise = {labels[-1]: 1 - sp.Add(*labels[:-1])} if assume else {}
    count = 0
    for class_part in class_parts:
        for q, derivative in dHdz.items():
            target = explicit(class_part, j=q).xreplace(a)
            if not _is_zero((derivative - target).xreplace(normalise), total):
                raise ProofError(f"dH/dz_{q} = {derivative} differs from the closed form's {target}")
            count += 1
    return count


def _is_zero(expr: sp.Expr, denominator: sp.Expr) -> bool:
    """expr == 0 as a rational function.  Fast path: expr * denominator expands to 0 (the
    denominator is a positive sum, so this proves it); otherwise ``cancel`` decides."""
    return sp.expand(expr * denominator) == 0 or sp.cancel(sp.together(expr)) == 0


def _logit_jacobian(model: Model, logits: dict[int, sp.Expr], explicit: S.Explicit) -> dict:
    """(generic parameter, concrete indices) -> (q, theta, dz_q/dtheta) for the one logit z_q containing theta.

    z_q is linear in the parameters, so its derivatives are the coefficients that
    ``sympy.linear_eq_to_matrix`` extracts (it raises if z_q were not linear);
    every parameter absent from z_q has derivative 0 there.
    """
    symbols = {}
    for generic in model.parameters:
        for position, symbol in _parameter_symbols(explicit, generic, len(logits)):
            symbols[symbol] = (generic, position)
    found: dict = {}
    for q, logit in logits.items():
        present = sorted(logit.free_symbols & symbols.keys(), key=sp.default_sort_key)
        row, _ = sp.linear_eq_to_matrix([logit], present)
        for theta, derivative in zip(present, row):
            if symbols[theta] in found:
                raise ProofError(f"{theta} enters more than one logit; the closed form assumes one")
            found[symbols[theta]] = (q, theta, derivative)
    missing = [str(theta) for theta, key in symbols.items() if key not in found]
    if missing:
        raise ProofError(f"{', '.join(missing[:3])} enter no logit; the closed form says they matter")
    return found


def _parameter_symbols(explicit: S.Explicit, generic: sp.Indexed, classes: int):
    """Every concrete entry of a generic parameter that the logits can mention."""
    features = int(explicit.sizes[S.d])
    ranges = [range(1, (features if q == S.i else classes) + 1) for q in generic.indices]
    for position in itertools.product(*ranges):
        yield position, explicit.symbol(generic.base, position)


def _prove_entry(generic: sp.Indexed, position: tuple, found: tuple, expected_for) -> tuple[int, sp.Expr]:
    """Prove dz_q/dtheta equal to the closed form's feature part; return (q, dz_q/dtheta)."""
    q, theta, derivative = found
    indices = dict(zip((str(n) for n in generic.indices), position))
    if indices.get("j", q) != q:
        raise ProofError(f"{theta} enters z_{q}, not the logit of its own class")
    expected = expected_for(generic, indices)
    if derivative != expected:
        raise ProofError(f"dz_{q}/d{theta} = {derivative}, the closed form needs {expected}")
    return q, derivative


def _spot_check(logits: dict[int, sp.Expr], jacobian: dict, count: int) -> int:
    """Recompute a deterministic sample of dz_q/dtheta with ``sympy.diff`` of the whole logit."""
    keys = sorted(jacobian, key=lambda key: (str(key[0]), key[1]))
    chosen = np.random.default_rng(2).choice(len(keys), min(count, len(keys)), replace=False)
    for n in chosen:
        q, theta, derivative = jacobian[keys[n]]
        if sp.diff(logits[q], theta) != derivative:
            raise ProofError(f"sympy.diff disagrees with the coefficient of {theta} in z_{q}")
    return len(chosen)


class _FeaturePart:
    """The closed form's feature part (x_i) at concrete indices, cached by the indices it uses."""

    def __init__(self, explicit: S.Explicit, parts: dict):
        self.explicit, self.parts, self.cache = explicit, parts, {}

    def __call__(self, generic: sp.Indexed, indices: dict) -> sp.Expr:
        part = self.parts[generic]
        names = {str(q) for q in part.free_symbols}
        used = tuple(sorted((n, v) for n, v in indices.items() if n in names))
        if (part, used) not in self.cache:
            self.cache[part, used] = self.explicit(part, **dict(used))
        return self.cache[part, used]


class _NumericCheck:
    """Every entry evaluated at one random point: chain-rule product against the closed form."""

    def __init__(self, model: Model, explicit: S.Explicit, classes: int, features: int, dHdz: dict, assume: bool):
        rng = np.random.default_rng(1)
        z = rng.normal(size=classes)
        labels = rng.uniform(0.05, 1, classes)
        self.P = labels / labels.sum() if assume else labels
        self.x = {explicit.symbol(S.x, (n,)): float(v) for n, v in enumerate(rng.normal(size=features), start=1)}
        u = _exp_symbols(explicit, classes)
        values = {uq: float(np.exp(z[q])) for q, uq in enumerate(u.values())}
        values.update({explicit.symbol(model.label, (q + 1,)): float(p) for q, p in enumerate(self.P)})
        self.dHdz = {q: float(expr.xreplace(values)) for q, expr in dHdz.items()}
        a = np.exp(z - z.max())
        self.a = a / a.sum()
        self.total = 1.0 if assume else float(self.P.sum())
        self.error = 0.0

    def add(self, q: int, dz: sp.Expr) -> None:
        feature = float(dz.xreplace(self.x))
        closed = (self.a[q - 1] * self.total - self.P[q - 1]) * feature
        self.error = max(self.error, abs(self.dHdz[q] * feature - closed))
