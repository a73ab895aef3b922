"""Loss and gradient of softmax regression over a dataset on disk, chunk by chunk: in-process or on Dask.

The mean loss over N rows is a sum over samples divided by N, and so is its gradient: each chunk
of rows gives its sums with the generated kernel (``loss_and_grad(..., reduction="sum")`` of the
module ``derive code`` writes, NumPy or Numba), the chunks' sums are added, and the total is
divided by N once.  Each chunk's (H, dH/dW, dH/db) travels as one vector of 1 + d K + K numbers
(:func:`chunk_sums`), so the reduction is a plain sum of vectors.

* :class:`LocalEngine` reads the chunks one after the other in this process and adds them up:
  the baseline, and what runs when Dask is not installed.
* :class:`DaskEngine` (:mod:`derive.app.cluster` makes one) maps the same kernel over the
  chunks of the Dask arrays read from the Zarr store (``map_blocks``) and adds the vectors by
  Dask's tree reduction (``sum(split_every=...)``); Dask does the scheduling, spilling and
  recovery from lost workers.  The graph is fixed by the chunks, so a pass gives the same
  bits whichever workers ran it.

Both check each chunk as they read it (:func:`derive.app.dataset.check_chunk`): a bad label or a
NaN in X is an :class:`~derive.core.errors.InputError` raised where the chunk is, and Dask
raises it again in the client.  The kernel's source is built once in the client and compiled once
per process that runs chunks (:func:`kernel`): workers need derive installed, as the client does.
"""

from __future__ import annotations

import contextlib
import sys
import types
from functools import lru_cache

import numpy as np

from derive.app.dataset import Dataset, check_chunk

#: the kernels a pass can use: the generated module's backend
BACKENDS = ("numpy", "numba")

#: Dask's tree reduction adds this many chunk vectors per task
SPLIT_EVERY = 8


def kernel_source(backend: str = "numpy") -> str:
    """The generated float64 softmax module of ``backend`` (the text ``derive code --backend B`` writes)."""
    from derive.app.code import module_source

    return module_source("float64", "softmax", backend=backend)


@lru_cache(maxsize=4)
def kernel(source: str) -> types.ModuleType:
    """The module of a generated source, compiled once per process (derive.app.code.load_module)."""
    from derive.app.code import load_module

    return load_module(source, "derive_chunk_kernel")


def chunk_sums(X: np.ndarray, y: np.ndarray, W: np.ndarray, b: np.ndarray, source: str, start: int) -> np.ndarray:
    """[Sum_n H_n, Sum_n dH_n/dW (raveled), Sum_n dH_n/db] over the chunk of rows from ``start``, checked first."""
    classes = W.shape[1]
    check_chunk(X, y, classes, start)
    P = np.zeros((len(y), classes))
    P[np.arange(len(y)), y] = 1.0
    H, dW, db = kernel(source).loss_and_grad(W, b, X, P, reduction="sum")
    return np.concatenate([[H], dW.ravel(), db])


def chunk_correct(X: np.ndarray, y: np.ndarray, W: np.ndarray, b: np.ndarray) -> int:
    """How many rows of the chunk have their class as the largest logit."""
    return int(np.count_nonzero(np.argmax(X.astype(np.float64) @ W + b, axis=1) == y))


def unpack(total: np.ndarray, rows: int, features: int, classes: int) -> tuple[float, np.ndarray, np.ndarray]:
    """(H, dH/dW, dH/db), the means over ``rows``, from the summed chunk vector."""
    mean = total / rows
    return float(mean[0]), mean[1 : 1 + features * classes].reshape(features, classes), mean[1 + features * classes :]


class LocalEngine:
    """The chunked pass in this process, chunk after chunk: no Dask needed."""

    name = "local"

    def __init__(self, dataset: Dataset, backend: str = "numpy", progress: bool = False):
        self.dataset, self.source, self.progress = dataset, kernel_source(backend), progress

    def describe(self) -> str:
        return "local (chunks in this process, one after the other)"

    def loss_and_grad(self, W: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """(H, dH/dW, dH/db), means over the whole set."""
        total = sum(chunk_sums(X, y, W, b, self.source, start) for start, X, y in self._chunks("pass"))
        return unpack(total, self.dataset.rows, self.dataset.features, self.dataset.classes)

    def accuracy(self, W: np.ndarray, b: np.ndarray) -> float:
        """Share of rows whose largest logit is their class."""
        return sum(chunk_correct(X, y, W, b) for _, X, y in self._chunks("accuracy")) / self.dataset.rows

    def _chunks(self, what: str):
        from tqdm import tqdm

        X, y = self.dataset.arrays()
        spans = tqdm(list(self.dataset.spans()), desc=what, unit="chunk", disable=not self.progress, leave=False)
        for start, stop in spans:
            yield start, X[start:stop], y[start:stop]

    def close(self) -> None:
        """Nothing to release."""


def _dask_chunk_sums(X, y, W, b, source, block_info=None):
    """chunk_sums on one Dask block, as a (1, width) row; the block's first row from Dask's block_info."""
    start = block_info[0]["array-location"][0][0]
    return chunk_sums(X, y[:, 0], W, b, source, start)[None, :]


def _dask_chunk_correct(X, y, W, b):
    return np.array([[chunk_correct(X, y[:, 0], W, b)]], dtype=np.int64)


class DaskEngine:
    """The chunked pass on a Dask cluster: map_blocks over the Zarr chunks, a tree sum, one division by N."""

    name = "dask"

    def __init__(self, dataset: Dataset, client, backend: str = "numpy", progress: bool = False, owned=()):
        self.dataset, self.client, self.progress = dataset, client, progress
        self.source, self.owned = kernel_source(backend), owned

    def describe(self) -> str:
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        memory = sum(w.get("memory_limit") or 0 for w in workers.values())
        limit = f", {memory / 1e9:.1f} GB memory limit in all" if memory else ""
        return f"dask ({len(workers)} workers at {self.client.scheduler.address}{limit})"

    def arrays(self):
        """X and y as Dask arrays over the Zarr chunks (y as a column, in X's chunks of rows)."""
        import dask.array as da

        path = str(self.dataset.path)
        X = da.from_zarr(path, component="X")
        y = da.from_zarr(path, component="y").rechunk((X.chunks[0],))
        return X, y[:, None]

    def partial_sums(self, W: np.ndarray, b: np.ndarray):
        """The Dask array of the chunks' vectors, one row per chunk (not computed)."""
        import dask.array as da

        X, y = self.arrays()
        width = 1 + W.size + b.size
        chunks = ((1,) * X.numblocks[0], (width,))
        return da.map_blocks(_dask_chunk_sums, X, y, W=W, b=b, source=self.source, chunks=chunks, dtype=np.float64)

    def loss_and_grad(self, W: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """(H, dH/dW, dH/db), means over the whole set."""
        total = self.partial_sums(W, b).sum(axis=0, split_every=SPLIT_EVERY)
        return unpack(self._compute(total), self.dataset.rows, self.dataset.features, self.dataset.classes)

    def accuracy(self, W: np.ndarray, b: np.ndarray) -> float:
        import dask.array as da

        X, y = self.arrays()
        chunks = ((1,) * X.numblocks[0], (1,))
        counts = da.map_blocks(_dask_chunk_correct, X, y, W=W, b=b, chunks=chunks, dtype=np.int64)
        return int(self._compute(counts.sum(split_every=SPLIT_EVERY))) / self.dataset.rows

    def _compute(self, array) -> np.ndarray:
        """Compute on the cluster, with Dask's progress bar on stderr when asked for."""
        future = self.client.compute(array)
        if self.progress:
            from distributed import progress

            with contextlib.redirect_stdout(sys.stderr):  # Dask's text bar writes to stdout, which is for results
                progress(future)
        return future.result()

    def close(self) -> None:
        """Close the client, and the local cluster when this engine started it."""
        self.client.close()
        for thing in self.owned:
            thing.close()
