"""Rows per second of one gradient pass over a dataset on disk: Dask, the in-process chunked loop, in-memory NumPy.

    python benchmarks/bench_dataset.py [--rows 2000000] [--features 100] [--classes 10] [--repeats 3]
                                       [--folder DIR] [--big-gb 4] [--big-workers-gb 1]

One run prints, side by side (best of --repeats, after a warm-up pass that compiles the kernel
in every worker):

* in-memory NumPy: the generated ``loss_and_grad`` on X and one-hot P already in memory;
* local: ``derive evaluate --engine local``'s loop, chunk after chunk from the Zarr store;
* dask: ``--engine dask`` on a local cluster of 2 workers (one thread each);
* the overheads, each measured on its own: reading every chunk from disk in this process
  (no arithmetic), the same through Dask (a kernel that only touches each chunk), and Dask's
  scheduling alone (as many tasks and a tree sum over tiny in-memory blocks);
* the memory-limited run: a --big-gb set (float32) over two workers of --big-workers-gb each.

The sets are written once into --folder (default a temporary folder, removed at the end) and
read back from the page cache, as a second pass would be.  Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from derive.app import dataset
from derive.app.cluster import start_local
from derive.app.engines import DaskEngine, LocalEngine, kernel, kernel_source


def best(fn, repeats: int) -> float:
    """The fastest of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def point(data):
    rng = np.random.default_rng(0)
    return rng.normal(size=(data.features, data.classes)) * 0.1, np.zeros(data.classes)


def in_memory(data, W, b, repeats):
    X, y = (a[:] for a in data.arrays())
    P = np.eye(data.classes)[y]
    module = kernel(kernel_source())
    return best(lambda: module.loss_and_grad(W, b, X, P), repeats)


def read_only(data, repeats):
    """Reading every chunk of X and y from the store in this process, nothing else."""
    X, y = data.arrays()
    return best(lambda: [(X[s:e], y[s:e]) for s, e in data.spans()], repeats)


def _touch(X, y):
    return np.zeros((1, 1))


def dask_read_only(engine, repeats):
    import dask.array as da

    X, y = engine.arrays()
    touched = da.map_blocks(_touch, X, y, chunks=((1,) * X.numblocks[0], (1,)), dtype=float).sum(split_every=8)
    return best(lambda: engine.client.compute(touched).result(), repeats)


def dask_scheduling(engine, chunks, repeats):
    import dask.array as da

    tiny = da.zeros((chunks, 1), chunks=(1, 1))
    total = da.map_blocks(lambda block: block + 1, tiny, dtype=float).sum(split_every=8)
    return best(lambda: engine.client.compute(total).result(), repeats)


def dask_pass(data, workers, limit, W, b, repeats, extras=False):
    """(seconds of a pass, and of the overheads when ``extras``) on a fresh local cluster."""
    client, (cluster,) = start_local(workers, limit)
    try:
        engine = DaskEngine(data, client)
        pids = client.run(os.getpid)
        engine.loss_and_grad(W, b)  # warm-up: each worker imports derive and compiles the kernel
        timings = {"pass": best(lambda: engine.loss_and_grad(W, b), repeats)}
        timings["restarted"] = len(set(pids.values()) - set(client.run(os.getpid).values()))
        if extras:
            timings["read"] = dask_read_only(engine, repeats)
            timings["scheduling"] = dask_scheduling(engine, len(list(data.spans())), repeats)
        return timings
    finally:
        client.close()
        cluster.close()


def line(name: str, seconds: float, rows: int, baseline: float | None = None) -> str:
    ratio = "" if baseline is None else f"{seconds / baseline:6.2f}x"
    return f"  {name:<52} {seconds:8.3f} s {rows / seconds / 1e6:8.2f} M rows/s {ratio}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", type=Path, help="where the sets are written (default: a temporary folder)")
    parser.add_argument("--big-gb", type=float, default=4.0, help="the memory-limited set, GB of X (0: skip)")
    parser.add_argument("--big-workers-gb", type=float, default=1.0, help="memory limit of each of its 2 workers")
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="bench_dataset."))
    try:
        run(args, folder)
    finally:
        if args.folder is None:
            shutil.rmtree(folder, ignore_errors=True)


def ensure(path: Path, rows: int, features: int, classes: int) -> dataset.Dataset:
    if not path.exists():
        start = time.perf_counter()
        dataset.synth(path, rows, features, classes, seed=0, progress=True)
        print(f"  (wrote {path.name} in {time.perf_counter() - start:.1f} s)")
    return dataset.open_dataset(path)


def run(args, folder: Path) -> None:
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; {os.cpu_count()} cores")
    data = ensure(folder / "bench.zarr", args.rows, args.features, args.classes)
    W, b = point(data)
    gb = data.rows * data.features * np.dtype(data.dtype).itemsize / 1e9
    print(f"one gradient pass over {data.describe()} ({gb:.2f} GB of X)")
    memory = in_memory(data, W, b, args.repeats)
    local = best(lambda: LocalEngine(data).loss_and_grad(W, b), args.repeats)
    read = read_only(data, args.repeats)
    timings = dask_pass(data, 2, None, W, b, args.repeats, extras=True)
    print(line("in-memory NumPy (generated loss_and_grad)", memory, data.rows, memory))
    print(line("local: chunked loop in this process", local, data.rows, memory))
    print(line("dask: local cluster, 2 workers x 1 thread", timings["pass"], data.rows, memory))
    print(f"  dask / local: {timings['pass'] / local:.2f}x; dask / in-memory: {timings['pass'] / memory:.2f}x")
    print("overheads, each on its own:")
    print(line("reading the chunks from the store (this process)", read, data.rows))
    print(line("dask: reading the chunks, no arithmetic", timings["read"], data.rows))
    print(
        line(f"dask: scheduling {len(list(data.spans()))} tasks + tree sum, no data", timings["scheduling"], data.rows)
    )
    if args.big_gb > 0:
        big_rows = int(args.big_gb * 1e9 / (data.features * 4))
        big = ensure(folder / "big.zarr", big_rows, data.features, data.classes)
        limit = f"{args.big_workers_gb}GB"
        timings = dask_pass(big, 2, limit, W, b, 1)
        print(f"memory-limited: {args.big_gb:g} GB of X over 2 workers of {limit}")
        print(line(f"dask: {big.rows:,} rows", timings["pass"], big.rows))
        print(f"  workers restarted (for memory or any other reason): {timings['restarted']}")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
