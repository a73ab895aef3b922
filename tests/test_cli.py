"""The command line: output, JSON, errors (one line, exit 2), atomic writes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from derive.app import cli

ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "derive", *args], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_gradient_prints_the_closed_forms(capsys):
    assert cli.main(["gradient"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["dH/dW_ij = -(P_j - a_j)*x_i", "dH/db_j = -(P_j - a_j)"]
    assert "Sum(P_k, (k, 1, K)) = 1" in lines[2]


def test_gradient_exact(capsys):
    assert cli.main(["gradient", "--exact"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "dH/dW_ij = -(P_j - a_j*Sum(P_k, (k, 1, K)))*x_i"


def test_gradient_steps(capsys):
    assert cli.main(["gradient", "--steps"]) == 0
    out = capsys.readouterr().out
    assert "[labels_sum_to_one] dH/dW_ij = -P_j*x_i + a_j*x_i" in out
    assert "[name_a] da_k/dz_j = a_k*delta_jk - a_j*a_k" in out


def test_gradient_elementwise(capsys):
    assert cli.main(["gradient", "--classes", "3", "--features", "4"]) == 0
    assert "proved 15 entries (K = 3, d = 4" in capsys.readouterr().out


def test_example_text():
    result = run("example", "--lr", "0.1")
    assert result.returncode == 0, result.stderr
    for number in ("+0.284958", "+0.715042", "1.255414", "-1.358580", "+1.358580", "-0.286017", "+0.235858"):
        assert number in result.stdout
    assert "accepted answer: -P_j*(1 - a_j)*x_i" in result.stdout
    assert "wrong at W_12: gives +0.000000, truth +1.358580" in result.stdout


def test_example_json(capsys):
    assert cli.main(["example", "--format", "json", "--lr", "0.5"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["grad_W"][0][1] == pytest.approx(1.358580, abs=1e-6)
    assert data["W_next"][0][1] == pytest.approx(0.5 - 0.5 * 1.358580, abs=1e-6)
    assert data["b_next"] == pytest.approx([0.357521, -0.357521], abs=1e-6)


def test_example_with_own_numbers(capsys):
    args = ["example", "--format", "json", "--x", "1 2 3", "--W", "0 0; 0 0; 0 0", "--b", "0 0", "--label", "2"]
    assert cli.main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["a"] == pytest.approx([0.5, 0.5])
    np.testing.assert_allclose(data["grad_W"], [[0.5, -0.5], [1.0, -1.0], [1.5, -1.5]])


def test_soft_labels(capsys):
    assert cli.main(["example", "--format", "json", "--P", "0.9 0.1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["grad_b"] == pytest.approx([0.284958 - 0.9, 0.715042 - 0.1], abs=1e-6)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--x", "1 2 3"], "--x has 3 values but --W has 2 rows"),
        (["--x", "1 abc"], "'abc' is not a number"),
        (["--x", "1 nan"], "'nan' is not a finite number"),
        (["--x", "1 1e400"], "is not a finite number"),
        (["--W", "1 2; 3"], "rows have different lengths"),
        (["--b", "1 2 3"], "--b has 3 values but --W has 2 columns"),
        (["--label", "3"], "--label 3 is out of range 1..2"),
        (["--label", "0"], "--label 0 is out of range 1..2"),
        (["--label", "1", "--P", "1 0"], "either --label or --P"),
        (["--P", "1"], "--P has 1 values but there are 2 classes"),
        (["--P", "-1 2"], "must not be negative"),
        (["--x", ""], "--x: no numbers given"),
        (["--W", " ".join(["1"] * 60), "--x", " 1"], "at most 50 classes"),
        (["--W", "1 2 3; 4 5 6", "--x", "1 2"], "give --label or --P for 3 classes"),
    ],
)
def test_example_errors(args, message, capsys):
    assert cli.main(["example", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["example", "--lr", "-1"], "the learning rate must be positive"),
        (["example", "--lr", "x"], "'x' is not a number"),
        (["gradient", "--classes", "0", "--features", "2"], "0 is out of range"),
        (["gradient", "--classes", "2"], "give both --classes and --features"),
        (["gradient", "--classes", "1000", "--features", "100000"], "is more than the limit"),
        (["example", "--format", "yaml"], "invalid choice"),
        (["nonsense"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2_without_traceback(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_python_m_and_help():
    result = run("--help")
    assert result.returncode == 0 and "example" in result.stdout and "gradient" in result.stdout


def test_all_writes_every_artefact(tmp_path, capsys):
    assert cli.main(["all", "-o", str(tmp_path / "out")]) == 0
    written = capsys.readouterr().out.split()
    assert {Path(p).name for p in written} >= {"gradient.txt", "example.txt", "example.json"}
    assert all(Path(p).exists() for p in written)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_directory_non_root(tmp_path, capsys):  # pragma: no cover - CI runs as root
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o500)
    assert cli.main(["all", "-o", str(target)]) == 2


def test_unwritable_target_is_one_line_and_keeps_files(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("precious")
    assert cli.main(["all", "-o", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write to" in err
    assert blocker.read_text() == "precious"


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "gradient.txt"
    target.write_text("old")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(cli.os, "replace", boom)
    with pytest.raises(OSError):
        cli.write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["gradient.txt"]
