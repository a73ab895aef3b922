"""Parsing numbers typed by users: vectors "1.9 0.4", matrices "0.1 0.5; 0.1 0.5".

Only ``float()`` of single tokens is used (never ``eval``); sizes and magnitudes
are bounded so that absurd input is refused with a one-line message.
"""

from __future__ import annotations

import math
import re

import numpy as np

from derive.core.errors import InputError

MAX_TEXT = 100_000
MAX_MAGNITUDE = 1e6
_SEPARATOR = re.compile(r"[,\s]+")


def vector(text: str, name: str) -> np.ndarray:
    """'1.9 0.4' or '1.9,0.4' -> array([1.9, 0.4])."""
    if len(text) > MAX_TEXT:
        raise InputError(f"--{name}: {len(text)} characters is more than the limit {MAX_TEXT}")
    tokens = [t for t in _SEPARATOR.split(text.strip()) if t]
    if not tokens:
        raise InputError(f"--{name}: no numbers given")
    return np.array([number(t, name) for t in tokens])


def matrix(text: str, name: str) -> np.ndarray:
    """'0.1 0.5; 0.1 0.5' -> 2x2 array (rows separated by ';')."""
    rows = [vector(row, name) for row in text.split(";")] if text.strip() else []
    if not rows:
        raise InputError(f"--{name}: no numbers given")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise InputError(f"--{name}: rows have different lengths {[len(r) for r in rows]}")
    return np.vstack(rows)


def number(token: str, name: str) -> float:
    """One finite number of bounded magnitude."""
    try:
        value = float(token)
    except ValueError:
        raise InputError(f"--{name}: {token[:40]!r} is not a number") from None
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise InputError(f"--{name}: {token[:40]!r} is not a finite number of magnitude at most {MAX_MAGNITUDE:g}")
    return value


def scalar_sample(
    x: str | None, w: str | None, b: str | None, y: str | None, seed: dict, max_features: int, label_kind: str = "real"
):
    """(x, w, b, y) of a single-output model, each from the model's example unless given (y by --P).

    A "probability" label (the target of a logistic model) must lie in [0, 1].
    """
    xs = vector(x, "x") if x is not None else np.array(seed["x"], dtype=float)
    if ";" in (w or ""):
        raise InputError("--W: this model has one weight per feature: give one row")
    ws = vector(w, "W") if w is not None else np.array(seed["W"], dtype=float)
    if len(xs) != len(ws):
        raise InputError(f"--x has {len(xs)} values but --W has {len(ws)} (one weight per feature)")
    if len(xs) > max_features:
        raise InputError(f"a worked example has at most {max_features} features (got {len(xs)})")
    bs, ys = (_scalar(v, name) if v is not None else float(seed[name]) for v, name in ((b, "b"), (y, "P")))
    if label_kind == "probability" and not 0 <= ys <= 1:
        raise InputError(f"--P {ys:g}: this model's target is a probability, between 0 and 1")
    return xs, ws, bs, ys


def _scalar(text: str, name: str) -> float:
    values = vector(text, name)
    if len(values) != 1:
        raise InputError(f"--{name} takes one number for this model (got {len(values)})")
    return float(values[0])


def sample(
    x: str | None,
    W: str | None,
    b: str | None,
    label: int | None,
    P: str | None,
    seed: dict,
    max_classes: int,
    max_features: int,
):
    """The worked example's (x, W, b, P), each taken from the seed unless given, shapes checked."""
    xs = vector(x, "x") if x is not None else np.array(seed["x"], dtype=float)
    Ws = matrix(W, "W") if W is not None else np.array(seed["W"], dtype=float)
    features, classes = Ws.shape
    if len(xs) != features:
        raise InputError(f"--x has {len(xs)} values but --W has {features} rows (one per feature)")
    if classes > max_classes or features > max_features:
        raise InputError(
            f"a worked example has at most {max_classes} classes and {max_features} features (got {classes} x {features})"
        )
    bs = vector(b, "b") if b is not None else np.zeros(classes) if W is not None else np.array(seed["b"], dtype=float)
    if len(bs) != classes:
        raise InputError(f"--b has {len(bs)} values but --W has {classes} columns (one per class)")
    return xs, Ws, bs, labels(label, P, classes, seed, W is not None)


def labels(label: int | None, P: str | None, classes: int, seed: dict, custom_shape: bool) -> np.ndarray:
    """One-hot from a 1-based --label, or soft labels --P, or the seed's."""
    if label is not None and P is not None:
        raise InputError("give either --label or --P, not both")
    if label is not None:
        if not 1 <= label <= classes:
            raise InputError(f"--label {label} is out of range 1..{classes}")
        return np.eye(classes)[label - 1]
    if P is not None:
        Ps = vector(P, "P")
        if len(Ps) != classes:
            raise InputError(f"--P has {len(Ps)} values but there are {classes} classes")
        if (Ps < 0).any():
            raise InputError("--P: labels must not be negative")
        return Ps
    if custom_shape and classes != len(seed["P"]):
        raise InputError(f"give --label or --P for {classes} classes")
    return np.array(seed["P"], dtype=float)
