"""The element-wise proof: for concrete K and d, every dH/dW_ij and dH/db_j.

Plain ``sympy.diff`` of the fully expanded loss costs seconds per entry at
K = 10, d = 784; this module exploits the structure instead, while every entry
stays a real derivative that is checked:

1. The loss is written in the logits z_1..z_K (explicit symbols) and SymPy
   differentiates it once per logit: K derivatives, not K*d.
2. Each logit z_q = Sum_i W_iq x_i + b_q is linear in the parameters, so its
   derivatives are the coefficients that ``sympy.linear_eq_to_matrix`` extracts
   (it raises if z_q were not linear); a parameter absent from z_q has
   derivative 0 there, and every parameter must enter exactly one logit.  A
   sample is re-derived by ``sympy.diff`` of the whole logit.
3. Chain rule: dL/dtheta = dL/dz_q * dz_q/dtheta.  The engine's generic closed
   form splits into a class part and a feature part (a_j - P_j and x_i).  The
   proof shows each dL/dz_q equal to the class part at j = q symbolically (the
   activation replaced by its definition, exp(z_q) by u_q > 0, the labels
   normalised by P_K = 1 - Sum_{k<K} P_k when assumed, and the numerator of the
   difference expanded to 0), and every dz_q/dtheta equal to the feature part.
4. A penalty R (L2) is differentiated term by term (each term holds one
   parameter) and each dR/dtheta proven equal to the closed form's penalty part.
5. All entries are also evaluated numerically at a random point, both ways.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from tqdm import tqdm

from derive.core import symbols as S
from derive.core.derivation import Derivation, derive
from derive.core.models import Model, get_model
from derive.verify.checking import random_inputs
from derive.verify.evaluate import arrays, evaluate

#: refuse sizes that could not finish in minutes
MAX_ENTRIES = 200_000
#: ... and refuse more classes than this: the symbolic identities grow as about K^2.7 (K = 50: 26 s, K = 100: 3 min)
MAX_CLASSES = 50
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
    #: the model has one output (no K, no labels to sum), and whether it has an assumption to use at all
    single: bool = False
    assumptions: bool = True

    def summary(self) -> str:
        sizes = f"d = {self.features}" if self.single else f"K = {self.classes}, d = {self.features}"
        if self.assumptions:
            sizes += ", with Sum_k P_k = 1" if self.assume else ", without assuming Sum_k P_k = 1"
        dz = "dz/dtheta" if self.single else "dz_j/dtheta"
        return (
            f"proved {self.entries} entries ({sizes}): "
            f"{self.logit_identities} logit identities symbolically, every {dz} exactly "
            f"({self.spot_checked} re-derived by sympy.diff), "
            f"max numeric deviation {self.max_numeric_error:.2e}, {self.seconds:.2f} s"
        )


class ProofError(AssertionError):
    """An entry differs from the closed form: the engine would be wrong."""


@dataclass(frozen=True)
class _Setting:
    """The model at concrete sizes, in explicit symbols."""

    model: Model
    explicit: S.Explicit
    outputs: tuple  # the logit indices q, or (None,) for a single logit
    assume: bool
    cache: dict = field(default_factory=dict)

    def logit(self, q) -> sp.Symbol:
        return self.explicit.symbol(S.z, (q,)) if q is not None else self.model.logit

    def activation(self, q) -> sp.Basic:
        a = self.model.activation
        return self.explicit.symbol(a.base, (q,)) if q is not None else a

    def activations(self) -> dict:
        """a_q -> its definition in the explicit logits, for every output q."""
        definition = self.model.activation_definition
        return {
            self.activation(q): self.explicit(definition, **({"k": q} if q is not None else {})) for q in self.outputs
        }

    def at(self, expr: sp.Expr, q) -> sp.Expr:
        """expr (with free class index j) in explicit symbols at class q."""
        return self.explicit(expr, **({"j": q} if q is not None else {}))

    def part(self, expr: sp.Expr, indices: dict[str, int]) -> sp.Expr:
        """expr at concrete indices, cached by the indices it mentions (x_i depends on i alone)."""
        names = {str(q) for q in expr.free_symbols}
        used = tuple(sorted((n, v) for n, v in indices.items() if n in names))
        key = (expr, used)
        if key not in self.cache:
            self.cache[key] = self.explicit(expr, **dict(used))
        return self.cache[key]


def prove(
    model: Model | str, classes: int, features: int, assume: bool = True, progress: bool = False
) -> ElementwiseProof:
    """Differentiate H in every parameter entry for concrete K, d and prove each equal to the closed form."""
    model = get_model(model) if isinstance(model, str) else model
    classes = _sizes(model, classes, features)
    start = time.perf_counter()
    outputs = tuple(range(1, classes + 1)) if model.output_index is not None else (None,)
    setting = _Setting(model, S.Explicit(classes, features), outputs, assume)
    total = classes * (features + 2)
    with tqdm(
        total=total, desc=f"proving K={classes} d={features}", unit="entry", disable=not progress, leave=False
    ) as bar:
        parts = {p: _separate(derive(model, p, assume)) for p in model.parameters}
        dLdz = _logit_derivatives(setting)
        identities = _prove_logit_identities(setting, dLdz, {c for c, _, _ in parts.values()})
        logits = {q: setting.at(model.logit_definition, q) for q in outputs}
        bar.update(len(outputs))
        jacobian = _logit_jacobian(setting, logits)
        error = _prove_entries(setting, parts, jacobian, _NumericCheck(setting, dLdz, features), bar)
    spot = _spot_check(logits, jacobian, SPOT_CHECKS)
    seconds = time.perf_counter() - start
    single, assumptions = model.output_index is None, bool(model.assumptions)
    return ElementwiseProof(
        model.name, classes, features, assume, len(jacobian), identities, spot, error, seconds, single, assumptions
    )


def _sizes(model: Model, classes: int, features: int) -> int:
    """K for the proof (1 for a single output); ValueError for sizes out of range."""
    classes = classes if model.output_index is not None else 1
    if classes < 1 or features < 1:
        raise ValueError(f"K and d must be at least 1 (got K = {classes}, d = {features})")
    if classes > MAX_CLASSES:
        raise ValueError(f"K = {classes} classes is more than the limit {MAX_CLASSES} of the element-wise proof")
    if classes * features + classes > MAX_ENTRIES:
        raise ValueError(f"K*d + K = {classes * features + classes} entries is more than the limit {MAX_ENTRIES}")
    return classes


def _prove_entries(setting: _Setting, parts: dict, jacobian: dict, numeric: _NumericCheck, bar) -> float:
    """Every entry: dz/dtheta equals the feature part, dR/dtheta the penalty part; numbers added up. The largest
    numeric deviation."""
    penalty = _PenaltyTerms(setting)
    for (generic, position), (q, theta, dz) in jacobian.items():
        class_part, feature_part, penalty_part = parts[generic]
        indices = _indices(generic, position, q)
        expected = setting.part(feature_part, indices)
        if dz != expected:
            raise ProofError(f"dz/d{theta} = {dz}, the closed form needs {expected}")
        penalty.prove(theta, setting.part(penalty_part, indices))
        numeric.add(q, class_part, dz)
        bar.update()
    return numeric.error


def _separate(derivation: Derivation) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """(class part, feature part, penalty part) of a closed form such as -(P_j - a_j)*x_i + lambda*W_ij."""
    data, penalty = derivation.data_result, derivation.penalty_result
    product = sp.expand(data)
    class_part, feature_part = sp.factor_terms(product).as_independent(S.i, as_Add=False)
    if sp.expand(class_part * feature_part - product) != 0 or class_part.has(S.i) or feature_part.has(S.j):
        raise ProofError(f"closed form {data} does not separate into class and feature parts")
    return class_part, feature_part, penalty


def _indices(generic: sp.Basic, position: tuple, q) -> dict[str, int]:
    indices = dict(zip((str(n) for n in getattr(generic, "indices", ())), position))
    if indices.get("j", q) != q:
        raise ProofError(f"{generic} at {position} enters z_{q}, not the logit of its own class")
    return indices


def _loss_in_logits(setting: _Setting) -> sp.Expr:
    """The data loss L as a function of the explicit logits."""
    return setting.explicit(setting.model.loss).xreplace(setting.activations())


def _logit_derivatives(setting: _Setting) -> dict:
    """dL/dz_q for every logit, by SymPy's diff."""
    loss = _loss_in_logits(setting)
    return {q: sp.diff(loss, setting.logit(q)) for q in setting.outputs}


def _prove_logit_identities(setting: _Setting, dLdz: dict, class_parts: set) -> int:
    """dL/dz_q == class part at j = q, as rational functions (labels normalised if assumed)."""
    activation = setting.activations()
    normalise = _normalisation(setting)
    count = 0
    for class_part in class_parts:
        for q, derivative in dLdz.items():
            target = setting.at(class_part, q).xreplace(activation)
            if not _is_zero(_in_exponentials(setting, (derivative - target).xreplace(normalise))):
                raise ProofError(f"dL/dz_{q} = {derivative} differs from the closed form's {target}")
            count += 1
    return count


def _normalisation(setting: _Setting) -> dict:
    """P_K -> 1 - Sum_{k<K} P_k when the labels are assumed to sum to one."""
    model = setting.model
    if not (setting.assume and model.assumptions and model.label_kind == "distribution"):
        return {}
    labels = [setting.explicit.symbol(model.label, (q,)) for q in setting.outputs]
    return {labels[-1]: 1 - sp.Add(*labels[:-1])}


def _in_exponentials(setting: _Setting, expr: sp.Expr) -> sp.Expr:
    """exp(c*z_q) -> u_q**c with u_q > 0: a rational function, where it was one in exp(z)."""
    u = {setting.logit(q): sp.Symbol(f"u_{q}", positive=True) for q in setting.outputs}

    def power(e: sp.exp) -> sp.Expr:
        coeff, z = e.args[0].as_coeff_Mul()
        return u[z] ** coeff if z in u else e

    return sp.expand_power_exp(expr).replace(lambda e: isinstance(e, sp.exp), power)


def _is_zero(expr: sp.Expr) -> bool:
    """expr == 0 as a rational function: the numerator of its ``together`` expands to 0."""
    numerator, _ = sp.fraction(sp.together(expr))
    return sp.expand(numerator) == 0


def _logit_jacobian(setting: _Setting, logits: dict) -> dict:
    """(generic parameter, concrete indices) -> (q, theta, dz_q/dtheta) for the one logit containing theta.

    z_q is linear in the parameters, so its derivatives are the coefficients that
    ``sympy.linear_eq_to_matrix`` extracts (it raises if z_q were not linear).
    """
    symbols = {}
    for generic in setting.model.parameters:
        for position, symbol in _parameter_symbols(setting, generic):
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


def _parameter_symbols(setting: _Setting, generic: sp.Basic):
    """Every concrete entry of a generic parameter: (position, explicit symbol)."""
    if not isinstance(generic, sp.Indexed):
        yield (), generic
        return
    sizes = {S.i: int(setting.explicit.sizes[S.d]), S.j: len(setting.outputs)}
    for position in itertools.product(*(range(1, sizes[q] + 1) for q in generic.indices)):
        yield position, setting.explicit.symbol(generic.base, position)


def _spot_check(logits: dict, jacobian: dict, count: int) -> int:
    """Recompute a deterministic sample of dz_q/dtheta with ``sympy.diff`` of the whole logit."""
    keys = sorted(jacobian, key=lambda key: (str(key[0]), key[1]))
    chosen = np.random.default_rng(2).choice(len(keys), min(count, len(keys)), replace=False)
    for n in chosen:
        q, theta, derivative = jacobian[keys[n]]
        if sp.diff(logits[q], theta) != derivative:
            raise ProofError(f"sympy.diff disagrees with the coefficient of {theta} in z_{q}")
    return len(chosen)


class _PenaltyTerms:
    """dR/dtheta term by term: each term of the explicit penalty (a polynomial) holds one parameter."""

    def __init__(self, setting: _Setting):
        penalty = setting.explicit(setting.model.penalty) if setting.model.penalty != 0 else sp.Integer(0)
        self.terms: dict[sp.Symbol, list[sp.Expr]] = {}
        factor, total = penalty.as_independent(*penalty.free_symbols - {S.lam}, as_Add=False) if penalty else (1, 0)
        self.factor = factor
        for term in sp.Add.make_args(total):
            for symbol in term.free_symbols - {S.lam}:
                self.terms.setdefault(symbol, []).append(term)

    def prove(self, theta: sp.Symbol, expected: sp.Expr) -> None:
        if expected == 0 and theta not in self.terms:
            return
        # each term is a polynomial in theta (theta**2): SymPy's polynomial derivative is exact and
        # an order of magnitude cheaper than the general ``diff``
        derivative = self.factor * sp.Add(*(sp.Poly(t, theta).diff(theta).as_expr() for t in self.terms.get(theta, ())))
        if sp.expand(derivative - expected) != 0:
            raise ProofError(f"dR/d{theta} = {derivative}, the closed form needs {expected}")


class _NumericCheck:
    """Every entry at one random point: SymPy's dL/dz_q * dz_q/dtheta against the closed form's parts.

    The point's logits and activations are computed from the explicit logits and
    the activation's definition, as numbers.
    """

    def __init__(self, setting: _Setting, dLdz: dict, features: int):

        rng = np.random.default_rng(1)
        model, explicit, classes = setting.model, setting.explicit, len(setting.outputs)
        inputs = random_inputs(model, classes, features, rng, setting.assume)
        env = {**arrays(inputs, classes, features), S.K: classes, S.d: features}
        values = {_explicit_key(explicit, key): v for key, v in inputs.items()}
        for q in setting.outputs:
            values[setting.logit(q)] = evaluate(model.logit_definition, {**env, S.j: q})
        if model.output_index is not None:
            env[S.z] = np.array([0.0, *(values[setting.logit(q)] for q in setting.outputs)])
        else:
            env[model.logit] = values[model.logit]
        for q in setting.outputs:
            values[setting.activation(q)] = evaluate(model.activation_definition, {**env, S.k: q})
        self.values, self.setting = values, setting
        self.dLdz = {q: float(expr.xreplace(values)) for q, expr in dLdz.items()}
        self.class_values: dict = {}
        self.error = 0.0

    def add(self, q, class_part: sp.Expr, dz: sp.Expr) -> None:
        if (class_part, q) not in self.class_values:
            self.class_values[class_part, q] = float(self.setting.at(class_part, q).xreplace(self.values))
        feature = self.values[dz] if dz in self.values else float(dz.xreplace(self.values))
        self.error = max(self.error, abs((self.dLdz[q] - self.class_values[class_part, q]) * feature))


def _explicit_key(explicit: S.Explicit, key: sp.Basic) -> sp.Basic:
    """W[2, 1] -> W_2_1; scalars stay as they are."""
    if isinstance(key, sp.Indexed):
        return explicit.symbol(key.base, tuple(int(q) for q in key.indices))
    return key
