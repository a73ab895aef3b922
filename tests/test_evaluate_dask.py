"""The pass over a dataset on Dask: equal to the in-memory gradient, through a killed worker, under memory limits,
on a scheduler and workers started separately, and its errors (an unreachable scheduler, bad data on a worker).

Clusters here are small (two workers of one thread) and closed by their fixtures; the separately
started scheduler and worker are ended by their pids.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("zarr", reason="zarr is not installed: pip install -e '.[dask]'")
pytest.importorskip("dask.array", reason="dask[array] is not installed: pip install -e '.[dask]'")
distributed = pytest.importorskip("distributed", reason="distributed is not installed: pip install -e '.[dask]'")

from derive.app import dataset
from derive.app.cli import main
from derive.app.cluster import start_local
from derive.app.code import load_module, module_source
from derive.app.engines import DaskEngine, LocalEngine
from derive.core.errors import InputError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    client, (cluster,) = start_local(2, "1GB")
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def reference():
    return load_module(module_source("float64"), "reference")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("dask")


def point(features, classes, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(features, classes)), rng.normal(size=classes)


def in_memory_pass(reference, path, W, b):
    import zarr

    group = zarr.open_group(str(path), mode="r")
    X, y = group["X"][:], group["y"][:]
    return reference.loss_and_grad(W, b, X, np.eye(W.shape[1])[y])


def worker_pids(client):
    return client.run(os.getpid)


@pytest.mark.parametrize("chunk_rows", [700, 3000, 4500], ids=["short last chunk", "one chunk", "one large chunk"])
def test_dask_pass_equals_in_memory(client, reference, folder, chunk_rows):
    path = dataset.synth(folder / f"s{chunk_rows}.zarr", 3000, 7, 5, seed=2, chunk_rows=chunk_rows)
    W, b = point(7, 5)
    engine = DaskEngine(dataset.open_dataset(path), client)
    H, dW, db = engine.loss_and_grad(W, b)
    H0, dW0, db0 = in_memory_pass(reference, path, W, b)
    assert H == pytest.approx(H0, rel=1e-12)
    np.testing.assert_allclose(dW, dW0, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(db, db0, rtol=1e-10, atol=1e-14)
    local = LocalEngine(dataset.open_dataset(path)).loss_and_grad(W, b)
    assert H == pytest.approx(local[0], rel=1e-13)
    assert engine.accuracy(W, b) == LocalEngine(dataset.open_dataset(path)).accuracy(W, b)


def test_bad_data_on_a_worker_is_the_same_one_line_error(client, folder):
    import zarr

    path = folder / "nan.zarr"
    group = zarr.open_group(str(path), mode="w")
    X = np.ones((600, 2))
    X[450, 1] = np.nan
    group.create_array("X", data=X, chunks=(200, 2))
    group.create_array("y", data=np.zeros(600, dtype=np.int64), chunks=(200,))
    group.attrs["classes"] = 2
    with pytest.raises(InputError, match=r"^X has a NaN or infinite value in row 450: "):
        DaskEngine(dataset.open_dataset(path), client).loss_and_grad(*point(2, 2))


def test_a_killed_worker_is_recovered_with_the_identical_result(client, folder):
    """One worker's process is killed (SIGKILL, by its pid) in the middle of a pass; Dask reruns its tasks.

    The chunks are slowed down (20 ms each, in this test's copy of the kernel) so that the kill
    lands while the pass runs; the result is the very same bits as an undisturbed pass's.
    """
    path = dataset.synth(folder / "kill.zarr", 40_000, 10, 4, seed=5, chunk_rows=400)
    engine = DaskEngine(dataset.open_dataset(path), client)
    W, b = point(10, 4, 1)
    undisturbed = engine.loss_and_grad(W, b)
    engine.source += SLOW
    total = engine.partial_sums(W, b).sum(axis=0, split_every=8)
    before = worker_pids(client)
    future = client.compute(total)
    victim = _busy_worker(client, before)
    assert not future.done()
    os.kill(victim, signal.SIGKILL)
    result = future.result(timeout=120)
    after = worker_pids(client)
    assert victim not in after.values() and len(after) == 2  # the nanny started a new process
    recovered = (result[0] / 40_000, result[1:41].reshape(10, 4) / 40_000, result[41:] / 40_000)
    assert recovered[0] == undisturbed[0]
    assert np.array_equal(recovered[1], undisturbed[1]) and np.array_equal(recovered[2], undisturbed[2])


#: appended to the kernel's source in the killed-worker test: each chunk takes at least 20 ms
SLOW = """
import time as _time
_fast = loss_and_grad


def loss_and_grad(*args, **kwargs):
    _time.sleep(0.02)
    return _fast(*args, **kwargs)
"""


def _busy_worker(client, pids):
    """The pid of a worker that is running a chunk, once a few chunks are done."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = client.run_on_scheduler(
            lambda dask_scheduler: sum(t.state == "memory" for t in dask_scheduler.tasks.values())
        )
        busy = [address for address, keys in client.processing().items() if keys]
        if done >= 6 and busy:
            return pids[busy[0]]
        time.sleep(0.005)
    raise AssertionError("the pass never got going")


def test_more_data_than_the_workers_memory(folder, reference):
    """640 MB of X over two workers of 250 MB each (a worker holds about 125 MB of imports before any data):
    the pass completes, and no worker is restarted for memory (their pids are the same after it)."""
    path = dataset.synth(folder / "big.zarr", 1_600_000, 100, 10, seed=9, chunk_rows=10_000)
    data = dataset.open_dataset(path)
    client, (cluster,) = start_local(2, "250MB")
    try:
        limits = sum(w["memory_limit"] for w in client.scheduler_info(n_workers=-1)["workers"].values())
        assert data.rows * data.features * 4 > limits == 500_000_000
        before = worker_pids(client)
        W, b = point(100, 10, 3)
        H, dW, _ = DaskEngine(data, client).loss_and_grad(W, b)
        assert worker_pids(client) == before
    finally:
        client.close()
        cluster.close()
    H0, dW0, _ = LocalEngine(data).loss_and_grad(W, b)
    assert H == pytest.approx(H0, rel=1e-12)
    np.testing.assert_allclose(dW, dW0, rtol=1e-10, atol=1e-13)


# ------------------------------------------------------------------------ a scheduler started separately


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _derive(*args, timeout=180):
    return subprocess.run(
        [sys.executable, "-m", "derive", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _dask(*args):
    return subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_" + args[0], *args[1:]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _end(process):
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def test_a_separately_started_scheduler_and_worker(folder, reference):
    path = dataset.synth(folder / "remote.zarr", 5000, 6, 3, seed=4, chunk_rows=1200)
    address = f"tcp://127.0.0.1:{_free_port()}"
    scheduler = _dask("scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard")
    worker = None
    try:
        args = ["evaluate", "--data", str(path), "--engine", "dask", "--scheduler", address, "--format", "json"]
        lonely = _derive(*args, "--timeout", "3")
        assert lonely.returncode == 2, lonely.stderr
        assert f"the Dask scheduler at {address} has no workers" in lonely.stderr
        worker = _dask(
            "worker", address, "--nworkers", "1", "--nthreads", "1", "--memory-limit", "1GB", "--no-dashboard"
        )
        done = _derive(*args, "--timeout", "60")
        assert done.returncode == 0, done.stderr
        record = json.loads(done.stdout)
        H0, dW0, db0 = in_memory_pass(reference, path, np.zeros((6, 3)), np.zeros(3))
        assert record["engine"] == "dask" and record["loss"] == pytest.approx(H0, rel=1e-12)
        np.testing.assert_allclose(record["grad_W"], dW0, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(record["grad_b"], db0, rtol=1e-10, atol=1e-14)
    finally:
        for process in (worker, scheduler):
            if process is not None:
                _end(process)


def test_an_unreachable_scheduler_is_one_line(folder, capsys):
    path = dataset.synth(folder / "u.zarr", 100, 2, 2)
    address = f"tcp://127.0.0.1:{_free_port()}"
    args = ["evaluate", "--data", str(path), "--engine", "dask", "--scheduler", address, "--timeout", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"derive evaluate: error: cannot reach the Dask scheduler at {address}: ")
    assert err.count("\n") == 1
    assert main([*args[:-4], "--scheduler", "127.0.0.1:8786"]) == 2
    assert "give an address such as tcp://" in capsys.readouterr().err
    assert main([*args[:-4], "--memory-limit", "lots"]) == 2
    assert "--memory-limit 'lots' is not a size" in capsys.readouterr().err


def test_train_on_a_local_cluster_reaches_the_known_accuracy(folder, capsys):
    path = dataset.synth(folder / "train.zarr", 8000, 4, 3, seed=11, chunk_rows=2000)
    out = folder / "w.npz"
    args = ["train", "--data", str(path), "--engine", "dask", "--workers", "2", "--memory-limit", "500MB"]
    assert main([*args, "--epochs", "50", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "engine:  dask (2 workers at tcp://127.0.0.1:" in text
    line = next(line for line in text.splitlines() if line.startswith("accuracy "))
    accuracy, known = (float(v) for v in re.findall(r"([0-9.]+)%", line))
    assert abs(accuracy - known) < 1.5, text
    with np.load(out) as saved:
        local = LocalEngine(dataset.open_dataset(path)).loss_and_grad(saved["W"], saved["b"])[0]
        assert float(saved["loss"]) == pytest.approx(local, rel=1e-10)
