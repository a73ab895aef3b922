"""The LaTeX and Markdown derivations of every model: golden files, model-only sections, numbers, PDF.

Golden files live in tests/golden/.  After a deliberate change, regenerate them with

    DERIVE_REGENERATE=1 python -m pytest -q tests/test_documents_models.py

and read the diff before committing it.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from derive.app import cli
from derive.core import symbols as S
from derive.core.derivation import gradients
from derive.core.models import LOGISTIC, SOFTMAX, configure
from derive.printing.latex import equation
from derive.render.document import document, matrix_forms
from derive.verify.example import worked_example

GOLDEN = Path(__file__).resolve().parent / "golden"
REGENERATE = "DERIVE_REGENERATE=1 python -m pytest -q tests/test_documents_models.py"
HAS_TEX = shutil.which("pdflatex") is not None and shutil.which("pdftotext") is not None
needs_tex = pytest.mark.skipif(not HAS_TEX, reason="pdflatex and pdftotext are not installed (see .ci/run)")

#: model -> the options of derive latex/markdown, as in output/models/
MODELS = {
    "logistic": ["--model", "logistic"],
    "linear": ["--model", "linear"],
    "softmax-l2": ["--l2", "0.01"],
    "softmax-smoothing": ["--smoothing", "0.1"],
}


def model_context(stem: str) -> dict:
    return cli.document_from_args(cli.parser().parse_args(["latex", *MODELS[stem]]))


def assert_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("DERIVE_REGENERATE"):
        path.write_text(actual, encoding="utf-8")
    expected = path.read_text(encoding="utf-8") if path.exists() else ""
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), actual.splitlines(True), f"expected/{name}", f"actual/{name}"
            )
        )
        pytest.fail(f"{name} differs from tests/golden/{name}:\n{diff}\nregenerate with: {REGENERATE}", pytrace=False)


def written(argv: list[str], tmp_path: Path, capsys) -> str:
    assert cli.main([*argv, "-o", str(tmp_path)]) == 0
    return Path(capsys.readouterr().out.split()[0]).read_text(encoding="utf-8")


# ---------------------------------------------------------------- golden files, one per model and format


@pytest.mark.parametrize("kind, suffix", [("latex", "tex"), ("markdown", "md")])
@pytest.mark.parametrize("stem", MODELS)
def test_golden(stem, kind, suffix, tmp_path, capsys):
    assert_golden(f"derivation-{stem}.{suffix}", written([kind, *MODELS[stem]], tmp_path, capsys))


def test_output_models_are_the_golden_documents():
    """output/models/ holds the same documents as the golden files (derive all renders them)."""
    for stem in MODELS:
        for suffix in ("tex", "md"):
            assert cli.ARTEFACTS[f"models/{stem}.{suffix}"]() == (GOLDEN / f"derivation-{stem}.{suffix}").read_text()


# ---------------------------------------------------------------- sections that belong to one model only

SOFTMAX_ONLY = [
    r"\section{The softmax Jacobian}",
    r"\section{A common mistake}",
    r"\section{The assumption}",
    "the table of the question",
]


@pytest.mark.parametrize("stem", ["logistic", "linear"])
def test_single_output_documents_have_no_softmax_sections(stem):
    text = (GOLDEN / f"derivation-{stem}.tex").read_text()
    assert [piece for piece in SOFTMAX_ONLY if piece in text] == []
    assert "classes" not in text.split(r"\section{The loss}")[0]
    assert r"\sum_{k=1}^{K}" not in text


@pytest.mark.parametrize("stem", ["logistic", "linear", "softmax-l2", "softmax-smoothing"])
def test_only_the_plain_softmax_documents_check_the_question(stem):
    """derive check judges the plain softmax's claims: the other documents have no check section."""
    for suffix in ("tex", "md"):
        assert "Check your derivation" not in (GOLDEN / f"derivation-{stem}.{suffix}").read_text()
    assert "Check your derivation" in (GOLDEN / "derivation.md").read_text()


def test_softmax_sections_stay_with_every_softmax_variant():
    for stem in ("softmax-l2", "softmax-smoothing"):
        text = (GOLDEN / f"derivation-{stem}.tex").read_text()
        assert all(piece in text for piece in SOFTMAX_ONLY)
    assert r"\section{The 2-class softmax is this model}" not in (GOLDEN / "derivation.tex").read_text()


def test_logistic_names_the_sigmoid_derivative():
    context = model_context("logistic")
    derivative = context["derivative"]
    assert derivative["entry"] == r"\frac{\partial \sigma}{\partial z} = \sigma \left(1 - \sigma\right)"
    assert derivative["steps"] == (3, 6)
    assert derivative["product"].endswith(r"= \sigma - y")
    lines = {line.number: line for block in context["sections"][0].blocks for line in block.lines}
    assert lines[4].justification[0] == ("text", "name the sigmoid output: ")
    text = (GOLDEN / "derivation-logistic.tex").read_text()
    assert r"\section{The derivative of the sigmoid output}" in text
    assert r"\section{The derivative of the" not in (GOLDEN / "derivation-linear.tex").read_text()


def test_linear_states_the_one_half_convention():
    text = (GOLDEN / "derivation-linear.md").read_text()
    assert "The factor one half is a convention" in text and "takes the mean" in text
    assert model_context("linear")["derivative"] is None


def test_every_step_is_shown_or_referred_to_once_in_order():
    """The lines of each derivation's blocks (and as many for the steps they refer to) number 1..N."""
    for stem, options in MODELS.items():
        model, _ = cli.model_from_args(cli.parser().parse_args(["latex", *options]))
        for derivation, section in zip(gradients(model), model_context(stem)["sections"]):
            numbers = [section.chain.number]
            for block in section.blocks:
                referred = range(numbers[-1] + 1, numbers[-1] + 2 + block.see[2] - block.see[1]) if block.see else ()
                numbers += [line.number for line in block.lines] or list(referred)
            assert numbers == list(range(1, len(derivation.steps) + 1)), stem


# ---------------------------------------------------------------- the 2-class softmax is logistic regression


def test_two_class_softmax_is_the_logistic_model_at_the_seed():
    equivalence = model_context("logistic")["equivalence"]
    assert equivalence["largest_value"] < 1e-12 and equivalence["agree"]
    assert equivalence["parameters"] == [r"w_{i} = W_{i1} - W_{i2}", "b = b_{1} - b_{2}", "y = P_{1}"]
    softmax = worked_example(model=SOFTMAX)
    # each row: the logistic quantity = its value, beside the softmax quantity = the same value
    expected = [
        softmax.z[0] - softmax.z[1],
        softmax.a[0],
        softmax.loss,
        *softmax.grad_W[:, 0],
        softmax.grad_b[0],
    ]
    for row, number in zip(equivalence["rows"], expected, strict=True):
        assert row["binary"].endswith(f"= {number:.6f}") and row["softmax"].endswith(f"= {number:.6f}")
    assert equivalence["rows"][1] == {"binary": r"\sigma = 0.284958", "softmax": "a_{1} = 0.284958"}


def test_first_softmax_output_is_the_sigmoid_of_the_logit_difference():
    z1, z2 = S.z[1], S.z[2]
    a1 = SOFTMAX.activation_definition.subs({S.k: 1, S.K: 2}).doit()
    assert sp.simplify(a1 - LOGISTIC.activation_definition.subs(S.logit, z1 - z2)) == 0


def test_only_the_unpenalised_sigmoid_model_has_the_equivalence():
    assert model_context("linear")["equivalence"] is None
    context = cli.document_from_args(cli.parser().parse_args(["latex", "--model", "logistic", "--l2", "0.1"]))
    assert context["equivalence"] is None and context["penalty"] is not None


# ---------------------------------------------------------------- vector forms and numbers


@pytest.mark.parametrize(
    "name, l2, expected",
    [
        (
            "logistic",
            None,
            [
                r"\nabla_{\mathbf{w}} H = \left(\sigma - y\right) \mathbf{x}",
                r"\frac{\partial H}{\partial b} = \sigma - y",
            ],
        ),
        (
            "linear",
            None,
            [
                r"\nabla_{\mathbf{w}} H = \left(\hat{y} - y\right) \mathbf{x}",
                r"\frac{\partial H}{\partial b} = \hat{y} - y",
            ],
        ),
        (
            "softmax",
            0.01,
            [
                r"\nabla_{\mathbf{W}} H = \mathbf{x} \left(\mathbf{a} - \mathbf{P}\right)^{T} + \lambda \mathbf{W}",
                r"\nabla_{\mathbf{b}} H = \mathbf{a} - \mathbf{P}",
            ],
        ),
        (
            "logistic",
            0.01,
            [
                r"\nabla_{\mathbf{w}} H = \left(\sigma - y\right) \mathbf{x} + \lambda \mathbf{w}",
                r"\frac{\partial H}{\partial b} = \sigma - y",
            ],
        ),
    ],
)
def test_vector_forms_print_and_equal_the_gradients(name, l2, expected):
    model = configure(name, l2=l2)
    forms = matrix_forms(gradients(model))
    assert [equation(lhs, rhs) for lhs, rhs in forms] == expected
    constants = {S.lam: l2} if l2 else {}
    example = worked_example(model=model, constants=constants)
    K, d = example.classes, example.features
    column = lambda v: sp.ImmutableMatrix(np.asarray(v, dtype=float).reshape(-1, 1))
    values = {
        sp.MatrixSymbol("x", S.d, 1): column(example.x),
        sp.MatrixSymbol("a", S.K, 1): column(example.a),
        sp.MatrixSymbol("P", S.K, 1): column(example.P),
        sp.MatrixSymbol("W", S.d, S.K): sp.ImmutableMatrix(np.atleast_2d(example.W)),
        sp.MatrixSymbol("w", S.d, 1): column(example.W),
        S.sigma: example.a[0],
        S.yhat: example.a[0],
        S.y: float(example.P.reshape(-1)[0]),
        S.lam: l2 or 0.0,
    }
    for (_, rhs), truth in zip(forms, (example.grad_W, example.grad_b)):
        got = rhs.xreplace(values).xreplace({S.K: K, S.d: d}).doit()
        got = np.array(got.tolist() if hasattr(got, "tolist") else float(got), dtype=float)
        np.testing.assert_allclose(got.reshape(np.shape(truth)), truth, rtol=1e-12)


def test_penalty_is_explained_and_added_in_its_own_step():
    penalty = model_context("softmax-l2")["penalty"]
    assert penalty["derivative"] == r"\frac{\partial R}{\partial W_{ij}} = \lambda W_{ij}"
    assert (penalty["steps"], penalty["total_step"]) == ((22, 24), 25)
    assert penalty["spared"] == [r"\frac{\partial H}{\partial b_{j}}"]
    text = (GOLDEN / "derivation-softmax-l2.md").read_text()
    assert "### Adding the penalty" in text and r"and $\lambda = 0.01$." in text


def test_smoothing_proves_the_labels_sum_to_one():
    context = model_context("softmax-smoothing")
    smoothing = context["smoothing"]
    assert smoothing["steps"] == (13, 16) and smoothing["total"] == r"\sum_{k=1}^{K} P_{k} = 1"
    assert smoothing["result"] == r"\frac{\partial H}{\partial W_{ij}} = - \left(P_{j} - a_{j}\right) x_{i}"
    weights, biases = context["sections"]
    assert weights.block("labels").lines and biases.block("labels").see == (weights.lhs, 13, 16)
    # the worked example's labels are the smoothed ones: (1 - 0.1) + 0.1/2 and 0.1/2
    assert context["example"]["inputs"][2].endswith(r"\left[\begin{matrix}0.950000\\0.050000\end{matrix}\right]")


def test_l2_gradient_is_the_data_term_plus_lambda_w_at_the_seed():
    model = configure("softmax", l2=0.01)
    example = worked_example(model=model, constants={S.lam: 0.05})
    plain = worked_example(model=SOFTMAX)
    np.testing.assert_allclose(example.grad_W, plain.grad_W + 0.05 * plain.W, rtol=1e-12)
    context = document(gradients(model), example, constants={S.lam: 0.05})
    assert r"\lambda = 0.05" in context["example"]["strengths"]


# ---------------------------------------------------------------- the command line


def test_single_output_models_take_features_but_not_classes(tmp_path, capsys):
    assert cli.main(["markdown", "--model", "logistic", "--features", "2", "-o", str(tmp_path)]) == 0
    assert r"$i = 1, \dots, 2$" in (tmp_path / "derivation.md").read_text()
    capsys.readouterr()
    assert cli.main(["markdown", "--model", "linear", "--classes", "2", "--features", "2", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has one output: leave out --classes" in err


# ---------------------------------------------------------------- every model's LaTeX compiles

PDF_NUMBERS = {
    "logistic": ("0.284958", "1.255414", "1.358580", "2-class softmax"),
    "linear": ("0.390000", "0.019000", "0.000050"),
    "softmax-l2": ("1.258014", "1.357580", "0.291017", "The penalty"),
    "softmax-smoothing": ("0.950000", "0.050000", "The labels sum to one"),
}


@needs_tex
@pytest.mark.parametrize("stem", MODELS)
def test_each_model_compiles_with_pdflatex(stem, tmp_path, capsys):
    assert cli.main(["latex", "--pdf", *MODELS[stem], "-o", str(tmp_path)]) == 0
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "derivation.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert [piece for piece in PDF_NUMBERS[stem] if piece not in text] == []
