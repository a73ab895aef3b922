"""The one numeric evaluator of index expressions: each expression compiled once, then called with numbers.

An *environment* gives every name of an expression a value: an IndexedBase a
1-based array (index 0 unused, so that W[i, j] reads as written), a Symbol a
number; sizes (K, d) and free indices (i, j) are whole numbers.  Sums stay
unexpanded: ``lambdify`` prints them as Python loops over the index, so a logit
with 784 features costs microseconds, not a symbolic sweep.

Floats first (``math``); where a float overflows (exp of a logit of 1000), the
same code runs again in ``mpmath``'s arbitrary-range numbers, so that a
softmax output of huge logits is 1.0 rather than an error.

>>> from derive.core import symbols as S
>>> values = {S.x[1]: 1.9, S.x[2]: 0.4, S.W[1, 2]: 0.5, S.W[2, 2]: 0.5, S.b[2]: 0.0}
>>> env = environment(values, classes=2, features=2, indices={S.j: 2})
>>> round(evaluate(S.feature_sum(S.W[S.l, S.j] * S.x[S.l]) + S.b[S.j], env), 6)
1.15
>>> number(sp.log(S.x[1] - 2), env)
nan
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache

import numpy as np
import sympy as sp

from derive.core import symbols as S

Valuation = dict[sp.Basic, float]

#: errors of a float computation that mean "undefined here" (log of a negative number, 1/0, overflow)
UNDEFINED = (ValueError, OverflowError, ZeroDivisionError, TypeError)


def evaluate(expr: sp.Expr, env: Mapping) -> float:
    """``expr`` at ``env`` (arrays for IndexedBases, numbers for symbols); raises where it is undefined."""
    if isinstance(expr, (int, float)):
        return float(expr)
    names, in_floats, in_mpmath = _compiled(expr)
    args = [env[name] for name in names]
    try:
        return _real(in_floats(*args))
    except OverflowError:
        return _real(in_mpmath(*args))


def number(expr: sp.Expr, env: Mapping) -> float:
    """``expr`` at ``env``, or nan where it is undefined or not real."""
    try:
        result = evaluate(expr, env)
    except UNDEFINED:
        return float("nan")
    return result + 0.0 if math.isfinite(result) else float("nan")


def _real(value) -> float:
    if isinstance(value, complex) or getattr(value, "imag", 0) != 0:
        raise ValueError("not a real number")
    return float(value) + 0.0  # -0.0 (a product with a zero label) is 0


@cache
def _compiled(expr: sp.Expr):
    """(the names expr needs, its code in floats, the same in mpmath); compiled once per expression."""
    bases = sorted({q.base for q in expr.atoms(sp.Indexed)}, key=str)
    indexed = set(expr.atoms(sp.Indexed))
    labels = {b.label for b in bases}
    symbols = sorted((q for q in expr.free_symbols if q not in indexed and q not in labels), key=str)
    names = (*bases, *symbols)
    return names, sp.lambdify(names, expr, modules="math"), sp.lambdify(names, expr, modules="mpmath")


def arrays(values: Mapping, classes: int, features: int) -> dict:
    """A valuation {W[1, 2]: v, y: v} as 1-based arrays per IndexedBase (index 0 unused), plus its scalars.

    Each array is as large as its largest index on each axis needs (W at d = 784, K = 10 is 785 x 11).
    """
    out: dict = {}
    shapes: dict = {}
    for key in values:
        if isinstance(key, sp.Indexed):
            indices = [int(q) for q in key.indices]
            known = shapes.get(key.base, [0] * len(indices))
            shapes[key.base] = [max(n + 1, m) for n, m in zip(indices, known)]
    for key, value in values.items():
        if isinstance(key, sp.Indexed):
            if key.base not in out:
                out[key.base] = np.zeros(tuple(shapes[key.base]))
            out[key.base][tuple(int(q) for q in key.indices)] = value
        else:
            out[key] = value
    return out


def environment(values: Mapping, classes: int, features: int, indices: Mapping | None = None) -> dict:
    """The environment of a valuation at concrete sizes K, d and free indices (whole numbers)."""
    env = arrays(values, classes, features)
    env.update({S.K: classes, S.d: features})
    env.update({q: int(n) for q, n in (indices or {}).items()})
    return env
