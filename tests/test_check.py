"""derive check: the claims table, the notation, the verdict's numbers, hostile input and fuzzing."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.app import cli
from derive.claims.claim import parse
from derive.claims.compare import points
from derive.claims.verdict import ASSUMED, CORRECT, INCORRECT, check, seed_checks
from derive.core import symbols as S
from derive.core.models import SOFTMAX
from derive.notation import bounds as claims
from derive.notation.bounds import ClaimError
from derive.render.check import latex_parts, repr_latex
from derive.verify.example import worked_example

ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------- the claims table

#: (claim, options, exit code): 0 correct, 1 incorrect, 2 bad input, 3 correct only under Sum_k P_k = 1
TABLE = [
    # the right answer in many notations
    ("(a_j - P_j)*x_i", [], 0),
    ("x_i*a_j - x_i*P_j", [], 0),
    ("-(P_j - a_j)*x_i", [], 0),
    ("x_i*(a_j - P_j)^1", [], 0),
    ("(a[j] - P[j])*x[i]", [], 0),
    ("-P_j(1-a_j)x_i + a_j(1-P_j)x_i", [], 0),
    (r"\left(a_j - P_j\right) x_i", [], 0),
    (r"(a_j - P_j) \cdot x_i", ["--latex"], 0),
    (r"\frac{\partial H}{\partial W_{i,j}} = (a_j - P_j) x_i", [], 0),
    ("dH/dW_ij = (a_j - P_j)*x_i", [], 0),
    (r"\sum_k P_k (a_j - \delta_{kj}) x_i", [], 0),
    (r"\sum_{k=1}^{K} P_k (a_j - \delta_{kj}) x_i", [], 0),
    ("Sum(P_k*(a_j - delta_kj), (k, 1, K))*x_i", [], 0),
    (r"\frac{e^{z_j}}{\sum_m e^{z_m}} x_i - P_j x_i", [], 0),
    ("2*(a_j - P_j)*x_i/2", [], 0),
    ("(a_j - P_j)*x_i*(a_1 + a_2)", [], 0),
    ("(a_j - P_j*(P_1 + P_2))*x_i", [], 0),
    ("a_j - P_j", ["--wrt", "b"], 0),
    (r"\frac{\partial H}{\partial b_j} = a_j - P_j", [], 0),
    # the exact form, without the assumption
    ("-(P_j - a_j*Sum(P_k, (k, 1, K)))*x_i", [], 0),
    ("-(P_j - a_j*Sum(P_k, (k, 1, K)))*x_i", ["--exact"], 0),
    (r"-\left(P_j - a_j \sum_k P_k\right) x_i", ["--exact"], 0),
    ("(a_j - P_j)*x_i", ["--exact"], 3),
    (r"\frac{e^{z_j}}{\sum_m e^{z_m}} x_i - P_j x_i", ["--exact"], 3),
    ("a_j - P_j", ["--wrt", "b", "--exact"], 3),
    ("(a_j - P_j*(P_1 + P_2))*x_i", ["--exact"], 3),
    # the accepted answer, in three notations
    ("-P_j*(1-a_j)*x_i", [], 1),
    ("-P_j(1-a_j)x_i", [], 1),
    (r"-\frac{P_j}{a_j} a_j (1-a_j) x_i", [], 1),
    ("\u2212P_j\u00b7(1\u2212a_j)\u00b7x_i", [], 1),
    ("-P_j*(1-a_j)*x_i", ["--exact"], 1),
    # the student's own answer
    ("-(1-a_j)*x_i*(P_1+P_2)", [], 1),
    (r"-(1-a_j) x_i \sum_k P_k", [], 1),
    # sign errors, a missing x_i, a K-dependent claim
    ("(P_j - a_j)*x_i", [], 1),
    ("P_j - a_j", ["--wrt", "b"], 1),
    ("a_j - P_j", [], 1),
    ("-P_j*x_i", [], 1),
    ("(a_j - P_j)*x_1", [], 1),
    ("(a_j - P_j)*x_i*K/2", [], 1),
    ("a_j*(1-a_j)*x_i", [], 1),
    # bad input
    ("u_j", [], 2),
    ("(\\hat{y}_j - y_j) x_i", [], 0),  # the most common ML notation: prediction \hat{y}, label y
    ("Q_j(x) - P_j(x)", ["--wrt", "b"], 0),  # the question's own notation
    ("P_3", [], 2),
    ("x_j", [], 2),
    ("P_k*x_i", [], 2),
    ("(a_j - P_j)*x_i", ["--wrt", "b"], 2),
    (r"\frac{\partial H}{\partial b_j} = a_j - P_j", ["--wrt", "W"], 2),
    ("x_i = a_j", [], 2),
    ("", [], 2),
    ("P_3*x_i", ["--classes", "3"], 1),
]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(["check", *argv])
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def test_table_is_large_enough():
    assert len(TABLE) >= 30
    assert {code for _, _, code in TABLE} == {0, 1, 2, 3}


@pytest.mark.parametrize(("claim", "options", "code"), TABLE)
def test_claims_table(claim, options, code):
    got, out, err = run(claim, *options)
    assert got == code, out + err
    if code == 2:
        assert out == "" and err.startswith("derive check: error: ") and err.count("\n") == 1
    else:
        assert out.splitlines()[3] == VERDICT_LINES[code] and err == ""


#: the verdict line of the text report, by exit code
VERDICT_LINES = {
    0: "verdict:    CORRECT (exit 0)",
    1: "verdict:    INCORRECT (exit 1)",
    3: "verdict:    CORRECT ONLY UNDER AN ASSUMPTION (exit 3)",
}


# ---------------------------------------------------------------- the verdict's content

SIGN_WRONG = "the sign is wrong (the claim is -truth): a step against it would climb the loss"
DIAGONAL_ONLY = (
    "the k != j terms of the chain rule are missing: only the diagonal k = j of the softmax Jacobian was kept"
)


def test_accepted_answer_difference_explanation_counterexample():
    result = check("-P_j*(1-a_j)*x_i")
    assert result.verdict == INCORRECT and result.exit_code == 1 and result.symbolic
    assert cli_text(result.difference) == "-a_j*(1 - P_j)*x_i"
    assert result.explanation == DIAGONAL_ONLY
    counter = result.counterexample
    assert (counter.where, counter.entry, counter.indices) == ("seed", "W_12", {"i": 1, "j": 2})
    assert counter.claim == 0.0
    assert f"{counter.truth:+.6f}" == "+1.358580"
    assert counter.truth == pytest.approx(worked_example().grad_W[0, 1], abs=1e-12)
    assert counter.finite_difference == pytest.approx(counter.truth, abs=1e-6)
    assert counter.description == "W_12 (petal length, Non-Setosa) at the seed's sample x = [1.9, 0.4], label Setosa"


def test_students_answer():
    result = check("-(1-a_j)*x_i*(P_1+P_2)")
    assert result.verdict == INCORRECT and result.claim.concrete
    assert cli_text(result.difference) == "-(1 - P_j)*x_i"
    assert result.explanation == (
        "da_k/dz_j = a_k(delta_kj - a_j) was taken as a_k(1 - a_j) for every k: delta_kj is 1 only for k = j"
    )
    assert result.counterexample.entry == "W_12"
    assert f"{result.counterexample.claim:+.6f}" == "-0.541420"
    assert result.counterexample.claim == pytest.approx(worked_example().mistakes["student's answer"][0, 1])


def test_exact_difference_and_random_counterexample():
    result = check("(a_j - P_j)*x_i", assume=False)
    assert result.verdict == ASSUMED and result.exit_code == 3
    assert cli_text(result.difference) == "(1 - Sum(P_k, (k, 1, K)))*a_j*x_i"
    counter = result.counterexample
    assert counter.where == "random" and (counter.entry, counter.indices) == ("W_21", {"i": 2, "j": 1})
    assert counter.description == (
        "W_21 at a random point with K = 2, d = 2, labels P = (0.815887, 0.742987), Sum_k P_k = 1.558874"
    )
    # the counterexample is real: evaluated here, the claim and the exact truth differ by a_j x_i (1 - Sum P)
    sample = random_sample(result)
    claimed, truth = independently(result.claim.expr, sample, counter.indices), exact_gradient(sample, counter.indices)
    assert (claimed, truth) == (pytest.approx(counter.claim, rel=1e-12), pytest.approx(counter.truth, rel=1e-12))
    a = softmax_of(sample)
    assert claimed - truth == pytest.approx(a[0] * sample["x"][1] * (1 - sample["P"].sum()), rel=1e-12)
    assert abs(claimed - truth) > 0.1


@pytest.mark.parametrize(
    ("claim", "wrt", "explanation"),
    [
        ("(P_j - a_j)*x_i", None, SIGN_WRONG),
        ("a_j - P_j", None, "the factor dz_j/dW_ij = x_i is missing"),
        (r"-\frac{P_j}{a_j} a_j (1-a_j) x_i", None, DIAGONAL_ONLY),
        ("P_j - a_j", "b", SIGN_WRONG),
        ("-P_j*(1 - a_j)", "b", DIAGONAL_ONLY),
    ],
)
def test_named_mistakes(claim, wrt, explanation):
    assert check(claim, wrt=wrt).explanation == explanation


def test_k_dependent_claim_is_caught_at_the_second_size():
    result = check("(a_j - P_j)*x_i*K/2")
    assert result.verdict == INCORRECT
    counter = result.counterexample
    assert counter.where == "random" and counter.description == (
        "W_13 at a random point with K = 3, d = 3, labels P = (0.464370, 0.063147, 0.472483), Sum_k P_k = 1.000000"
    )
    sample = random_sample(result)
    claimed, truth = independently(result.claim.expr, sample, counter.indices), exact_gradient(sample, counter.indices)
    assert claimed == pytest.approx(1.5 * truth, rel=1e-12)  # K/2 = 3/2 times the truth


def test_correct_claims_have_zero_difference_and_no_counterexample():
    for claim in ("(a_j - P_j)*x_i", r"\sum_k P_k (a_j - \delta_{kj}) x_i"):
        result = check(claim)
        assert result.verdict == CORRECT and result.difference == 0 and result.counterexample is None
        assert result.symbolic


def test_larger_sizes_concrete_indices():
    total = "+".join(f"P_{q}" for q in range(1, 5))
    assert check(f"(a_j - P_j*({total}))*x_i", classes=4, features=3).verdict == CORRECT
    assert check(f"-(1-a_j)*x_i*({total})", classes=4, features=3).verdict == INCORRECT


def test_json_output():
    code, out, _ = run("-P_j*(1-a_j)*x_i", "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["verdict"] == "incorrect" and data["exit_code"] == 1
    assert data["difference"] == "-a_j*(1 - P_j)*x_i"
    assert data["counterexample"]["entry"] == "W_12" and data["counterexample"]["claim"] == 0.0
    assert round(data["counterexample"]["truth"], 6) == 1.35858
    assert data["assumption"] == "labels_sum_to_one"


def test_text_report():
    code, out, err = run("-P_j*(1-a_j)*x_i")
    assert (code, err) == (1, "")
    assert out == (
        "claim:      -P_j*(1-a_j)*x_i\n"
        "read as:    dH/dW_ij = -(1 - a_j)*P_j*x_i   (plain notation)\n"
        "truth:      dH/dW_ij = -(P_j - a_j)*x_i   (assuming Sum_k P_k = 1)\n"
        "verdict:    INCORRECT (exit 1)\n"
        "difference: claim - truth = -a_j*(1 - P_j)*x_i\n"
        "why:        the k != j terms of the chain rule are missing: only the diagonal k = j of the softmax Jacobian"
        " was kept\n"
        "checked:    symbolically and numerically: every entry at K = 2, d = 2, generic K and d, and 6 entries at"
        " K = 3, d = 3, at 3 random points\n"
        "counterexample: W_12 (petal length, Non-Setosa) at the seed's sample x = [1.9, 0.4], label Setosa\n"
        "            the claim gives +0.000000, the truth +1.358580 (finite differences +1.358580)\n"
    )


def test_repr_latex():
    result = check("-P_j*(1-a_j)*x_i")
    assert repr_latex(result) == (
        r"$\displaystyle \frac{\partial H}{\partial W_{ij}} \overset{?}{=} - \left(1 - a_{j}\right) P_{j} x_{i}"
        r" \quad \text{incorrect} \quad \text{claim} - \text{truth} = - a_{j} \left(1 - P_{j}\right) x_{i}$"
    )
    assert latex_parts(result)["truth"] == r"- \left(P_{j} - a_{j}\right) x_{i}"


def test_seed_checks_data():
    results = dict(seed_checks())
    assert list(results) == [name for name, _ in SOFTMAX.claims] == ["accepted answer", "student's answer"]
    assert [r.verdict for r in results.values()] == [INCORRECT, INCORRECT]
    assert all(r.as_dict()["counterexample"]["entry"] == "W_12" for r in results.values())
    accepted, student = results.values()
    assert latex_parts(accepted)["difference"] == r"- a_{j} \left(1 - P_{j}\right) x_{i}"
    assert latex_parts(student)["difference"] == r"- \left(1 - P_{j}\right) x_{i}"
    assert student.counterexample.claim == pytest.approx(-0.541420, abs=1e-6)
    assert json.loads(json.dumps(accepted.as_dict())) == accepted.as_dict()


# ---------------------------------------------------------------- leading minus sign


def test_leading_minus_in_process_with_options_after():
    code, out, _ = run("-P_j*(1-a_j)*x_i", "--exact", "--format", "json")
    assert code == 1 and json.loads(out)["claim"] == "-P_j*(1-a_j)*x_i"
    assert run("-(P_j-a_j)*x_i")[0] == 0
    assert run("--format", "json", "-(P_j-a_j)*x_i")[0] == 0


@pytest.mark.slow
def test_leading_minus_as_typed_in_a_shell():
    done = subprocess.run(
        [sys.executable, "-m", "derive", "check", "-P_j*(1-a_j)*x_i"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == run("-P_j*(1-a_j)*x_i")[1]


# ---------------------------------------------------------------- the parser


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P_j", S.P[S.j]),
        ("W_ij", S.W[S.i, S.j]),
        ("W_i_j", S.W[S.i, S.j]),
        ("W[i, j]", S.W[S.i, S.j]),
        ("W_12", S.W[1, 2]),
        (r"W_{1,2}", S.W[1, 2]),
        (r"W_{ij}", S.W[S.i, S.j]),
        ("P_1", S.P[1]),
        ("x_i^2", S.x[S.i] ** 2),
        ("x_i**2", S.x[S.i] ** 2),
        ("-x_i^2", -(S.x[S.i] ** 2)),
        ("2x_i", 2 * S.x[S.i]),
        ("0.5*x_i", S.x[S.i] / 2),
        ("sum_k(delta_kj*P_k)", S.class_sum(sp.KroneckerDelta(S.k, S.j) * S.P[S.k])),
        ("sum_k(P_k)", S.class_sum(S.P[S.k])),
        (r"\sum_k P_k", S.class_sum(S.P[S.k])),
        ("Sum(P_k, (k, 1, K))", S.class_sum(S.P[S.k])),
        ("sum_l(W_lj*x_l)", S.feature_sum(S.W[S.l, S.j] * S.x[S.l])),
        ("exp(z_j)", sp.exp(S.z[S.j])),
        (r"e^{z_j}", sp.exp(S.z[S.j])),
        (r"\log a_j", sp.log(S.a[S.j])),
        ("ln(a_j)", sp.log(S.a[S.j])),
        (r"\frac{1}{2} x_i", S.x[S.i] / 2),
        ("K*x_i", S.K * S.x[S.i]),
    ],
)
def test_notation_builds_the_engines_symbols(text, expected):
    assert parse(text).expr == expected


def test_parsed_symbols_are_the_engines():
    """Same assumptions, or derivatives would silently be 0."""
    expr = parse("a_j*x_i").expr
    assert sp.diff(expr, S.a[S.j]) == S.x[S.i]
    (index,) = parse("x_i").expr.indices
    assert index is S.i and index.is_integer and index.is_positive


def test_lhs_sets_wrt_and_notation_detection():
    assert parse("dH/db_j = a_j - P_j").wrt == S.b[S.j]
    assert parse(r"\frac{\partial H}{\partial W_{i,j}} = x_i").wrt == S.W[S.i, S.j]
    assert parse("x_i*P_j").notation == "plain"
    assert parse("x_i P_j").notation == "latex"


#: the vocabulary the softmax model's messages list
KNOWN = (
    "P_j, a_j, z_j, b_j (class index j, k, m or 1..K), x_i (feature index i, l or 1..d), W_ij, delta_kj, K, d, exp, log,"
    " sum_k(...), Sum(..., (k, 1, K)); also P[j], W[i, j], W_i_j"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("u_j", f"unknown name 'u_j'; known: {KNOWN}"),
        ("P_3", "P_3: class index 3 is out of range 1..2 (--classes)"),
        ("x_j", "x_j: the feature index must be one of i, l or 1..2, not j"),
        ("P_k", "index k is not bound by a sum (a formula for dH/dW may use only i and j freely)"),
        ("x_i**(9**9**9)", "the exponent 387420489 is outside the limit |n| <= 10"),
        ("9**9**9", "the exponent 387420489 is outside the limit |n| <= 10"),
        ("x_i**x_i", "exponents must be constant numbers (write exp(...) for e to a power)"),
        ("1000001*x_i", "the number 1000001 is larger than the limit 1000000"),
        ("1e999", "the number inf is larger than the limit 1000000"),
        ("1000000*1000000*1000000", "a constant sub-expression is larger than the limit 1e+12"),
        ("exp(100)", "exp(100.0) is larger than the limit exp(27)"),
        ("exp(exp(exp(10)))", "exp(22026.465794806718) is larger than the limit exp(27)"),
        ("log(0)", "log(0.0) is not a real number"),
        ("log(-1)*x_i", "log(-1.0) is not a real number"),
        ("1/0", "division by zero"),
        ("x_i/(P_j-P_j)", "the claim is undefined (a division by zero or the log of 0)"),
        ("(-8)**0.5", "a fractional power of a negative number is not real"),
        ("(x_i+a_j+P_j+z_j+b_j)**10", "the claim would expand to more than 120 terms"),
        ("sum_j(P_j)", "sums run over k or m (classes) or l (features), not j"),
        (r"\sum_j P_j", "sums run over k or m (classes) or l (features), not j"),
        (
            r"\sum_{k=1}^{d} P_k",
            "the sum over k runs from 1 to K, or to 2, the size K is here (another size: --classes)",
        ),
        (
            r"\input{x}",
            (
                r"character 1: unknown LaTeX command \input; known: \frac, \partial, \sum, \nabla, \left, \right, \cdot, \times,"
                r" \exp, \log, \ln, \delta, \sigma, \hat, \mathrm, \operatorname, \mathcal, \text, \top, \lambda,"
                r" \epsilon, \begin{align}, spacing"
            ),
        ),
        ("x_i.real", "character 4: '.' is not allowed here"),
        ("lambda: 1", "character 7: ':' is not allowed here"),
        ("x_i, a_j", "character 4: unexpected ','; expected + or -, =, \\\\, the end"),
        ("x_i < a_j", "character 5: character '<' is not allowed in a formula"),
        ("exp(x=1)", "character 6: unexpected '='; expected ), + or -, ,, ]"),
        ("W_1", "W_1: W takes 2 indices"),
        ("x_i = x_i = x_i", "at most one '=' (an optional left-hand side dH/dW_ij = ...)"),
        ("((x_i)", "character 1: unclosed '('"),
        ("x_i)", "character 4: unbalanced ')'"),
    ],
)
def test_bad_input_messages(text, message):
    with pytest.raises(ClaimError) as err:
        parse(text)
    assert str(err.value) == message


# ---------------------------------------------------------------- hostile input


HOSTILE = [
    "__import__('os').system('touch {marker}')",
    "__import__",
    "x_i.__class__.__mro__",
    "exp.__globals__",
    "().__class__",
    "[x for x in (1,)]",
    "{{}}",
    "x_i if 1 else 2",
    "f(x_i)",
    "open",
    "eval",
    "x_i; import os",
    "a_j:=1",
    "P_j[0]",
    "x_i" + "*x_i" * 300,
    "(" * 400 + "x_i" + ")" * 400,
    "{" * 400 + "x_i" + "}" * 400,
    "-" * 999 + "x_i",
    "x" * 1_000_000,
    "1" * 999,
    "\u0420_j*x_i",  # Cyrillic Er, looks like P
    "a_j*x_\u0456",  # Ukrainian i
    "\uff50_j",  # fullwidth p
    "x_i\x00",
    "\\" * 500,
    "e^" * 300 + "x_i",
    r"\exp" * 200 + " x_i",
    "x_i^" * 200 + "2",
    "sum_k(" * 20 + "P_k" + ")" * 20,
    "1e-30*x_i",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_is_refused_and_nothing_runs(text, tmp_path):
    marker = tmp_path / "pwned"
    code, out, err = run(text.replace("{marker}", str(marker)))
    assert code == 2 and out == ""
    assert err.startswith("derive check: error: ") and err.count("\n") == 1 and len(err) < 400
    assert not marker.exists()


# ---------------------------------------------------------------- fuzzing

TOKENS = [
    "P_j", "a_j", "x_i", "W_ij", "b_j", "z_j", "P_1", "a_2", "x_1", "k", "(", ")", "+", "-", "*", "/", "^", "**", "2",
    "0", "1.5", "exp", "log", r"\frac", "{", "}", r"\sum_k", r"\left(", r"\right)", r"\cdot", "sum_k(", "Sum(", ",",
    "=", "dH/dW_ij", r"\delta_{kj}", "_", "9", "e^", " ", "K", "(k, 1, K)", "delta_kj", "[", "]",
]  # fmt: skip


def judged(text: str) -> int:
    """A verdict, or exit 2 whose last line is the error (argparse adds its usage for option-like text)."""
    code, _, err = run(text)
    assert code in (0, 1, 2, 3), (text, err)
    assert "Traceback" not in err, text
    if code == 2:
        assert err.splitlines()[-1].startswith("derive check: error: "), text
    return code


@pytest.mark.slow
@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=120))
def test_fuzz_random_strings(text):
    judged(text)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=24))
def test_fuzz_token_sequences(tokens):
    judged("".join(tokens))


@pytest.mark.slow
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["P_j", "a_j", "x_i", "(a_j - P_j)", "(1 - a_j)", "2", "P_1", "sum_k(P_k)"]), min_size=1, max_size=4),
       st.sampled_from(["+", "-", "*"]))  # fmt: skip
def test_fuzz_well_formed_claims_agree_with_numbers(factors, op):
    """Every well-formed claim gets a verdict that matches a direct numeric comparison."""
    agrees_with_numbers(op.join(factors))


@pytest.mark.parametrize(
    ("text", "where"),
    [("(a_j - P_j)*x_i", None), ("-P_j*(1 - a_j)*x_i", "seed"), ("P_1*(a_j - P_j)*x_i", "random")],
    ids=["correct", "wrong-at-the-seed", "right-at-the-seed-only"],
)
def test_verdicts_agree_with_numbers(text, where):
    """One claim down each path of the fuzz test (the last is rare among its random claims)."""
    counter = agrees_with_numbers(text)
    assert (counter.where if counter else None) == where


def agrees_with_numbers(text: str):
    """The verdict on ``text`` agrees with values computed here (not by derive): a correct claim equals the
    gradient at the seed and at random normalised labels, an incorrect one differs from it where its
    counterexample says, by the numbers the counterexample gives.  Returns the counterexample."""
    try:
        result = check(text)
    except ClaimError as err:  # the only refusal a well-formed claim can meet is the size bound
        assert str(err) == f"the claim would expand to more than {claims.MAX_TERMS} terms"
        return None
    assert result.verdict in (CORRECT, INCORRECT)
    seed = {name: np.asarray(SOFTMAX.example[name], dtype=float) for name in "xWbP"}
    cells = [{"i": i, "j": j} for i in (1, 2) for j in (1, 2)]
    counter = result.counterexample
    if result.verdict == CORRECT:
        assert counter is None
        for sample in (seed, *(sample_of(point.values, 2, 2) for point in points(SOFTMAX, 2, 2, True))):
            values = [independently(result.claim.expr, sample, c) for c in cells]
            assert values == pytest.approx([exact_gradient(sample, c) for c in cells], abs=1e-9)
        return None
    # at the seed's one-hot sample, or (for a claim right there) at one of the comparison's random points
    sample = seed if counter.where == "seed" else random_sample(result)
    claimed, truth = independently(result.claim.expr, sample, counter.indices), exact_gradient(sample, counter.indices)
    assert (claimed, truth) == (pytest.approx(counter.claim, abs=1e-12), pytest.approx(counter.truth, abs=1e-12))
    assert abs(claimed - truth) > 1e-8
    return counter


# ---------------------------------------------------------------- an evaluator independent of derive's


def softmax_of(sample: dict) -> np.ndarray:
    """a = softmax(x W + b), computed here with NumPy."""
    z = sample["x"] @ sample["W"] + sample["b"]
    e = np.exp(z - z.max())
    return e / e.sum()


def independently(expr: sp.Expr, sample: dict, indices: dict) -> float:
    """``expr`` at one sample (arrays x, W, b, P) and entry (i, j): z and a computed by NumPy, sums written out
    and every quantity substituted by SymPy; derive's evaluator is not used."""
    (d, K), a = sample["W"].shape, softmax_of(sample)
    z = sample["x"] @ sample["W"] + sample["b"]
    numbers = {S.x[q + 1]: sample["x"][q] for q in range(d)}
    numbers |= {S.W[p + 1, q + 1]: sample["W"][p, q] for p in range(d) for q in range(K)}
    for base, vector in ((S.b, sample["b"]), (S.P, sample["P"]), (S.z, z), (S.a, a)):
        numbers |= {base[q + 1]: vector[q] for q in range(K)}
    concrete = S.instantiate(expr, K, d, {S.i: indices["i"], S.j: indices["j"]})
    return float(concrete.xreplace({q: sp.Float(v, 30) for q, v in numbers.items()}))


def exact_gradient(sample: dict, indices: dict) -> float:
    """dH/dW_ij = (a_j Sum_k P_k - P_j) x_i, for any labels, by NumPy."""
    i, j = indices["i"] - 1, indices["j"] - 1
    return float((softmax_of(sample)[j] * sample["P"].sum() - sample["P"][j]) * sample["x"][i])


def random_sample(result) -> dict:
    """The random sample of the comparison where ``result``'s counterexample was found, recovered by its labels."""
    counter = result.counterexample
    K, d = map(int, re.search(r"K = (\d+), d = (\d+)", counter.description).groups())
    labels = [float(p) for p in re.search(r"labels P = \(([^)]*)\)", counter.description).group(1).split(", ")]
    for normalised in (True, False):
        for point in points(SOFTMAX, K, d, normalised):
            sample = sample_of(point.values, K, d)
            if np.allclose(sample["P"], labels, atol=5e-7):
                return sample
    raise AssertionError(f"no random point of the comparison has the labels of {counter.description!r}")


def sample_of(values: dict, K: int, d: int) -> dict:
    """The inputs x, W, b, P of a valuation as arrays (its z and a, computed by derive, are left out)."""
    return {
        "x": np.array([values[S.x[q]] for q in range(1, d + 1)]),
        "W": np.array([[values[S.W[p, q]] for q in range(1, K + 1)] for p in range(1, d + 1)]),
        "b": np.array([values[S.b[q]] for q in range(1, K + 1)]),
        "P": np.array([values[S.P[q]] for q in range(1, K + 1)]),
    }


# ---------------------------------------------------------------- artefact and README


def test_check_artefact_is_what_derive_check_prints_for_the_seed_claims():
    """check.txt shows each of the model's claims as typed and what derive check prints for it.

    (That output/check.txt is what derive all makes is tests/test_output.py's job.)
    """
    shown = [f'$ derive check "{claim}"    # the {name}\n' + run(claim)[1] for name, claim in SOFTMAX.claims]
    assert cli.ARTEFACTS["check.txt"]() == "\n".join(shown)
    assert [name for name, _ in SOFTMAX.claims] == ["accepted answer", "student's answer"]


def test_readme_documents_bounds_and_exit_codes():
    """Each bound is the number in its own row of the README's table (a whole number, not a digit of another)."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Checking a derivation") : readme.index("**Every model.**")]
    rows = dict(re.findall(r"^\| ([^|]+?) \| (.+) \|$", section, flags=re.MULTILINE))
    bounds = {
        "length": [claims.MAX_LENGTH],
        "nesting": [claims.MAX_DEPTH],
        "syntax nodes": [claims.MAX_NODES],
        "number literals": [claims.MAX_LITERAL, claims.MAX_DECIMALS],
        "constant sub-expressions": [claims.MAX_CONSTANT, claims.MAX_EXP_ARGUMENT],
        "exponents": [claims.MAX_EXPONENT],
        "expanded size": [claims.MAX_TERMS],
        "K, d": [claims.MAX_SIZE],
    }
    for bound, values in bounds.items():
        numbers = re.findall(r"10\^\d+|\d+", rows[bound])
        assert [_readme_number(v) for v in values] == numbers[: len(values)], (bound, rows[bound])
    codes = {int(code): meaning for code, meaning in rows.items() if code.isdigit()}
    assert sorted(codes) == [0, 1, 2, 3]
    assert codes[2].startswith("bad input") and codes[3].startswith("correct only under")


def _readme_number(value: int) -> str:
    """1000 -> '1000', 10**6 -> '10^6': powers of ten above 10^4 as the README writes them."""
    if value > 10**4 and 10 ** (len(str(value)) - 1) == value:
        return f"10^{len(str(value)) - 1}"
    return str(value)


def cli_text(expr) -> str:
    from derive.printing.text import text

    return text(expr)
