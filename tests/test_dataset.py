"""Datasets on disk and the in-process chunked pass: derive data, derive evaluate --engine local, train --data.

The chunked loss and gradient are compared with the generated module on the whole set in memory
and with central finite differences of the loss; every bad input is one line and exit 2.  Dask
itself is in tests/test_evaluate_dask.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

zarr = pytest.importorskip("zarr", reason="zarr is not installed: pip install -e '.[dask]'")

from derive.app import dataset, weights
from derive.app.cli import main
from derive.app.cluster import open_engine
from derive.app.code import load_module, module_source
from derive.app.engines import LocalEngine
from derive.core.errors import InputError

ROWS, FEATURES, CLASSES = 2500, 6, 4


@pytest.fixture(scope="module")
def reference():
    """The generated NumPy module, as derive code writes it, for the whole set in memory."""
    return load_module(module_source("float64"), "reference")


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory):
    return dataset.synth(tmp_path_factory.mktemp("data") / "s.zarr", ROWS, FEATURES, CLASSES, seed=3, chunk_rows=1000)


def in_memory(path):
    group = zarr.open_group(str(path), mode="r")
    return group["X"][:], group["y"][:]


def point(seed=0, features=FEATURES, classes=CLASSES):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(features, classes)), rng.normal(size=classes)


def one_hot(y, classes=CLASSES):
    return np.eye(classes)[y]


# ------------------------------------------------------------------------ writing and opening


def test_synth_writes_the_layout(synth_set):
    group = zarr.open_group(str(synth_set), mode="r")
    assert group["X"].shape == (ROWS, FEATURES) and group["X"].dtype == np.float32
    assert group["X"].chunks == (1000, FEATURES) and group["y"].chunks == (1000,)
    assert group["y"].dtype == np.int64 and group.attrs["classes"] == CLASSES
    opened = dataset.open_dataset(synth_set)
    assert (opened.rows, opened.features, opened.classes, opened.chunk_rows) == (ROWS, FEATURES, CLASSES, 1000)
    assert list(opened.spans()) == [(0, 1000), (1000, 2000), (2000, 2500)]
    W, b = dataset.generating_model(FEATURES, CLASSES, 3)
    assert np.array_equal(opened.generator[0], W) and np.array_equal(opened.generator[1], b)


def test_synth_is_the_same_for_the_same_seed_whatever_the_chunks(tmp_path, synth_set):
    X, y = in_memory(synth_set)
    again = dataset.synth(tmp_path / "again.zarr", ROWS, FEATURES, CLASSES, seed=3, chunk_rows=1000)
    assert all(np.array_equal(a, b) for a, b in zip(in_memory(again), (X, y)))
    other = dataset.synth(tmp_path / "other.zarr", ROWS, FEATURES, CLASSES, seed=4, chunk_rows=1000)
    assert not np.array_equal(in_memory(other)[0], X)


def test_synth_labels_follow_the_generating_softmax(tmp_path):
    """Each class's share of the labels is the mean of its softmax probability, within 4 standard errors."""
    path = dataset.synth(tmp_path / "big.zarr", 40_000, 3, 3, seed=1)
    X, y = in_memory(path)
    W, b = dataset.generating_model(3, 3, 1)
    Z = X.astype(np.float64) @ W + b
    A = np.exp(Z - Z.max(axis=1, keepdims=True))
    A /= A.sum(axis=1, keepdims=True)
    share, expected = np.bincount(y, minlength=3) / len(y), A.mean(axis=0)
    assert np.all(np.abs(share - expected) < 4 * np.sqrt(expected * (1 - expected) / len(y)))


def test_iris_is_scikit_learns(tmp_path):
    sklearn = pytest.importorskip("sklearn.datasets", reason="scikit-learn is not installed")
    X, y = in_memory(dataset.iris(tmp_path / "iris.zarr"))
    iris = sklearn.load_iris()
    assert np.array_equal(X, iris.data) and np.array_equal(y, iris.target)
    assert dataset.open_dataset(tmp_path / "iris.zarr").classes == 3


def test_from_npy_round_trip(tmp_path, capsys):
    X = np.random.default_rng(0).normal(size=(700, 3)).astype(np.float32)
    y = np.arange(700) % 5
    np.save(tmp_path / "X.npy", X), np.save(tmp_path / "y.npy", y.astype(np.int32))
    out = tmp_path / "user.zarr"
    args = ["data", "from-npy", str(tmp_path / "X.npy"), str(tmp_path / "y.npy"), "-o", str(out), "--chunk-rows", "300"]
    assert main(args) == 0
    assert "700 rows, 3 features, 5 classes, float32, chunks of 300 rows" in capsys.readouterr().out
    X2, y2 = in_memory(out)
    assert np.array_equal(X2, X) and np.array_equal(y2, y) and y2.dtype == np.int64


def test_cli_synth_and_iris(tmp_path, capsys):
    out = tmp_path / "c.zarr"
    assert main(["data", "synth", "--rows", "1000", "--features", "4", "--classes", "3", "-o", str(out)]) == 0
    assert "1,000 rows, 4 features, 3 classes, float32, chunks of 1,000 rows" in capsys.readouterr().out
    assert (
        main(
            ["data", "synth", "--rows", "10", "--features", "2", "--classes", "2", "--dtype", "float64", "-o", str(out)]
        )
        == 0
    )
    assert dataset.open_dataset(out).dtype == "float64"  # written over the old one


def test_a_failed_write_leaves_the_old_dataset(tmp_path, capsys):
    out = dataset.synth(tmp_path / "keep.zarr", 100, 2, 2)
    before = in_memory(out)
    X = np.ones((5, 2))
    X[3, 1] = np.nan
    np.save(tmp_path / "X.npy", X), np.save(tmp_path / "y.npy", np.zeros(5, dtype=int))
    assert main(["data", "from-npy", str(tmp_path / "X.npy"), str(tmp_path / "y.npy"), "-o", str(out)]) == 2
    assert "row 3" in capsys.readouterr().err
    assert all(np.array_equal(a, b) for a, b in zip(in_memory(out), before))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.npy", "keep.zarr", "y.npy"]  # no temporary left


# ------------------------------------------------------------------------ the chunked pass = in memory


@pytest.mark.parametrize("chunk_rows", [1000, 999, 7, 2500, 4000], ids=lambda r: f"chunks of {r}")
def test_chunked_pass_equals_in_memory(tmp_path, reference, synth_set, chunk_rows):
    """Several chunks with a short last one, many small ones, one chunk, one chunk larger than the set."""
    X, y = in_memory(synth_set)
    path = dataset.from_arrays(tmp_path / "c.zarr", X, y, chunk_rows)
    W, b = point(1)
    H, dW, db = LocalEngine(dataset.open_dataset(path)).loss_and_grad(W, b)
    H0, dW0, db0 = reference.loss_and_grad(W, b, X, one_hot(y))
    assert H == pytest.approx(H0, rel=1e-12)
    np.testing.assert_allclose(dW, dW0, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(db, db0, rtol=1e-10, atol=1e-14)


def test_chunked_gradient_is_the_finite_difference_of_the_chunked_loss(synth_set):
    engine = LocalEngine(dataset.open_dataset(synth_set))
    W, b = point(2)
    _, dW, db = engine.loss_and_grad(W, b)
    h = 1e-6
    for i, j in [(0, 0), (3, 2), (5, 3)]:
        E = np.zeros_like(W)
        E[i, j] = h
        numeric = (engine.loss_and_grad(W + E, b)[0] - engine.loss_and_grad(W - E, b)[0]) / (2 * h)
        assert dW[i, j] == pytest.approx(numeric, rel=1e-6, abs=1e-9)
    e = np.eye(CLASSES)[1] * h
    assert db[1] == pytest.approx((engine.loss_and_grad(W, b + e)[0] - engine.loss_and_grad(W, b - e)[0]) / (2 * h))


def test_accuracy_counts_every_chunk(synth_set):
    X, y = in_memory(synth_set)
    W, b = point(3)
    expected = np.mean(np.argmax(X.astype(np.float64) @ W + b, axis=1) == y)
    assert LocalEngine(dataset.open_dataset(synth_set)).accuracy(W, b) == expected


def test_numba_kernel_gives_the_same_pass(synth_set, reference):
    pytest.importorskip("numba", reason="numba is not installed")
    W, b = point(4)
    with open_engine("local", dataset.open_dataset(synth_set), backend="numba") as engine:
        H, dW, _ = engine.loss_and_grad(W, b)
    X, y = in_memory(synth_set)
    H0, dW0, _ = reference.loss_and_grad(W, b, X, one_hot(y))
    assert H == pytest.approx(H0, rel=1e-10)
    np.testing.assert_allclose(dW, dW0, rtol=1e-8, atol=1e-12)


def test_cli_evaluate_json_has_the_example_keys(tmp_path, synth_set, reference, capsys):
    W, b = point(5)
    weights.save(tmp_path / "w.npz", W, b, 0, 0.0)
    args = ["evaluate", "--data", str(synth_set), "--engine", "local", "--weights", str(tmp_path / "w.npz")]
    assert main([*args, "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert {"loss", "grad_W", "grad_b"} <= set(record) and record["rows"] == ROWS
    main(["example", "--format", "json"])
    assert {"loss", "grad_W", "grad_b"} <= set(json.loads(capsys.readouterr().out))
    X, y = in_memory(synth_set)
    H0, dW0, _ = reference.loss_and_grad(W, b, X, one_hot(y))
    assert record["loss"] == pytest.approx(H0, rel=1e-12)
    np.testing.assert_allclose(record["grad_W"], dW0, rtol=1e-10, atol=1e-14)
    assert main(args) == 0
    assert f"loss:     H = {H0:.9g} (mean over 2,500 rows)" in capsys.readouterr().out


def test_zero_weights_give_log_K(synth_set, capsys):
    assert main(["evaluate", "--data", str(synth_set), "--engine", "local", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["loss"] == pytest.approx(np.log(CLASSES), rel=1e-12)


# ------------------------------------------------------------------------ bad inputs: one line, exit 2


def _group(path, X, y, **attrs):
    group = zarr.open_group(str(path), mode="w")
    group.create_array("X", data=X)
    if y is not None:
        group.create_array("y", data=y)
    group.attrs.update(attrs)
    return path


def bad_sets(tmp_path):
    """(name, path, the words the error must contain) for each kind of bad dataset."""
    ok_X, ok_y = np.ones((10, 2)), np.zeros(10, dtype=np.int64)
    nan_X = ok_X.copy()
    nan_X[7, 0] = np.nan
    (tmp_path / "file.zarr").write_text("not a group")
    (tmp_path / "empty.zarr").mkdir()
    (tmp_path / "garbled.zarr").mkdir()
    (tmp_path / "garbled.zarr" / "zarr.json").write_text("{garbage")
    return [
        ("missing", tmp_path / "nowhere.zarr", "no such dataset"),
        ("a file", tmp_path / "file.zarr", "is not a Zarr group"),
        ("an empty folder", tmp_path / "empty.zarr", "is not a Zarr group"),
        ("garbled metadata", tmp_path / "garbled.zarr", "is not a Zarr group"),
        ("no y", _group(tmp_path / "noy.zarr", ok_X, None), "has no array 'y'"),
        ("X 1-D", _group(tmp_path / "x1.zarr", ok_y.astype(float), ok_y), "X must be a 2-D array of floats"),
        ("y floats", _group(tmp_path / "yf.zarr", ok_X, ok_y.astype(float)), "y must be a 1-D array of integer"),
        ("N mismatch", _group(tmp_path / "n.zarr", ok_X, ok_y[:9]), "X has 10 rows but y has 9"),
        (
            "label too large",
            _group(tmp_path / "l.zarr", ok_X, ok_y + np.eye(10, dtype=int)[4] * 5, classes=3),
            "label 5 in row 4 is out of range 0..2",
        ),
        (
            "negative label",
            _group(tmp_path / "neg.zarr", ok_X, ok_y - np.eye(10, dtype=int)[2], classes=3),
            "label -1 in row 2",
        ),
        ("NaN in X", _group(tmp_path / "nan.zarr", nan_X, ok_y, classes=2), "NaN or infinite value in row 7"),
        (
            "classes not a number",
            _group(tmp_path / "k.zarr", ok_X, ok_y, classes="three"),
            "'classes' must be a whole number",
        ),
    ]


def test_bad_datasets_are_one_line_and_exit_2(tmp_path, capsys):
    for name, path, words in bad_sets(tmp_path):
        assert main(["evaluate", "--data", str(path), "--engine", "local"]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("derive evaluate: error: ") and err.count("\n") == 1, (name, err)
        assert words in err, (name, err)


def test_bad_weights_are_one_line_and_exit_2(tmp_path, synth_set, capsys):
    np.savez(tmp_path / "shape.npz", W=np.zeros((2, 2)), b=np.zeros(CLASSES))
    np.savez(tmp_path / "nob.npz", W=np.zeros((FEATURES, CLASSES)))
    np.savez(tmp_path / "inf.npz", W=np.full((FEATURES, CLASSES), np.inf), b=np.zeros(CLASSES))
    (tmp_path / "text.npz").write_text("hello")
    cases = {
        "none.npz": "no such weights file",
        "shape.npz": "W is float64 (2, 2), the dataset needs numbers of shape (6, 4)",
        "nob.npz": "no array 'b' (it has W)",
        "inf.npz": "W has a NaN or infinite value",
        "text.npz": "not an .npz of arrays W and b",
    }
    for name, words in cases.items():
        args = ["evaluate", "--data", str(synth_set), "--engine", "local", "--weights", str(tmp_path / name)]
        assert main(args) == 2, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, (name, err)


def test_bad_npy_inputs(tmp_path, capsys):
    np.save(tmp_path / "X.npy", np.ones((4, 2)))
    np.save(tmp_path / "X3.npy", np.ones((4, 2, 1)))
    np.save(tmp_path / "y.npy", np.array([0, 1, 1, 0]))
    np.save(tmp_path / "y5.npy", np.array([0, 1, 1, 0, 1]))
    np.save(tmp_path / "yf.npy", np.array([0.0, 1, 1, 0]))
    np.save(tmp_path / "yneg.npy", np.array([0, -1, 1, 0]))
    (tmp_path / "junk.npy").write_text("junk")
    cases = [
        ("X.npy", "none.npy", "none.npy: no such file"),
        ("junk.npy", "y.npy", "junk.npy: not a NumPy .npy file"),
        ("X3.npy", "y.npy", "X must be 2-D float32 or float64, not 3-D"),
        ("X.npy", "y5.npy", "X has 4 rows and 2 columns, y 5 labels"),
        ("X.npy", "yf.npy", "y must be 1-D integer class indices"),
        ("X.npy", "yneg.npy", "label -1 is negative"),
    ]
    for X, y, words in cases:
        assert main(["data", "from-npy", str(tmp_path / X), str(tmp_path / y), "-o", str(tmp_path / "o.zarr")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, (X, y, err)
    assert not (tmp_path / "o.zarr").exists()


def test_a_real_process_prints_no_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "derive", "evaluate", "--data", str(tmp_path / "nowhere.zarr"), "--engine", "local"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (
        done.stderr.strip()
        == f"derive evaluate: error: {tmp_path / 'nowhere.zarr'}: no such dataset (write one with derive data)"
    )


def test_engine_options_that_do_not_fit(synth_set, capsys):
    args = ["evaluate", "--data", str(synth_set), "--engine", "local", "--scheduler", "tcp://127.0.0.1:1"]
    assert main(args) == 2
    assert "--scheduler and --memory-limit are for --engine dask" in capsys.readouterr().err


def test_without_dask_the_engine_is_local_and_dask_is_refused(monkeypatch, synth_set):
    import importlib.util

    from derive.app.cli import engine

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in ("dask", "distributed") else real(name, *a)
    )
    assert engine.default_engine() == "local"
    opened = dataset.open_dataset(synth_set)
    missing = r"needs dask\[array\] and distributed \(not installed\): pip install"
    with pytest.raises(InputError, match=missing), open_engine("dask", opened):
        pass


# ------------------------------------------------------------------------ training over the set


@pytest.fixture(scope="module")
def training_set(tmp_path_factory):
    return dataset.synth(tmp_path_factory.mktemp("train") / "t.zarr", 6000, 5, 3, seed=7, chunk_rows=1500)


def test_lbfgs_reaches_the_generating_models_accuracy(tmp_path, training_set, capsys):
    out = tmp_path / "w.npz"
    assert main(["train", "--data", str(training_set), "--engine", "local", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    accuracy, known = (float(v) for v in _accuracies(text))
    assert known > 60 and abs(accuracy - known) < 1.5, text
    losses = [float(line.split()[-1]) for line in text.splitlines() if line.startswith("iteration ")]
    assert losses[-1] < np.log(3) - 0.3 and np.all(np.diff(losses) <= 1e-12) and "CONVERGENCE" in text
    W, _, iterations = weights.load(out, 5, 3)
    assert iterations == len(losses)
    W0, _ = dataset.generating_model(5, 3, 7)
    centred = (
        W - W.mean(axis=1, keepdims=True),
        W0 - W0.mean(axis=1, keepdims=True),
    )  # softmax ignores a shift per row
    np.testing.assert_allclose(*centred, atol=0.25)


def _accuracies(text):
    line = next(line for line in text.splitlines() if line.startswith("accuracy "))
    return re.findall(r"([0-9.]+)%", line)


def test_gradient_descent_lowers_the_loss_and_resumes(tmp_path, training_set, capsys):
    out = tmp_path / "gd.npz"
    base = ["train", "--data", str(training_set), "--engine", "local", "--method", "gd", "--lr", "0.5", "-o", str(out)]
    assert main([*base, "--epochs", "4"]) == 0
    first = capsys.readouterr().out
    assert "iteration 1: loss 1.09861229" in first  # zeros: log 3
    assert main([*base, "--epochs", "3", "--weights", str(out)]) == 0
    second = capsys.readouterr().out
    assert "iteration 5: loss" in second and "after 7 iterations" in second
    assert main([*base, "--epochs", "7", "-o", str(tmp_path / "straight.npz")]) == 0
    capsys.readouterr()
    resumed, straight = weights.load(out, 5, 3), weights.load(tmp_path / "straight.npz", 5, 3)
    np.testing.assert_allclose(resumed[0], straight[0], rtol=1e-12)


def test_a_failed_run_leaves_the_saved_weights(tmp_path, training_set, capsys, monkeypatch):
    out = tmp_path / "w.npz"
    weights.save(out, *point(0, 5, 3), 12, 0.5)
    before = out.read_bytes()
    passes = LocalEngine.loss_and_grad

    def third_pass_fails(self, W, b):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 3:
            raise InputError("the disk went away")
        return passes(self, W, b)

    with monkeypatch.context() as patch:
        patch.setattr(LocalEngine, "loss_and_grad", third_pass_fails)
        base = ["train", "--data", str(training_set), "--engine", "local", "--weights", str(out), "-o", str(out)]
        assert main([*base, "--method", "gd", "--epochs", "5"]) == 2
    assert "iteration 14: loss" in capsys.readouterr().out  # counting on from the saved 12
    bad = _group(tmp_path / "nan.zarr", np.full((10, 5), np.nan), np.zeros(10, dtype=np.int64), classes=3)
    assert main(["train", "--data", str(bad), "--engine", "local", "--weights", str(out), "-o", str(out)]) == 2
    assert "NaN" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_train_data_refuses_the_iris_models_options(training_set, capsys):
    assert main(["train", "--data", str(training_set), "--engine", "local", "--model", "logistic"]) == 2
    assert "plain softmax regression" in capsys.readouterr().err
