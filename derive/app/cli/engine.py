"""Options of the commands that pass over a dataset on disk (``derive evaluate``, ``derive train --data``).

``--data`` names the Zarr group; ``--engine``, ``--scheduler``, ``--workers``, ``--memory-limit``,
``--backend`` and ``--timeout`` choose where the passes run (:func:`derive.app.cluster.open_engine`);
``--weights`` gives the starting weights.  :func:`engine_from_args` opens the dataset and the
engine from the parsed command line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from derive.app.cli.options import folder, positive_int

#: the engines and kernels (derive.app.cluster.ENGINES, derive.app.engines.BACKENDS: here so that the parser needs no NumPy)
ENGINES = ("local", "dask")
BACKENDS = ("numpy", "numba")

#: seconds to wait for a scheduler to answer, and for its first worker (derive.app.cluster.TIMEOUT)
TIMEOUT = 10.0


def default_engine() -> str:
    """``dask`` when Dask and distributed are installed, else ``local``."""
    import importlib.util

    return "dask" if all(importlib.util.find_spec(m) for m in ("dask", "distributed")) else "local"


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{value:g} is out of range (0, 3600]")
    return value


def add_engine_options(parser: argparse.ArgumentParser, data_required: bool = True) -> None:
    """--data, --weights and the engine's options, in a group of their own."""
    group = parser.add_argument_group("the dataset and where the passes over it run")
    group.add_argument(
        "--data", type=folder, required=data_required, metavar="PATH.zarr", help="the dataset (derive data)"
    )
    group.add_argument("--weights", type=folder, metavar="W.npz", help="the weights, arrays W and b (default zeros)")
    group.add_argument(
        "--engine",
        choices=ENGINES,
        default=default_engine(),
        help="local: chunk after chunk in this process; dask: a Dask cluster (default dask when installed)",
    )
    group.add_argument(
        "--scheduler", metavar="ADDRESS", help="a running Dask scheduler, tcp://host:port (--engine dask)"
    )
    group.add_argument(
        "--workers", type=positive_int(1024), default=2, metavar="N", help="local Dask cluster: worker processes (2)"
    )
    group.add_argument("--memory-limit", metavar="SIZE", help="local Dask cluster: memory per worker, e.g. 2GB")
    group.add_argument("--backend", choices=BACKENDS, default="numpy", help="the generated kernel per chunk (numpy)")
    group.add_argument(
        "--timeout", type=_seconds, default=TIMEOUT, metavar="S", help=f"seconds to wait for a scheduler ({TIMEOUT:g})"
    )


def engine_from_args(args: argparse.Namespace, dataset):
    """The engine (a context manager) that the command line chose, over ``dataset``."""
    from derive.app.cluster import open_engine
    from derive.core.errors import InputError

    if args.engine == "local" and (args.scheduler or args.memory_limit):
        raise InputError("--scheduler and --memory-limit are for --engine dask")
    return open_engine(
        args.engine,
        dataset,
        scheduler=args.scheduler,
        workers=args.workers,
        memory_limit=args.memory_limit,
        backend=args.backend,
        progress=sys.stderr.isatty(),
        timeout=args.timeout,
    )


def dataset_from_args(args: argparse.Namespace):
    """The dataset of --data, opened and checked."""
    from derive.app.dataset import open_dataset

    return open_dataset(Path(args.data))


def start_from_args(args: argparse.Namespace, dataset):
    """(W, b, iterations so far) from --weights, or zeros."""
    from derive.app import weights

    if args.weights is None:
        return (*weights.zeros(dataset.features, dataset.classes), 0)
    return weights.load(args.weights, dataset.features, dataset.classes)
