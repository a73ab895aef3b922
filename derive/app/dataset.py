"""Datasets on disk: a Zarr group holding ``X`` (N, d) and ``y`` (N,), written, opened and checked.

The layout that ``derive data`` writes and ``derive evaluate`` / ``derive train --data`` read:

==========  ===============  ==========================================================
name        shape, dtype     meaning
==========  ===============  ==========================================================
X           (N, d) float     the features, one sample per row, chunked by rows only
y           (N,) int64       the class index of each sample, 0..K-1
generator/  W (d, K), b (K)  (synthetic sets only) the softmax model the labels came from
attrs       classes = K      the number of classes (labels are checked against it)
==========  ===============  ==========================================================

Arrays are stored uncompressed: random floating-point features hardly compress, and reading
speed is what a gradient pass over the data costs.  Every writer builds the group in a hidden
temporary folder beside the target and renames it into place only when it is complete
(:func:`derive.app.files.folder_atomic`): a reader never sees half a dataset, and a failed
write leaves the old one as it was.

Checks that need only the metadata (a group, both arrays, their ranks and dtypes, the same N)
are made when a set is opened (:func:`open_dataset`); those that need the values (labels in
0..K-1, finite features) are made on each chunk as it is read (:func:`check_chunk`), so that
they cost no extra pass over X.  Every failure is an :class:`~derive.core.errors.InputError`
with one line.  Zarr (and scikit-learn for the iris set) are imported on first use.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from derive.app.files import folder_atomic
from derive.core.errors import InputError

#: the packages of the [dask] extra: module -> distribution
EXTRA = {"zarr": "zarr", "dask": "dask[array]", "distributed": "distributed"}

#: how to install them
INSTALL = "pip install 'derive-gradients[dask]' (or '.[dask]' in a checkout)"

#: the dtypes X may be written in
DTYPES = ("float32", "float64")

#: the default chunk: about this many bytes of X per chunk of rows
CHUNK_BYTES = 32 * 2**20

#: synthetic sets: the generating weights are N(0, (SCALE / sqrt(d))^2), so the logits have spread SCALE
SCALE = 3.0


def missing(*modules: str) -> list[str]:
    """The distributions of the [dask] extra, among ``modules``, that cannot be imported here."""
    return [EXTRA[m] for m in modules if importlib.util.find_spec(m) is None]


def require(*modules: str) -> None:
    """InputError naming the missing packages of the [dask] extra among ``modules``, and how to install them."""
    absent = missing(*modules)
    if absent:
        raise InputError(f"this needs {' and '.join(absent)} (not installed): {INSTALL}")


@dataclass(frozen=True)
class Dataset:
    """An opened, checked dataset: where it is, its sizes, and the model that generated it (if synthetic)."""

    path: Path
    rows: int
    features: int
    classes: int
    dtype: str
    chunk_rows: int
    generator: tuple[np.ndarray, np.ndarray] | None = None

    def spans(self) -> Iterator[tuple[int, int]]:
        """(start, stop) of each chunk of rows, in order; the last may be short."""
        for start in range(0, self.rows, self.chunk_rows):
            yield start, min(start + self.chunk_rows, self.rows)

    def arrays(self):
        """The Zarr arrays (X, y), opened read-only."""
        import zarr

        group = zarr.open_group(str(self.path), mode="r")
        return group["X"], group["y"]

    def describe(self) -> str:
        return (
            f"{self.path}: {self.rows:,} rows, {self.features} features, {self.classes} classes, "
            f"{self.dtype}, chunks of {self.chunk_rows:,} rows"
        )


# --- reading ------------------------------------------------------------------------------------


def open_dataset(path: Path | str) -> Dataset:
    """The dataset at ``path``, its metadata checked (InputError, one line, for anything amiss)."""
    require("zarr")
    path = Path(path)
    group = _group(path)
    X, y = (_member(group, path, name) for name in ("X", "y"))
    _check_arrays(path, X, y)
    classes = _classes(path, group, y)
    return Dataset(path, X.shape[0], X.shape[1], classes, str(X.dtype), X.chunks[0], _generator(group, X, classes))


def _group(path: Path):
    import zarr

    if not path.exists():
        raise InputError(f"{path}: no such dataset (write one with derive data)")
    try:
        return zarr.open_group(str(path), mode="r")
    except (OSError, ValueError, KeyError, TypeError) as err:  # zarr's (no group, bad metadata) and JSON's
        raise InputError(f"{path} is not a Zarr group ({type(err).__name__}); write one with derive data") from None


def _member(group, path: Path, name: str):
    import zarr

    try:
        array = group[name]
    except KeyError:
        raise InputError(f"{path}: the Zarr group has no array {name!r} (it needs X and y)") from None
    except (OSError, ValueError, TypeError) as err:
        raise InputError(f"{path}: the metadata of {name!r} cannot be read ({type(err).__name__})") from None
    if not isinstance(array, zarr.Array):
        raise InputError(f"{path}: {name!r} is a group, not an array")
    return array


def _check_arrays(path: Path, X, y) -> None:
    if len(X.shape) != 2 or X.dtype.kind != "f":
        raise InputError(f"{path}: X must be a 2-D array of floats, not {len(X.shape)}-D {X.dtype}")
    if len(y.shape) != 1 or y.dtype.kind not in "iu":
        raise InputError(f"{path}: y must be a 1-D array of integer class indices, not {len(y.shape)}-D {y.dtype}")
    if X.shape[0] != y.shape[0]:
        raise InputError(f"{path}: X has {X.shape[0]:,} rows but y has {y.shape[0]:,}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise InputError(f"{path}: X is empty ({X.shape[0]} x {X.shape[1]})")
    if X.chunks[1] != X.shape[1]:
        raise InputError(f"{path}: X must be chunked by rows only (chunks {X.chunks}, {X.shape[1]} columns)")


def _classes(path: Path, group, y) -> int:
    """K from the group's ``classes`` attribute, or 1 + the largest label when there is none."""
    classes = group.attrs.get("classes")
    if classes is None:
        classes = int(y[:].max()) + 1
    if not isinstance(classes, int) or isinstance(classes, bool) or not 1 <= classes <= 100_000:
        raise InputError(f"{path}: the attribute 'classes' must be a whole number 1..100000, not {classes!r}")
    return classes


def _generator(group, X, classes: int):
    """(W, b) of the generating model when the group stores one of the right shapes, else None."""
    try:
        W, b = group["generator/W"][:], group["generator/b"][:]
    except KeyError:
        return None
    return (W, b) if W.shape == (X.shape[1], classes) and b.shape == (classes,) else None


def check_chunk(X: np.ndarray, y: np.ndarray, classes: int, start: int) -> None:
    """InputError when the chunk of rows from ``start`` has a label outside 0..K-1 or a non-finite feature."""
    bad = np.flatnonzero((y < 0) | (y >= classes))
    if bad.size:
        row = start + int(bad[0])
        raise InputError(f"label {int(y[bad[0]])} in row {row:,} is out of range 0..{classes - 1} ({classes} classes)")
    if not np.isfinite(X).all():  # the whole chunk at once (5x faster than per row); the row only on failure
        row = start + int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
        raise InputError(f"X has a NaN or infinite value in row {row:,}: the loss would not be a number")


# --- writing ------------------------------------------------------------------------------------


def chunk_rows_for(features: int, itemsize: int, rows: int) -> int:
    """The default rows per chunk: about CHUNK_BYTES of X, never more than the set."""
    return max(1, min(rows, CHUNK_BYTES // (features * itemsize)))


def write(
    path: Path,
    blocks: Iterator[tuple[np.ndarray, np.ndarray]],
    shape: tuple[int, int],
    classes: int,
    dtype: str,
    chunk_rows: int,
    generator: tuple[np.ndarray, np.ndarray] | None = None,
    progress: bool = False,
) -> Path:
    """Write the blocks (X rows, y rows), chunk_rows at a time, as a dataset at ``path``, atomically."""
    import zarr
    from tqdm import tqdm

    require("zarr")
    with folder_atomic(Path(path)) as tmp:
        group = zarr.open_group(str(tmp), mode="w")
        X = group.create_array("X", shape=shape, chunks=(chunk_rows, shape[1]), dtype=dtype, compressors=None)
        y = group.create_array("y", shape=(shape[0],), chunks=(chunk_rows,), dtype="int64", compressors=None)
        group.attrs["classes"] = int(classes)
        bar = tqdm(total=shape[0], desc=f"write {Path(path).name}", unit="row", unit_scale=True, disable=not progress)
        with bar:
            start = 0
            for X_block, y_block in blocks:
                X[start : start + len(X_block)], y[start : start + len(y_block)] = X_block, y_block
                start += len(X_block)
                bar.update(len(X_block))
        if generator is not None:
            for name, value in zip(("W", "b"), generator):
                group.create_array(f"generator/{name}", data=np.asarray(value, dtype=np.float64))
    return Path(path)


def synth(
    path: Path,
    rows: int,
    features: int,
    classes: int,
    seed: int = 0,
    dtype: str = "float32",
    chunk_rows: int | None = None,
    progress: bool = False,
) -> Path:
    """A synthetic set: X ~ N(0, 1), labels drawn from softmax(X W + b) of a random (W, b), stored too.

    Each chunk has its own random stream (seed, chunk index), so a set is the same for the same
    seed and sizes whatever the chunking of the write; the labels follow the model at the stored
    (rounded) X exactly.  The generating model's own accuracy is the one training should reach.
    """
    chunk_rows = chunk_rows or chunk_rows_for(features, np.dtype(dtype).itemsize, rows)
    W, b = generating_model(features, classes, seed)
    blocks = (_synth_block(W, b, seed, start, stop, dtype) for start, stop in _spans(rows, chunk_rows))
    return write(path, blocks, (rows, features), classes, dtype, chunk_rows, (W, b), progress)


def generating_model(features: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The (W, b) a synthetic set of these sizes and seed is drawn from."""
    rng = np.random.default_rng([seed, 0])
    return rng.normal(0.0, SCALE / np.sqrt(features), (features, classes)), rng.normal(0.0, 0.5, classes)


def _synth_block(W: np.ndarray, b: np.ndarray, seed: int, start: int, stop: int, dtype: str):
    """Rows start..stop: features, and labels drawn by the Gumbel-max trick (an exact softmax sample)."""
    rng = np.random.default_rng([seed, 1, start])
    X = rng.standard_normal((stop - start, W.shape[0]), dtype=np.dtype(dtype))
    Z = X.astype(np.float64) @ W + b
    return X, np.argmax(Z + rng.gumbel(size=Z.shape), axis=1)


def _spans(rows: int, chunk_rows: int) -> Iterator[tuple[int, int]]:
    for start in range(0, rows, chunk_rows):
        yield start, min(start + chunk_rows, rows)


def iris(path: Path, chunk_rows: int | None = None) -> Path:
    """The 150 iris flowers (4 measurements in cm, 3 species) from scikit-learn, as a dataset."""
    if importlib.util.find_spec("sklearn") is None:
        raise InputError("the iris data comes from scikit-learn (not installed): pip install scikit-learn")
    from sklearn.datasets import load_iris

    data = load_iris()
    return from_arrays(path, data.data.astype(np.float64), data.target, chunk_rows)


def from_npy(path: Path, X_path: Path, y_path: Path, chunk_rows: int | None = None, progress: bool = False) -> Path:
    """A dataset from a user's ``X.npy`` (N, d floats) and ``y.npy`` (N integer labels), read memory-mapped."""
    X, y = _load_npy(X_path, "X"), _load_npy(y_path, "y")
    return from_arrays(path, X, y, chunk_rows, progress, source=f"{X_path} and {y_path}")


def _load_npy(path: Path, name: str) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a NumPy .npy file of numbers ({str(err).splitlines()[0][:80]})") from None


def from_arrays(
    path: Path,
    X: np.ndarray,
    y: np.ndarray,
    chunk_rows: int | None = None,
    progress: bool = False,
    source: str = "the arrays",
) -> Path:
    """A dataset from arrays X (N, d floats) and y (N integer labels >= 0), checked before anything is written."""
    classes = _check_input(X, y, source)
    chunk_rows = min(chunk_rows or chunk_rows_for(X.shape[1], X.dtype.itemsize, len(X)), len(X))
    for start, stop in _spans(len(X), chunk_rows):
        check_chunk(np.asarray(X[start:stop]), np.asarray(y[start:stop]), classes, start)
    blocks = ((np.asarray(X[s:e]), np.asarray(y[s:e], dtype=np.int64)) for s, e in _spans(len(X), chunk_rows))
    return write(path, blocks, X.shape, classes, str(X.dtype), chunk_rows, progress=progress)


def _check_input(X: np.ndarray, y: np.ndarray, source: str) -> int:
    """The number of classes, 1 + the largest label; InputError for arrays that cannot be a dataset."""
    if X.ndim != 2 or X.dtype.name not in DTYPES:
        raise InputError(f"{source}: X must be 2-D float32 or float64, not {X.ndim}-D {X.dtype}")
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise InputError(f"{source}: y must be 1-D integer class indices, not {y.ndim}-D {y.dtype}")
    if len(X) != len(y) or not len(X) or not X.shape[1]:
        raise InputError(f"{source}: X has {X.shape[0]:,} rows and {X.shape[1]} columns, y {len(y):,} labels")
    if int(y.min()) < 0:
        raise InputError(f"{source}: label {int(y.min())} is negative (labels are class indices 0..K-1)")
    return int(y.max()) + 1
