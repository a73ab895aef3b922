"""The command line: output, JSON, errors (one line, exit 2), atomic writes, its structure and defaults."""

import functools
import importlib.metadata
import json
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import derive
from derive.app import cli, files
from derive.app.cli import all as all_command
from derive.app.cli.main import COMMAND_MODULES, as_typed
from derive.app.cli.options import ModelOptions
from derive.app.cli.registry import COMMANDS
from derive.core.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "output"


def run(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "derive", *args], check=False, cwd=cwd, capture_output=True, text=True, timeout=120
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
        (["gradient", "--classes", "1000", "--features", "100000"], "is too large for the element-wise proof"),
        (["gradient", "--classes", "3"], "give both --classes and --features"),
        (["all", "-o", ""], "an empty path"),
        (["train", "--plot", "curve.txt"], "the file name must end in .png, .pdf, .svg"),
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
    assert result.returncode == 0 and result.stdout.startswith("usage: derive [-h] [--version] COMMAND ...")


def test_a_closed_pipe_is_a_quiet_exit():
    """derive gradient --steps | head: the reader leaves early; no traceback, exit 0."""
    command = [sys.executable, "-m", "derive", "gradient", "--steps"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait(timeout=120) == 0 and err == b""


def test_version_is_the_packages():
    result = run("--version")
    assert result.returncode == 0 and result.stdout == f"derive {derive.__version__}\n"
    assert derive.__version__ == importlib.metadata.version("derive-gradients")  # one source: the package's


# ---------------------------------------------------------------- formulas as typed


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["check", "-P_j*x_i"], ["check", " -P_j*x_i"]),
        (["check", "--format=json", "-P_j", "-h"], ["check", "--format=json", " -P_j", "-h"]),
        (["check", "--classes", "-1", "x_i"], ["check", "--classes", " -1", "x_i"]),
        (["check", "--", "-P_j*x_i"], ["check", "--", "-P_j*x_i"]),
        (["gradient", "--expr", "-y*log(w)", "--wrt", "w", "-K", "2"], ["gradient", "--expr", " -y*log(w)", "--wrt", "w", "-K", "2"]),
        (["example", "--lr", "-1"], ["example", "--lr", "-1"]),  # takes no formulas: unchanged
        (["--version"], ["--version"]),
        ([], []),
    ],
)  # fmt: skip
def test_formulas_are_kept_as_typed(argv, expected):
    assert as_typed(argv) == expected


def test_a_claim_with_a_leading_minus_is_judged(capsys):
    assert cli.main(["check", "-P_j*(1-a_j)*x_i", "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["verdict"] == "incorrect"
    assert cli.main(["check", "--", "-(P_j - a_j)*x_i"]) == 0
    assert "CORRECT (exit 0)" in capsys.readouterr().out


# ---------------------------------------------------------------- the commands' modules and defaults


def test_every_module_of_the_cli_is_infrastructure_or_a_command():
    modules = {info.name for info in pkgutil.iter_modules(cli.__path__)}
    assert modules == {"main", "registry", "options", "engine", "train_data", *COMMAND_MODULES}
    homes = {command.run.__module__.removeprefix("derive.app.cli.") for command in COMMANDS.values()}
    assert homes == set(COMMAND_MODULES)


def test_help_lists_the_commands_in_the_modules_order(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    listed = re.findall(r"^    (\w+) ", capsys.readouterr().out, flags=re.MULTILINE)
    assert listed == [
        *("example", "gradient", "hessian", "models", "check", "all", "latex", "markdown", "shell", "code", "train"),
        *("data", "evaluate"),
    ]


@pytest.mark.parametrize(
    "command, default",
    [
        ("all", "directory (default ./output, in the current folder)"),
        ("code", "directory (default: the current one)"),
        ("latex", "directory (default: the current one)"),
        ("markdown", "directory (default: the current one)"),
        ("train", "the loss curve, .png, .pdf or .svg (default ./train_<task>.png, in the current folder)"),
    ],
)
def test_help_says_where_commands_write(command, default, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # one line per option
    with pytest.raises(SystemExit) as exit:
        cli.main([command, "--help"])
    assert exit.value.code == 0 and default in capsys.readouterr().out


def test_all_writes_into_output_under_the_current_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(all_command, "ARTEFACTS", {"gradient.txt": cli.ARTEFACTS["gradient.txt"]})
    assert cli.main(["all"]) == 0
    assert capsys.readouterr().out == "output/gradient.txt\n"
    assert (tmp_path / "output" / "gradient.txt").read_bytes() == (OUTPUT / "gradient.txt").read_bytes()


# ---------------------------------------------------------------- the artefacts of derive all


def test_artefacts_are_the_files_of_output():
    assert set(cli.ARTEFACTS) == {p.relative_to(OUTPUT).as_posix() for p in OUTPUT.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", sorted(cli.ARTEFACTS))
def test_artefacts_are_functions_of_explicit_arguments(name):
    """Each artefact is a partial of a command module's function with plain values, never a parsed command line."""
    make = cli.ARTEFACTS[name]
    assert isinstance(make, functools.partial) and make.func.__module__.startswith("derive.app.")
    plain = (str, int, float, bool, tuple, ModelOptions)
    assert all(isinstance(arg, plain) or callable(arg) for arg in [*make.args, *make.keywords.values()])


def test_all_writes_every_artefact(tmp_path, capsys):
    assert cli.main(["all", "-o", str(tmp_path / "out")]) == 0
    written = capsys.readouterr().out.split()
    assert {Path(p).name for p in written} >= {"gradient.txt", "example.txt", "example.json"}
    assert all(Path(p).exists() for p in written)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]


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

    monkeypatch.setattr(files.os, "replace", boom)
    with pytest.raises(InputError, match=f"^cannot write {target}: disk full$"):
        files.write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["gradient.txt"]


def test_written_files_are_readable_by_others_as_new_files_are(tmp_path):
    old = os.umask(0o022)
    try:
        path = files.write_atomic(tmp_path / "x.txt", "data")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (lambda d: (d / "derivation.tex").mkdir(), ["latex", "-o", "{d}"], "cannot write {d}/derivation.tex: it is a directory"),
        (lambda d: (d / "file").write_text("x"), ["code", "-o", "{d}/file"], "cannot write to {d}/file: {d}/file is not a directory"),
        (lambda d: (d / "file").write_text("x"), ["all", "-o", "{d}/file/sub"], "cannot write to {d}/file/sub: {d}/file is not a directory"),
    ],
)  # fmt: skip
def test_paths_that_cannot_be_written_are_one_line(tmp_path, capsys, setup, args, message):
    setup(tmp_path)
    assert cli.main([a.format(d=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err
    assert err == f"derive {args[0]}: error: {message.format(d=tmp_path)}\n"
