"""``derive train``: gradient descent on the real iris data with the generated gradient."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from derive.app.cli import ARTEFACTS, TRAIN_TASKS, main
from derive.app.training import TASKS, load, train
from derive.core.models import SOFTMAX

SEED = SOFTMAX.example

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def species():
    return train("species")


def test_species_reaches_95_percent(species):
    assert species.test_accuracy >= 0.95
    assert species.train_accuracy >= 0.95
    assert species.sklearn_accuracy >= 0.9


def test_loss_decreases(species):
    losses = np.array(species.losses)
    assert losses[0] == pytest.approx(np.log(3), rel=1e-12)  # zeros: a = 1/3 for every class
    assert losses[-1] < 0.15 and (np.diff(losses) <= 1e-12).all()


def test_the_seed_sample_is_real_iris_data():
    """x = [1.9, 0.4] (petal length, width) is a Setosa flower in the seed's task."""
    data = load(TASKS["setosa"])
    X = np.vstack([data.X_train, data.X_test])
    y = np.concatenate([data.y_train, data.y_test])
    matches = np.all(X == SEED["x"], axis=1)
    assert matches.any() and (y[matches] == 0).all()


def test_setosa_starts_from_the_students_weights():
    result = train("setosa", epochs=200)
    assert result.test_accuracy == 1.0
    x = np.array(SEED["x"])
    assert np.argmax(x @ result.W + result.b) == 0  # Setosa


def test_cli_train(tmp_path, capsys):
    plot = tmp_path / "curve.png"
    assert main(["train", "--task", "species", "--epochs", "3000", "--lr", "0.1", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "accuracy: training 97.1%, test 100.0%" in out
    assert "scikit-learn LogisticRegression on the same split: test" in out
    assert f"loss curve: {plot}" in out
    assert plot.read_bytes().startswith(PNG)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "0"], "0 is out of range"),
        (["--lr", "-1"], "learning rate must be positive"),
        (["--task", "mnist"], "invalid choice: 'mnist'"),
    ],
)
def test_cli_train_bad_input(argv, message, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["train", *argv])
    assert exit.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_lists_the_tasks():
    assert set(TRAIN_TASKS) == set(TASKS)


@pytest.mark.parametrize("name", ["train_setosa.png", "train_species.png"])
def test_plots_in_output(name):
    assert (ROOT / "output" / name).read_bytes().startswith(PNG)


def test_logistic_training_on_the_seeds_task():
    from derive.app.training import train
    from derive.core.models import LOGISTIC

    result = train("setosa", model=LOGISTIC)
    assert result.W.shape == (2,)
    assert result.test_accuracy >= 0.95 and result.train_accuracy >= 0.95
    assert result.losses[-1] < result.losses[0]
    # the first step starts from the seed: w = W_.1 - W_.2, b = 0, the 2-class softmax's classifier
    softmax = train("setosa", epochs=1)
    assert result.losses[0] == pytest.approx(softmax.losses[0], rel=1e-12)


def test_train_refuses_a_regression_model(capsys):
    from derive.app import cli

    assert cli.main(["train", "--model", "linear", "--task", "setosa"]) == 2
    assert "derive train trains classifiers" in capsys.readouterr().err


# ---------------------------------------------------------------- without the [train] extra


@pytest.mark.parametrize(
    "hidden, named",
    [
        (("sklearn", "matplotlib"), "scikit-learn and matplotlib"),
        (("sklearn",), "scikit-learn"),
        (("matplotlib",), "matplotlib"),
    ],
)
def test_train_without_the_extra_is_one_line(hidden, named, tmp_path, monkeypatch, capsys):
    for module in hidden:
        monkeypatch.setitem(sys.modules, module, None)  # `import sklearn` raises ImportError
    monkeypatch.chdir(tmp_path)
    assert main(["train"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (
        captured.err
        == f"derive train: error: training needs {named} (not installed): pip install 'derive-gradients[train]' (or '.[train]' in a checkout)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_all_skips_the_loss_curves_without_the_extra_and_writes_the_rest(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["all", "-o", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    why = "training needs scikit-learn and matplotlib (not installed): pip install 'derive-gradients[train]' (or '.[train]' in a checkout)"
    tex = shutil.which("pdflatex") is not None  # without TeX the PDF is skipped too, on a line of its own
    lines = [line for line in captured.err.splitlines() if tex or not line.startswith("skipped derivation.pdf: ")]
    assert sorted(lines) == [f"skipped train_{name}.png: {why}" for name in ("mlp", "setosa", "species")]
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    skipped = {"train_mlp.png", "train_setosa.png", "train_species.png"} | (set() if tex else {"derivation.pdf"})
    assert written == set(ARTEFACTS) - skipped
    assert captured.out.split() == [str(tmp_path / name) for name in ARTEFACTS if name in written]
    for name in ("gradient.txt", "softmax_grad.py", "models/logistic.md"):
        assert (tmp_path / name).read_bytes() == (ROOT / "output" / name).read_bytes()
