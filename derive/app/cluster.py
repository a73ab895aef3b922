"""Choosing the engine of a pass over a dataset: in-process, a local Dask cluster, or a running Dask scheduler.

:func:`open_engine` is the one entry: ``local`` is :class:`~derive.app.engines.LocalEngine`;
``dask`` connects to ``scheduler`` (``tcp://host:port``, a scheduler started by ``dask
scheduler`` with workers from ``dask worker``, or by dask-jobqueue or the Dask Kubernetes
operator) or else starts a ``LocalCluster`` of ``workers`` processes with one thread each and
``memory_limit`` each.  Dask's own machinery does the rest: workers near their limit spill to
disk and pause rather than die, and tasks of a lost worker are run again elsewhere.

Whatever goes wrong on the way (Dask not installed, a limit that is no size, a scheduler that
does not answer or has no workers) is an :class:`~derive.core.errors.InputError` of one line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from derive.app.dataset import Dataset, require
from derive.app.engines import DaskEngine, LocalEngine
from derive.core.errors import InputError

#: the engines, in the order --engine lists them
ENGINES = ("local", "dask")

#: seconds to wait for a scheduler to answer, and for its first worker
TIMEOUT = 10.0


@contextmanager
def open_engine(
    kind: str,
    dataset: Dataset,
    scheduler: str | None = None,
    workers: int = 2,
    memory_limit: str | None = None,
    backend: str = "numpy",
    progress: bool = False,
    timeout: float = TIMEOUT,
) -> Iterator[LocalEngine | DaskEngine]:
    """The engine of ``kind`` over ``dataset``, closed (and its local cluster stopped) on leaving."""
    _require_backend(backend)
    if kind == "local":
        engine = LocalEngine(dataset, backend, progress)
    else:
        require("dask", "distributed")
        client, owned = connect(scheduler, timeout) if scheduler else start_local(workers, memory_limit)
        engine = DaskEngine(dataset, client, backend, progress, owned)
    try:
        yield engine
    finally:
        engine.close()


def _require_backend(backend: str) -> None:
    import importlib.util

    if backend == "numba" and importlib.util.find_spec("numba") is None:
        raise InputError("--backend numba needs numba (not installed): pip install 'derive-gradients[numba]'")


def memory_bytes(text: str) -> int:
    """A memory size as Dask reads it ("2GB", "512 MiB"); InputError when it is none."""
    from dask.utils import parse_bytes

    try:
        value = parse_bytes(text)
    except (ValueError, TypeError):
        raise InputError(f"--memory-limit {text[:40]!r} is not a size such as 2GB or 512MiB") from None
    if value < 2**26:
        raise InputError(f"--memory-limit {text}: a worker needs at least 64 MiB")
    return value


def start_local(workers: int, memory_limit: str | None):
    """(a client, (the LocalCluster,)) of ``workers`` processes, one thread each, ``memory_limit`` each."""
    from distributed import Client, LocalCluster

    limit = memory_bytes(memory_limit) if memory_limit else "auto"
    try:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=limit,
            dashboard_address=":0",  # a free port: two clusters (or a user's own) never clash on 8787
            silence_logs=logging.ERROR,
        )
    except (RuntimeError, OSError) as err:
        raise InputError(f"cannot start a local Dask cluster of {workers} workers: {err}") from None
    return Client(cluster), (cluster,)


def connect(address: str, timeout: float = TIMEOUT):
    """(a client of the scheduler at ``address`` that has at least one worker, ()); InputError otherwise."""
    from distributed import Client

    if "://" not in address:
        raise InputError(f"--scheduler {address[:60]!r}: give an address such as tcp://10.0.0.5:8786")
    try:
        client = Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError, ValueError) as err:
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise InputError(f"cannot reach the Dask scheduler at {address}: {reason}") from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError):
        client.close()
        raise InputError(f"the Dask scheduler at {address} has no workers (waited {timeout:g} s)") from None
    return client, ()
