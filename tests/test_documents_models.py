"""The derivation documents of every model: the sections a model's data bring, their numbers, their PDF.

The documents are output/models/<model>.{tex,md}, what `derive all` writes; tests/test_output.py
compares them whole with the code (regenerate them with `derive all`).  The tests here read them
for the sections each model has or lacks, and check the documents' context value by value.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from derive.app import cli
from derive.app.documents import compile_pdf
from derive.claims.verdict import seed_checks
from derive.core import symbols as S
from derive.core.derivation import gradients
from derive.core.models import LOGISTIC, SOFTMAX, configure
from derive.printing.latex import equation
from derive.render.document import document, matrix_forms
from derive.verify.checking import defined_labels
from derive.verify.example import two_class_pair, worked_example

OUTPUT = Path(__file__).resolve().parent.parent / "output"
HAS_TEX = shutil.which("pdflatex") is not None and shutil.which("pdftotext") is not None
needs_tex = pytest.mark.skipif(not HAS_TEX, reason="pdflatex and pdftotext are not installed (see .ci/run)")

#: the documents of output/models/: stem -> (model, l2, smoothing), as `derive latex --model ... --l2 ... --smoothing ...`
MODELS = {
    "logistic": ("logistic", None, None),
    "linear": ("linear", None, None),
    "softmax-l2": ("softmax", 0.01, None),
    "softmax-smoothing": ("softmax", None, 0.1),
}


def committed(stem: str, suffix: str) -> str:
    """output/models/<stem>.<suffix>, kept in sync with the code by tests/test_output.py."""
    return (OUTPUT / "models" / f"{stem}.{suffix}").read_text(encoding="utf-8")


@functools.cache
def context(name: str, l2: float | None = None, smoothing: float | None = None) -> dict:
    """The documents' context as `derive latex` builds it: the model's sample, its verdicts, its 2-class pair."""
    model = configure(name, l2=l2, smoothing=smoothing)
    constants = {S.lam: l2} if l2 is not None else {}
    P = None
    if smoothing is not None:
        constants[S.eps] = smoothing
        seed = np.asarray(model.example["P"], dtype=float)
        labels = defined_labels(model, seed.size, smoothing, int(np.argmax(seed)) + 1)
        P = [labels[model.label[k]] for k in range(1, seed.size + 1)]
    example = worked_example(P=P, lr=0.1, model=model, constants=constants)
    judged = seed_checks(model, True)
    return document(gradients(model), example, constants=constants, judged=judged, pair=two_class_pair(model))


def model_context(stem: str) -> dict:
    return context(*MODELS[stem])


# ---------------------------------------------------------------- sections that belong to one model only

SOFTMAX_ONLY = [
    r"\section{The softmax Jacobian}",
    r"\section{A common mistake}",
    r"\section{The assumption}",
    "the table of the question",
]


@pytest.mark.parametrize("stem", ["logistic", "linear"])
def test_single_output_documents_have_no_softmax_sections(stem):
    text = committed(stem, "tex")
    assert [piece for piece in SOFTMAX_ONLY if piece in text] == []
    assert "classes" not in text.split(r"\section{The loss}")[0]
    assert r"\sum_{k=1}^{K}" not in text


@pytest.mark.parametrize("stem", MODELS)
def test_only_the_plain_softmax_documents_check_the_question(stem):
    """derive check judges the plain softmax's claims: the other documents have no check section."""
    assert model_context(stem)["check"] is None
    for suffix in ("tex", "md"):
        assert "Check your derivation" not in committed(stem, suffix)
    assert "## Check your derivation" in (OUTPUT / "derivation.md").read_text(encoding="utf-8").splitlines()


def test_softmax_sections_stay_with_every_softmax_variant():
    for stem in ("softmax-l2", "softmax-smoothing"):
        text = committed(stem, "tex")
        assert [piece for piece in SOFTMAX_ONLY if piece not in text] == []
    assert r"\section{The 2-class softmax is this model}" not in (OUTPUT / "derivation.tex").read_text(encoding="utf-8")
    assert r"\section{The 2-class softmax is this model}" in committed("logistic", "tex").splitlines()


def test_logistic_names_the_sigmoid_derivative():
    context = model_context("logistic")
    derivative = context["derivative"]
    assert derivative["entry"] == r"\frac{\partial \sigma}{\partial z} = \sigma \left(1 - \sigma\right)"
    assert derivative["steps"] == (3, 6)
    assert derivative["product"] == (
        r"\frac{\partial H}{\partial \sigma} \frac{\partial \sigma}{\partial z} = "
        r"\left(\frac{1 - y}{1 - \sigma} - \frac{y}{\sigma}\right) \left(\sigma \left(1 - \sigma\right)\right) "
        r"= \sigma - y"
    )
    lines = {line.number: line for block in context["sections"][0].blocks for line in block.lines}
    assert lines[4].justification[0] == ("text", "name the sigmoid output: ")
    assert r"\section{The derivative of the sigmoid output}" in committed("logistic", "tex").splitlines()
    assert r"\section{The derivative of the" not in committed("linear", "tex")


def test_linear_states_the_one_half_convention():
    assert (
        "The factor one half is a convention: it cancels the 2 that differentiating the square brings down, "
        "so the gradient is the error times the feature. Over a batch of samples the generated code takes the mean."
    ) in committed("linear", "md").splitlines()
    assert model_context("linear")["derivative"] is None


@pytest.mark.parametrize("stem", MODELS)
def test_every_step_is_shown_or_referred_to_once_in_order(stem):
    """The lines of each derivation's blocks (and as many for the steps they refer to) number 1..N."""
    for derivation, section in zip(gradients(configure(*MODELS[stem])), model_context(stem)["sections"], strict=True):
        numbers = [section.chain.number]
        for block in section.blocks:
            referred = range(numbers[-1] + 1, numbers[-1] + 2 + block.see[2] - block.see[1]) if block.see else ()
            numbers += [line.number for line in block.lines] or list(referred)
        assert numbers == list(range(1, len(derivation.steps) + 1))


# ---------------------------------------------------------------- the 2-class softmax is logistic regression


def test_two_class_softmax_is_the_logistic_model_at_the_seed():
    equivalence = model_context("logistic")["equivalence"]
    assert equivalence["largest_value"] < 1e-12 and equivalence["agree"]
    assert equivalence["parameters"] == [r"w_{i} = W_{i1} - W_{i2}", "b = b_{1} - b_{2}", "y = P_{1}"]
    softmax = worked_example(model=SOFTMAX)
    # each row: the logistic quantity = its value, beside the softmax quantity = the same value
    quantities = [
        ("z", "z_{1} - z_{2}", softmax.z[0] - softmax.z[1]),
        (r"\sigma", "a_{1}", softmax.a[0]),
        ("H", "H", softmax.loss),
        (r"\frac{\partial H}{\partial w_{1}}", r"\frac{\partial H}{\partial W_{11}}", softmax.grad_W[0, 0]),
        (r"\frac{\partial H}{\partial w_{2}}", r"\frac{\partial H}{\partial W_{21}}", softmax.grad_W[1, 0]),
        (r"\frac{\partial H}{\partial b}", r"\frac{\partial H}{\partial b_{1}}", softmax.grad_b[0]),
    ]
    assert equivalence["rows"] == [
        {"binary": f"{binary} = {number:.6f}", "softmax": f"{other} = {number:.6f}"}
        for binary, other, number in quantities
    ]
    assert equivalence["rows"][1] == {"binary": r"\sigma = 0.284958", "softmax": "a_{1} = 0.284958"}


def test_first_softmax_output_is_the_sigmoid_of_the_logit_difference():
    z1, z2 = S.z[1], S.z[2]
    a1 = SOFTMAX.activation_definition.subs({S.k: 1, S.K: 2}).doit()
    assert sp.simplify(a1 - LOGISTIC.activation_definition.subs(S.logit, z1 - z2)) == 0


def test_only_the_unpenalised_sigmoid_model_has_the_equivalence():
    assert model_context("linear")["equivalence"] is None
    penalised = context("logistic", l2=0.1)
    assert penalised["equivalence"] is None and penalised["penalty"] is not None


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
    for (_, rhs), truth in zip(forms, (example.grad_W, example.grad_b), strict=True):
        got = rhs.xreplace(values).xreplace({S.K: K, S.d: d}).doit()
        got = np.array(got.tolist() if hasattr(got, "tolist") else float(got), dtype=float)
        np.testing.assert_allclose(got.reshape(np.shape(truth)), truth, rtol=1e-12)


def test_penalty_is_explained_and_added_in_its_own_step():
    penalty = model_context("softmax-l2")["penalty"]
    assert penalty["derivative"] == r"\frac{\partial R}{\partial W_{ij}} = \lambda W_{ij}"
    assert (penalty["steps"], penalty["total_step"]) == ((22, 24), 25)
    assert penalty["spared"] == [r"\frac{\partial H}{\partial b_{j}}"]
    lines = committed("softmax-l2", "md").splitlines()
    assert "### Adding the penalty" in lines and r"and $\lambda = 0.01$." in lines


def test_smoothing_proves_the_labels_sum_to_one():
    context = model_context("softmax-smoothing")
    smoothing = context["smoothing"]
    assert smoothing["steps"] == (13, 16) and smoothing["total"] == r"\sum_{k=1}^{K} P_{k} = 1"
    assert smoothing["result"] == r"\frac{\partial H}{\partial W_{ij}} = - \left(P_{j} - a_{j}\right) x_{i}"
    weights, biases = context["sections"]
    assert weights.block("labels").lines and biases.block("labels").see == (weights.lhs, 13, 16)
    # the worked example's labels are the smoothed ones: (1 - 0.1) + 0.1/2 and 0.1/2
    smoothed = r"\mathbf{P} = \left[\begin{matrix}0.950000\\0.050000\end{matrix}\right]"
    assert context["example"]["inputs"][2] == smoothed
    assert smoothed in committed("softmax-smoothing", "tex")


def test_l2_gradient_is_the_data_term_plus_lambda_w_at_the_seed():
    model = configure("softmax", l2=0.01)
    example = worked_example(model=model, constants={S.lam: 0.05})
    plain = worked_example(model=SOFTMAX)
    np.testing.assert_allclose(example.grad_W, plain.grad_W + 0.05 * plain.W, rtol=1e-12)
    context = document(gradients(model), example, constants={S.lam: 0.05})
    assert context["example"]["strengths"] == [r"\lambda = 0.05"]


# ---------------------------------------------------------------- the command line


def test_single_output_models_take_features_but_not_classes(tmp_path, capsys):
    assert cli.main(["markdown", "--model", "logistic", "--features", "2", "-o", str(tmp_path)]) == 0
    notation = "| $x_{i}$ | feature i of one sample (e.g. petal length, petal width) | $i = 1, \\dots, 2$ |"
    assert notation in (tmp_path / "derivation.md").read_text(encoding="utf-8").splitlines()
    capsys.readouterr()
    assert cli.main(["markdown", "--model", "linear", "--classes", "2", "--features", "2", "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "derive markdown: error: model 'linear' has one output: leave out --classes (--features alone sets d)\n"
    )


# ---------------------------------------------------------------- every model's LaTeX compiles

PDF_NUMBERS = {
    "logistic": ("0.284958", "1.255414", "1.358580", "2-class softmax"),
    "linear": ("0.390000", "0.019000", "0.000050"),
    "softmax-l2": ("1.258014", "1.357580", "0.291017", "The penalty"),
    "softmax-smoothing": ("0.950000", "0.050000", "The labels sum to one"),
}


@needs_tex
@pytest.mark.parametrize("stem", MODELS)
def test_each_model_compiles_with_pdflatex(stem, tmp_path):
    (tmp_path / "derivation.pdf").write_bytes(compile_pdf(committed(stem, "tex")))
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "derivation.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert [piece for piece in PDF_NUMBERS[stem] if piece not in text] == []
