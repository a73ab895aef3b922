"""``--hessian`` for the built-in models (softmax, logistic, linear): ``derive code`` writes the module of the model's
file, and ``derive latex`` / ``derive markdown`` add the section "Second derivatives" at the worked example.

The module: its ``hessian`` against central finite differences of its own ``grad``, ``hvp`` against ``hessian @ v``,
its loss and gradients against the built-in module's (the same arguments in the same order), the one line on
stderr, the file name, the refusals.  The documents: the section with the numbers of the model file's document at the
seed's sample, the exact form for labels that do not sum to one, --l2, and the PDF.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from derive.app.cli.documents import seed_document
from derive.app.cli.main import main
from derive.app.cli.options import ModelOptions
from derive.app.code import load_module
from derive.graph import library

NOTE = (
    "derive code: --hessian writes the module of the model file {name}.toml{penalty} (hessian, hvp beside"
    " loss_and_grad and grad; no reduction={l2})\n"
)

#: the modules of --hessian: (model, options, the file written, the penalty's words in the stderr line)
MODULES = [
    ("softmax", [], "softmax_grad.py", ""),
    ("logistic", [], "logistic_grad.py", ""),
    ("linear", [], "linear_grad.py", ""),
    ("softmax", ["--l2", "0.01"], "softmax_l2_grad.py", " with --l2 0.01 in its loss"),
    ("softmax", ["--dtype", "float32"], "softmax_grad_float32.py", ""),
]


def point(name: str, seed: int = 3, n: int = 5, d: int = 3, k: int = 4) -> list[np.ndarray]:
    """(W, b, X, P) of the built-in model at a random point: one-hot labels for softmax, 0/1 for logistic."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    if name == "softmax":
        return [rng.normal(0, 0.5, (d, k)), rng.normal(0, 0.5, k), x, np.eye(k)[rng.integers(0, k, n)]]
    y = rng.integers(0, 2, n).astype(float) if name == "logistic" else rng.normal(size=n)
    return [rng.normal(0, 0.5, d), np.array(rng.normal()), x, y]


def code(tmp_path, capsys, name: str, options: list[str], hessian: bool = True):
    """The module ``derive code --model NAME OPTIONS [--hessian]`` writes, its path and its stderr."""
    folder = tmp_path / ("hessian" if hessian else "plain")
    folder.mkdir(exist_ok=True)
    argv = ["code", "--model", name, *options, "-o", str(folder), *(["--hessian"] if hessian else [])]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    path = out.strip()
    return load_module(Path(path).read_text(encoding="utf-8"), f"{name}_grad"), path, err


def flat(arrays) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in arrays])


def gradient_differences(module, params: list[np.ndarray], inputs: list[np.ndarray], step: float = 1e-6):
    """Central finite differences of the module's own grad, one column per parameter entry (C order)."""
    sizes = [np.size(p) for p in params]
    theta = flat(params)

    def grad_at(values: np.ndarray) -> np.ndarray:
        parts = np.split(values, np.cumsum(sizes)[:-1])
        return flat(module.grad(*(part.reshape(np.shape(p)) for part, p in zip(parts, params, strict=True)), *inputs))

    columns = []
    for entry in range(theta.size):
        shift = np.zeros_like(theta)
        shift[entry] = step
        columns.append((grad_at(theta + shift) - grad_at(theta - shift)) / (2 * step))
    return np.stack(columns, axis=1)


@pytest.mark.parametrize(
    ("name", "options", "file", "penalty"), MODULES, ids=[" ".join([m[0], *m[1]]) for m in MODULES]
)
def test_the_module_of_the_model_file_under_the_builtins_name(name, options, file, penalty, tmp_path, capsys):
    module, path, err = code(tmp_path, capsys, name, options)
    assert path == str(tmp_path / "hessian" / file)
    assert err == NOTE.format(name=name, penalty=penalty, l2=", no l2=" if penalty else "")
    words = " ".join(["derive code --model", name, *options, "--hessian"])
    assert f"Do not edit: regenerate with ``{words}``." in Path(path).read_text(encoding="utf-8")
    W, b, X, P = point(name)
    if "float32" in options:
        matrix = module.hessian(W, b, X, P)
        assert module.DTYPE == np.float32 and matrix.dtype == np.float32 and np.all(np.isfinite(matrix))
        return
    matrix = module.hessian(W, b, X, P)
    np.testing.assert_allclose(matrix, gradient_differences(module, [W, b], [X, P]), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-14)
    rng = np.random.default_rng(4)
    v_W, v_b = rng.normal(size=np.shape(W)), np.array(rng.normal(size=np.shape(b)))
    np.testing.assert_allclose(
        flat(module.hvp(W, b, X, P, v_W, v_b)), matrix @ flat([v_W, v_b]), rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize(
    ("name", "options"), [("softmax", []), ("logistic", []), ("linear", []), ("softmax", ["--l2", "0.01"])]
)
def test_the_module_takes_the_builtin_modules_arguments_in_order(name, options, tmp_path, capsys):
    hessian, _, _ = code(tmp_path, capsys, name, options)
    builtin, _, err = code(tmp_path, capsys, name, options, hessian=False)
    assert err == ""
    W, b, X, P = point(name, seed=8)
    loss, *grads = hessian.loss_and_grad(W, b, X, P)
    want, *want_grads = builtin.loss_and_grad(W, b, X, P)
    assert loss == pytest.approx(want, rel=1e-12)
    for got, truth in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(got, truth, rtol=1e-10, atol=1e-14)


def test_the_l2_module_adds_lambda_on_the_weights_diagonal(tmp_path, capsys):
    plain, _, _ = code(tmp_path, capsys, "softmax", [])
    (tmp_path / "hessian").rename(tmp_path / "first")
    penalised, _, _ = code(tmp_path, capsys, "softmax", ["--l2", "0.01"])
    W, b, X, P = point("softmax")
    difference = penalised.hessian(W, b, X, P) - plain.hessian(W, b, X, P)
    np.testing.assert_allclose(difference, np.diag([0.01] * W.size + [0.0] * b.size), atol=1e-14)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--backend", "torch"],
            "--hessian writes the NumPy module of the model file softmax.toml: leave out --backend torch",
        ),
        (
            ["--smoothing", "0.1"],
            "--hessian writes the module of the model file softmax.toml, which takes --l2 but not --smoothing",
        ),
        (
            ["--model", "logistic", "--l2", "0.1"],
            (
                "--hessian writes the module of the model file logistic.toml: logistic has no weight matrix"
                " (a parameter with two indices) to penalise"
            ),
        ),
        (
            ["--model", "linear", "--l2", "0.1"],
            (
                "--hessian writes the module of the model file linear.toml: linear has no weight matrix"
                " (a parameter with two indices) to penalise"
            ),
        ),
    ],
)
def test_derive_code_hessian_refuses_with_one_line(argv, message, tmp_path, capsys):
    assert main(["code", *argv, "--hessian", "-o", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"derive code: error: {message}\n")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- the documents
def document(tmp_path, capsys, command: str, *options: str) -> str:
    """The text ``derive COMMAND OPTIONS`` writes (markdown, or latex's body with --fragment)."""
    assert main([command, *options, "-o", str(tmp_path)]) == 0
    path = capsys.readouterr().out.split()[0]
    return Path(path).read_text(encoding="utf-8")


def section(text: str, heading: str = "## Second derivatives") -> str:
    return text[text.index(heading) :]


def test_the_softmax_document_has_the_model_files_section_at_the_seeds_sample(tmp_path, capsys):
    path = tmp_path / "softmax.toml"
    path.write_text(library.source("softmax"))
    builtin = document(tmp_path, capsys, "markdown", "--model", "softmax", "--hessian")
    from_file = document(tmp_path, capsys, "markdown", "--model-file", str(path), "--hessian")
    assert section(builtin) == section(from_file)
    # the iris sample's 6x6 Hessian, rank one (one sample), as the model file's document has it
    assert "At the example, the 6×6 Hessian in W_ij, b_j (flattened in C order)" in builtin
    assert r"\begin{bmatrix} 0.735562 & -0.735562 & 0.154855 & -0.154855 & 0.387138 & -0.387138 \\" in builtin
    assert "0.0326011 & -0.0326011 & 0.0815028 & -0.0815028" in builtin and ", 1.944.\nOne Newton step" in builtin
    assert r"\theta_{\text{Newton}} = \begin{bmatrix} 0.798915 & -0.198915 & 0.24714 & 0.35286" in builtin
    # the section is appended: the rest is the document without --hessian, byte for byte
    assert builtin == seed_document("md", ModelOptions()) + "\n" + section(builtin)
    body = document(tmp_path, capsys, "latex", "--fragment", "--hessian")
    assert body.startswith(document(tmp_path, capsys, "latex", "--fragment"))
    assert section(body, r"\section{Second derivatives}") == section(
        document(tmp_path, capsys, "latex", "--model-file", str(path), "--hessian", "--fragment"),
        r"\section{Second derivatives}",
    )


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        # sigma(1 - sigma) (x, 1)(x, 1)^T at eta = -0.92: sigma(1 - sigma) |(x, 1)|^2 = 0.2038 * 4.77
        ("logistic", ("the 3×3 Hessian in w_i, b", "with eigenvalues 0, 0, 0.9719.")),
        # (x, 1)(x, 1)^T: its one non-zero eigenvalue is |x|^2 + 1 = 1.9^2 + 0.4^2 + 1
        ("linear", ("the 3×3 Hessian in w_i, b", ", 4.77.\nOne Newton step")),
    ],
)
def test_the_single_output_documents_have_the_section(name, shown, tmp_path, capsys):
    text = document(tmp_path, capsys, "markdown", "--model", name, "--hessian")
    assert [piece for piece in shown if piece not in section(text)] == []


def test_the_section_follows_l2_and_lr(tmp_path, capsys):
    penalised = section(document(tmp_path, capsys, "markdown", "--l2", "0.01", "--hessian"))
    assert r"\begin{bmatrix} 0.745562 & -0.735562 & 0.154855" in penalised  # + lambda on the weights' diagonal
    assert r"\delta_{il} \delta_{jk}" in penalised
    assert "learning rate 0.5, the parameters" in section(
        document(tmp_path, capsys, "markdown", "--lr", "0.5", "--hessian")
    )


def test_the_section_is_exact_when_the_labels_do_not_sum_to_one(tmp_path, capsys):
    """The document's example drops the assumption Sum_j P_j = 1 for such labels, and so does the section."""
    unnormalised = section(document(tmp_path, capsys, "markdown", "--P", "0.5,0.2", "--hessian"))
    assert r"\sum_{m=1}^{K} P_{m}" in unnormalised
    assert r"\begin{bmatrix} 0.514894 & -0.514894" in unnormalised  # 0.7 times the seed's


def test_the_documents_refuse_smoothing_and_l2_without_a_weight_matrix(tmp_path, capsys):
    assert main(["markdown", "--smoothing", "0.1", "--hessian", "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "derive markdown: error: --hessian takes its section from the model file softmax.toml, which takes --l2"
        " but not --smoothing\n"
    )
    assert main(["latex", "--model", "logistic", "--l2", "0.1", "--hessian", "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "derive latex: error: --hessian takes its section from the model file logistic.toml: logistic has no weight"
        " matrix (a parameter with two indices) to penalise\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (see .ci/run)")
def test_the_document_with_the_section_compiles_to_pdf(tmp_path, capsys):
    assert main(["latex", "--model", "softmax", "--hessian", "--pdf", "-o", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "derivation.tex"), str(tmp_path / "derivation.pdf")]
    assert (tmp_path / "derivation.pdf").read_bytes()[:5] == b"%PDF-"
    if shutil.which("pdftotext"):
        run = ["pdftotext", str(tmp_path / "derivation.pdf"), "-"]
        text = subprocess.run(run, capture_output=True, text=True, check=True).stdout
        assert "Second derivatives" in text and "1.944" in text and "0.735562" in text
