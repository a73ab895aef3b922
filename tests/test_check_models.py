"""derive check for every model: a table of right and wrong claims per model, their vocabulary and numbers."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import sympy as sp

from derive.app import cli
from derive.app.cli import parser
from derive.claims.claim import parse
from derive.claims.verdict import CORRECT, INCORRECT, check
from derive.core import symbols as S
from derive.core.models import configure
from derive.notation.bounds import ClaimError

#: model options -> [(claim, extra options, exit code)]: 0 correct, 1 incorrect, 2 bad input
TABLES = {
    ("--model", "logistic"): [
        ("-(y - sigma)*x_i", [], 0),
        ("(sigma - y)*x_i", [], 0),
        (r"(\sigma - y) x_i", [], 0),
        (r"\frac{\partial H}{\partial w_i} = (\sigma(z) - y) x_i", [], 0),
        ("dH/dw_i = (sigmoid(z) - y)*x_i", [], 0),
        ("(1/(1 + exp(-z)) - y)*x_i", [], 0),
        ("\u03c3\u00b7x_i \u2212 y\u00b7x_i", [], 0),
        ("sigma - y", ["--wrt", "b"], 0),
        ("dH/db = sigma - y", [], 0),
        ("(y - sigma)*x_i", [], 1),  # the classic: the sign forgotten
        ("sigma - y", [], 1),  # the classic: x_i forgotten
        ("-(y - sigma)*sigma*(1 - sigma)*x_i", [], 1),  # sigma' kept, as for a squared error
        ("y - sigma", ["--wrt", "b"], 1),
        ("(sigma - y)*x_1", [], 1),
        ("(a_j - P_j)*x_i", [], 2),  # softmax notation is not this model's
        ("x_i", ["--wrt", "W"], 2),
        ("yhat - y", ["--wrt", "b"], 0),  # \hat{y} names the prediction: sigma here
    ],
    ("--model", "linear"): [
        ("(yhat - y)*x_i", [], 0),
        (r"(\hat{y} - y) x_i", [], 0),
        ("-(y - yhat)*x_i", [], 0),
        ("(z - y)*x_i", [], 0),
        ("(sum_l(w_l*x_l) + b - y)*x_i", [], 0),
        ("yhat - y", ["--wrt", "b"], 0),
        ("2*(yhat - y)*x_i", [], 1),  # the 1/2 of the convention forgotten
        ("(y - yhat)*x_i", [], 1),
        ("yhat - y", [], 1),
        ("(yhat - y)*x_i", ["--wrt", "b"], 2),
        ("sigma - y", ["--wrt", "b"], 2),
    ],
    ("--model", "logistic", "--l2", "0.1"): [
        ("(sigma - y)*x_i + lambda*w_i", [], 0),
        (r"(\sigma - y) x_i + \lambda w_i", [], 0),
        ("(sigma - y)*x_i + \u03bbw_i", [], 0),
        ("sigma - y", ["--wrt", "b"], 0),  # the bias is not penalised
        ("(sigma - y)*x_i", [], 1),  # the L2 term missing
        ("(sigma - y)*x_i + 2*lambda*w_i", [], 1),
        ("(y - sigma)*x_i + lambda*w_i", [], 1),
        ("sigma - y + lambda*b", ["--wrt", "b"], 1),
    ],
    ("--model", "linear", "--l2", "0.5"): [
        ("(yhat - y)*x_i + lambda*w_i", [], 0),
        ("(yhat - y)*x_i", [], 1),
        ("(yhat - y + lambda)*x_i", [], 1),
        ("2*(yhat - y)*x_i + lambda*w_i", [], 1),
        ("(yhat - y)*x_i + lambda*W_ij", [], 2),
    ],
    ("--l2", "0.1"): [
        ("(a_j - P_j)*x_i + lambda*W_ij", [], 0),
        (r"(a_j - P_j) x_i + \lambda W_{ij}", [], 0),
        ("a_j - P_j", ["--wrt", "b"], 0),
        ("(a_j - P_j)*x_i", [], 1),  # the L2 term missing
        ("(a_j - P_j)*x_i + 2*lambda*W_ij", [], 1),
        ("-P_j*(1 - a_j)*x_i + lambda*W_ij", [], 1),
        ("(a_j - P_j)*x_i + lambda*w_i", [], 2),
    ],
    ("--smoothing", "0.1"): [
        ("(a_j - P_j)*x_i", [], 0),
        ("(a_j - P_j)*x_i", ["--exact"], 0),  # the smoothed labels sum to 1: proven, not assumed
        ("a_j - P_j", ["--wrt", "b"], 0),
        ("(a_j - P_j*sum_k(P_k))*x_i", [], 0),
        ("-P_j*(1 - a_j)*x_i", [], 1),
        ("(P_j - a_j)*x_i", [], 1),
        ("(a_j - P_j + epsilon)*x_i", [], 1),
        ("(a_j - y)*x_i", [], 2),
    ],
}
CASES = [(model, claim, options, code) for model, rows in TABLES.items() for claim, options, code in rows]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(["check", *argv])
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def test_every_model_has_five_right_and_wrong_claims():
    for model, rows in TABLES.items():
        codes = [code for _, _, code in rows]
        assert len(rows) >= 5 and 0 in codes and 1 in codes, model


@pytest.mark.parametrize(("model", "claim", "options", "code"), CASES)
def test_claims_table_per_model(model, claim, options, code):
    got, out, err = run(claim, *model, *options)
    assert got == code, out + err
    if code == 2:
        assert out == "" and err.startswith("derive check: error: ") and err.count("\n") == 1
    else:
        assert (
            out.splitlines()[3] == f"verdict:    {'CORRECT' if code == 0 else 'INCORRECT'} (exit {code})" and err == ""
        )


def _model(*argv: str):
    return cli.model_from_args(parser().parse_args(["check", "x", *argv]))


def judge(claim: str, *argv: str, wrt: str | None = None):
    model, constants = _model(*argv)
    return check(claim, wrt=wrt, model=model, constants=constants)


# ---------------------------------------------------------------- the vocabulary follows the model


@pytest.mark.parametrize(
    ("model", "text", "expected"),
    [
        ("logistic", "sigma", S.sigma),
        ("logistic", r"\sigma", S.sigma),
        ("logistic", "\u03c3", S.sigma),
        ("logistic", "sigma(1 - sigma)", S.sigma * (1 - S.sigma)),
        ("logistic", r"\sigma(1 - \sigma)", S.sigma * (1 - S.sigma)),
        ("logistic", "sigma(z)", 1 / (1 + sp.exp(-S.logit))),
        ("logistic", "w_i*x_i", S.w[S.i] * S.x[S.i]),
        ("logistic", "b", S.bias),
        ("logistic", "z", S.logit),
        ("linear", "yhat", S.yhat),
        ("linear", r"\hat{y}", S.yhat),
        ("linear", "\u0177", S.yhat),
        ("linear", "y", S.y),
    ],
)
def test_vocabulary_of_the_single_output_models(model, text, expected):
    assert parse(text, model=configure(model)).expr == expected


def test_lambda_and_epsilon_only_with_their_add_ons():
    assert parse("lambda*W_ij", model=configure("softmax", l2=0.1)).expr == S.lam * S.W[S.i, S.j]
    assert parse(r"\lambda w_i", model=configure("logistic", l2=0.1)).expr == S.lam * S.w[S.i]
    assert parse(r"\varepsilon/K", model=configure("softmax", smoothing=0.1)).expr == S.eps / S.K
    with pytest.raises(ClaimError, match="character 7: ':' is not allowed here"):
        parse("lambda: 1")
    with pytest.raises(ClaimError, match="unknown name 'epsilon'"):
        parse("epsilon*x_i", model=configure("softmax", l2=0.1))


#: the vocabulary of the single-output models after y and their activation, as their messages list it
SCALAR_KNOWN = "z, b, w_i and x_i (feature index i, l or 1..d), d, exp, log, sigmoid, sum_l(...), Sum(..., (l, 1, d))"


@pytest.mark.parametrize(
    ("model", "text", "message"),
    [
        ("logistic", "P_j", f"unknown name 'P_j'; known: y, sigma, {SCALAR_KNOWN}"),
        ("logistic", "u", f"unknown name 'u'; known: y, sigma, {SCALAR_KNOWN}"),
        ("linear", "sigma", f"unknown name 'sigma'; known: y, yhat, {SCALAR_KNOWN}"),
        ("logistic", "x_j", "x_j: the feature index must be one of i, l or 1..2, not j"),
        ("logistic", "w_i*x_l", "index l is not bound by a sum (a formula for dH/dw may use only i freely)"),
        ("logistic", "sigma(exp(100))", "exp(100.0) is larger than the limit exp(27)"),
        ("logistic", "sigmoid(-100)", "sigmoid(-100.0) is larger than the limit exp(27)"),
        (
            "logistic",
            "dH/dW_ij = x_i",
            "W_ij: 'ij' is not an index (use i, l for features; j, k, m for classes; or numbers)",
        ),
        ("logistic", "dH/dy = x_i", "the left-hand side must differentiate by w_i or b, not y"),
    ],
)
def test_bad_input_per_model(model, text, message):
    with pytest.raises(ClaimError) as err:
        parse(text, model=configure(model))
    assert str(err.value) == message


# ---------------------------------------------------------------- verdict, difference, counterexample


def test_logistic_sign_forgotten():
    result = judge("(y - sigma)*x_i", "--model", "logistic")
    assert result.verdict == INCORRECT and result.symbolic
    assert result.explanation == "the sign is wrong (the claim is -truth): a step against it would climb the loss"
    assert str(result.difference) == "2*(-sigma + y)*x[i]"
    counter = result.counterexample
    assert (counter.where, counter.entry, counter.indices) == ("seed", "w_1", {"i": 1})
    # the logistic example is the seed's sample as a binary model: same gradient as softmax's W_11
    from derive.verify.example import worked_example

    grad = worked_example(model="logistic").grad_W
    assert counter.truth == pytest.approx(grad[0], abs=1e-12) and counter.claim == pytest.approx(-grad[0])
    assert counter.finite_difference == pytest.approx(counter.truth, abs=1e-6)
    assert f"{counter.truth:+.6f}" == "-1.358580"
    assert counter.description == (
        "w_1 (petal length) at the logistic example x = [1.9, 0.4], w = [-0.4, -0.4], b = 0.0, target y = 1.0"
    )


def test_logistic_input_forgotten():
    result = judge("sigma - y", "--model", "logistic")
    assert result.explanation == "the factor dz/dw_i = x_i is missing"
    assert result.counterexample.entry == "w_1"
    assert str(result.difference) == "-(1 - x[i])*(-sigma + y)"


def test_linear_half_convention():
    result = judge("2*(yhat - y)*x_i", "--model", "linear")
    assert result.explanation == (
        "the claim is twice the truth: the loss is (1/2)(yhat - y)^2, the 1/2 cancels the 2 of the square"
    )
    c = result.counterexample
    assert c.claim == pytest.approx(2 * c.truth) and c.truth == pytest.approx(c.finite_difference, abs=1e-6)
    # at the example: yhat = w . x + b = 0.39, so (yhat - y) x_1 = -0.01 * 1.9
    assert (c.entry, c.truth) == ("w_1", pytest.approx(-0.019, abs=1e-12))


@pytest.mark.parametrize(
    ("argv", "claim", "entry", "description"),
    [
        (
            ("--model", "logistic", "--l2", "0.1"),
            "(sigma - y)*x_i",
            "w_1",
            (
                "w_1 (petal length) at the logistic+l2 example x = [1.9, 0.4], w = [-0.4, -0.4], b = 0.0,"
                " target y = 1.0, lambda = 0.1"
            ),
        ),
        (
            ("--model", "linear", "--l2", "0.5"),
            "(yhat - y)*x_i",
            "w_2",
            (
                "w_2 (petal width) at the linear+l2 example x = [1.9, 0.4], w = [0.1, 0.5], b = 0.0, target y = 0.4,"
                " lambda = 0.5"
            ),
        ),
        (
            ("--l2", "0.1"),
            "(a_j - P_j)*x_i",
            "W_12",
            "W_12 (petal length, Non-Setosa) at the seed's sample x = [1.9, 0.4], label Setosa, lambda = 0.1",
        ),
    ],
)
def test_l2_term_missing(argv, claim, entry, description):
    model, constants = _model(*argv)
    result = check(claim, model=model, constants=constants)
    weights = "w_i" if model.output_index is None else "W_ij"
    assert result.explanation == (
        f"the L2 term lambda {weights} (the derivative of the penalty (lambda/2) Sum {weights[0]}^2) is missing"
    )
    assert result.difference == -S.lam * model.parameters[0]
    c = result.counterexample
    assert (c.entry, c.description) == (entry, description)
    # the gap is exactly lambda times that weight at the example
    weight = np.asarray(model.example["W"], dtype=float)[tuple(q - 1 for q in c.indices.values())]
    assert c.truth - c.claim == pytest.approx(constants[S.lam] * weight, rel=1e-12)
    assert c.finite_difference == pytest.approx(c.truth, abs=1e-6)


def test_l2_doubled():
    result = judge("(a_j - P_j)*x_i + 2*lambda*W_ij", "--l2", "0.1")
    assert result.explanation == (
        "the L2 term is 2 lambda W_ij: the penalty is (lambda/2) Sum W^2, whose derivative is lambda W_ij"
    )
    assert result.difference == S.lam * S.W[S.i, S.j]


def test_smoothing_counterexample_uses_the_smoothed_labels():
    result = judge("-P_j*(1 - a_j)*x_i", "--smoothing", "0.1")
    assert result.verdict == INCORRECT and result.explanation == (
        "the k != j terms of the chain rule are missing: only the diagonal k = j of the softmax Jacobian was kept"
    )
    c = result.counterexample
    assert c.description == (
        "W_12 (petal length, Non-Setosa) at the seed's sample x = [1.9, 0.4], label Setosa, epsilon = 0.1"
    )
    assert c.truth == pytest.approx(c.finite_difference, abs=1e-6)
    from derive.verify.example import worked_example

    smoothed = worked_example(P=[0.95, 0.05], model=configure("softmax", smoothing=0.1), constants={S.eps: 0.1})
    i, j = c.indices["i"] - 1, c.indices["j"] - 1
    assert c.truth == pytest.approx(smoothed.grad_W[i, j], abs=1e-12)


def test_correct_claims_have_no_difference_per_model():
    for argv, claim in [
        (("--model", "logistic"), "-(y - sigma)*x_i"),
        (("--model", "linear"), "(yhat - y)*x_i"),
        (("--model", "logistic", "--l2", "0.1"), "(sigma - y)*x_i + lambda*w_i"),
    ]:
        result = judge(claim, *argv)
        assert (
            result.verdict == CORRECT and result.difference == 0 and result.counterexample is None and result.symbolic
        )


def test_json_and_text_per_model():
    code, out, _ = run("(y - sigma)*x_i", "--model", "logistic", "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["wrt"] == "w_i" and data["counterexample"]["entry"] == "w_1"
    assert data["truth"] == "-(y - sigma)*x_i" and data["classes"] == 1
    code, out, _ = run("sigma - y", "--model", "logistic", "--wrt", "b")
    assert code == 0
    assert out == (
        "claim:      sigma - y\n"
        "read as:    dH/db = sigma - y   (plain notation)\n"
        "truth:      dH/db = -(y - sigma)   (model logistic, no assumption needed)\n"
        "verdict:    CORRECT (exit 0)\n"
        "checked:    symbolically and numerically: every entry at d = 2, generic d, and every entry at d = 3,"
        " at 3 random points\n"
    )


def test_options_with_digits_before_the_claim():
    """--l2 0.5 before a claim: the option is not mistaken for a claim that starts with '-'."""
    code, out, _ = run("--model", "linear", "--l2", "0.5", "(yhat - y)*x_i + lambda*w_i")
    assert code == 0, out


def test_readme_shows_real_output():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("**Every model.**") : readme.index("## Your own loss")]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    command, shown = block.split("\n", 1)
    assert command == '$ derive check --model logistic "(y - sigma)*x_i"'
    assert run("(y - sigma)*x_i", "--model", "logistic")[1] == shown


# ---------------------------------------------------------------- hostile input and fuzzing per model

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HOSTILE = [
    "__import__('os').system('touch {marker}')",
    "sigma.__class__",
    "sigma(lambda: 1)",
    "lambda: sigma",
    "sigma(" * 30 + "z" + ")" * 30,
    "sigmoid(-1000)",
    "yhat" + "*yhat" * 300,
    "\\hat{x}",
    "\\sigma" * 400,
]


@pytest.mark.parametrize("model", [("--model", "logistic"), ("--model", "linear", "--l2", "0.1")])
@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_per_model(model, text, tmp_path):
    marker = tmp_path / "pwned"
    code, out, err = run(text.replace("{marker}", str(marker)), *model)
    assert code == 2 and out == ""
    assert err.startswith("derive check: error: ") and err.count("\n") == 1 and len(err) < 500
    assert not marker.exists()


TOKENS = ["y", "sigma", "z", "b", "w_i", "x_i", "x_1", "w_2", "(", ")", "+", "-", "*", "/", "^", "2", "1", "exp", "log",
          r"\sigma", "sigma(", "sigmoid(", "lambda", r"\lambda", "sum_l(", " ", "=", "dH/dw_i"]  # fmt: skip


@pytest.mark.slow
@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=16))
def test_fuzz_logistic_claims(tokens):
    code, _, err = run("".join(tokens), "--model", "logistic", "--l2", "0.1")
    assert code in (0, 1, 2), err
    assert "Traceback" not in err
    if code == 2:  # "--" alone is argparse's end of options: its own usage error
        assert err.splitlines()[-1].startswith(("derive check: error: ", "derive: error: "))
