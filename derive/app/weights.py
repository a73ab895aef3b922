"""Weights on disk: an ``.npz`` whose arrays are named after the model's parameters (``W`` and ``b`` for softmax).

:func:`load` reads and checks them against the dataset's sizes (InputError, one line, for a
missing file, a missing or misshapen array, a non-finite number); :func:`save` writes them
through :func:`derive.app.files.write_atomic`, so a run that fails before it saves leaves the
old file exactly as it was.  Besides ``W`` and ``b`` a saved file holds ``iterations`` (how many
steps made these weights, so that a resumed run counts on) and ``loss`` (the last mean loss).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from derive.app.files import write_atomic
from derive.core.errors import InputError


def zeros(features: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The start when no weights are given: W = 0 (d, K), b = 0 (K,)."""
    return np.zeros((features, classes)), np.zeros(classes)


def load(path: Path, features: int, classes: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(W, b, iterations so far) from ``path``, as float64, checked against d and K."""
    arrays = _read(Path(path))
    W, b = (_parameter(arrays, path, name, shape) for name, shape in (("W", (features, classes)), ("b", (classes,))))
    iterations = int(arrays["iterations"]) if "iterations" in arrays and arrays["iterations"].shape == () else 0
    return W, b, max(iterations, 0)


def _read(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise InputError(f"{path}: no such weights file") from None
    except (OSError, ValueError, zipfile.BadZipFile, AttributeError) as err:
        raise InputError(f"{path}: not an .npz of arrays W and b ({type(err).__name__})") from None


def _parameter(arrays: dict, path: Path, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if name not in arrays:
        raise InputError(f"{path}: no array {name!r} (it has {', '.join(sorted(arrays)) or 'none'})")
    value = arrays[name]
    if value.shape != shape or value.dtype.kind not in "fiu":
        raise InputError(f"{path}: {name} is {value.dtype} {value.shape}, the dataset needs numbers of shape {shape}")
    if not np.isfinite(value).all():
        raise InputError(f"{path}: {name} has a NaN or infinite value")
    return value.astype(np.float64)


def save(path: Path, W: np.ndarray, b: np.ndarray, iterations: int, loss: float) -> Path:
    """Write W, b, iterations and loss to ``path`` (.npz) atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, W=W, b=b, iterations=np.int64(iterations), loss=np.float64(loss))
    return write_atomic(Path(path), buffer.getvalue())
