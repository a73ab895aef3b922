"""derive check: the claims table, the notation, the verdict's numbers, hostile input and fuzzing."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.app import cli
from derive.claims import bounds as claims
from derive.claims.bounds import ClaimError
from derive.claims.claim import parse
from derive.claims.verdict import ASSUMED, CORRECT, INCORRECT, check, seed_checks
from derive.core.models import SOFTMAX
from derive.render.check import latex_parts, repr_latex
from derive.core import symbols as S
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
    ("y_j", [], 2),
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
        assert f"(exit {code})" in out


# ---------------------------------------------------------------- the verdict's content


def test_accepted_answer_difference_explanation_counterexample():
    result = check("-P_j*(1-a_j)*x_i")
    assert result.verdict == INCORRECT and result.exit_code == 1 and result.symbolic
    assert cli_text(result.difference) == "-a_j*(1 - P_j)*x_i"
    assert result.explanation.startswith("the k != j terms of the chain rule are missing")
    counter = result.counterexample
    assert (counter.where, counter.entry, counter.indices) == ("seed", "W_12", {"i": 1, "j": 2})
    assert counter.claim == 0.0
    assert f"{counter.truth:+.6f}" == "+1.358580"
    assert counter.truth == pytest.approx(worked_example().grad_W[0, 1], abs=1e-12)
    assert counter.finite_difference == pytest.approx(counter.truth, abs=1e-6)
    assert "Non-Setosa" in counter.description


def test_students_answer():
    result = check("-(1-a_j)*x_i*(P_1+P_2)")
    assert result.verdict == INCORRECT and result.claim.concrete
    assert cli_text(result.difference) == "-(1 - P_j)*x_i"
    assert "delta_kj is 1 only for k = j" in result.explanation
    assert result.counterexample.entry == "W_12"
    assert f"{result.counterexample.claim:+.6f}" == "-0.541420"
    assert result.counterexample.claim == pytest.approx(worked_example().mistakes["student's answer"][0, 1])


def test_exact_difference_and_random_counterexample():
    result = check("(a_j - P_j)*x_i", assume=False)
    assert result.verdict == ASSUMED and result.exit_code == 3
    assert cli_text(result.difference) == "(1 - Sum(P_k, (k, 1, K)))*a_j*x_i"
    counter = result.counterexample
    assert counter.where == "random" and "Sum_k P_k" in counter.description
    # the counterexample is real: the claim and the exact truth differ there by a_j x_i (1 - Sum P)
    assert abs(counter.claim - counter.truth) > 1e-3


@pytest.mark.parametrize(
    ("claim", "wrt", "explanation"),
    [
        ("(P_j - a_j)*x_i", None, "the sign is wrong"),
        ("a_j - P_j", None, "the factor dz_j/dW_ij = x_i is missing"),
        (r"-\frac{P_j}{a_j} a_j (1-a_j) x_i", None, "the k != j terms"),
        ("P_j - a_j", "b", "the sign is wrong"),
        ("-P_j*(1 - a_j)", "b", "the k != j terms"),
    ],
)
def test_named_mistakes(claim, wrt, explanation):
    assert check(claim, wrt=wrt).explanation.startswith(explanation)


def test_k_dependent_claim_is_caught_at_the_second_size():
    result = check("(a_j - P_j)*x_i*K/2")
    assert result.verdict == INCORRECT
    assert result.counterexample.where == "random" and "K = 3" in result.counterexample.description


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
    code, out, _ = run("-P_j*(1-a_j)*x_i")
    assert code == 1
    assert "difference: claim - truth = -a_j*(1 - P_j)*x_i\n" in out
    assert "the claim gives +0.000000, the truth +1.358580 (finite differences +1.358580)" in out


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


def test_leading_minus_as_typed_in_a_shell():
    done = subprocess.run(
        [sys.executable, "-m", "derive", "check", "-P_j*(1-a_j)*x_i"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert "INCORRECT (exit 1)" in done.stdout


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
        ("-x_i^2", -S.x[S.i] ** 2),
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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("y_j", "unknown name 'y_j'; known: P_j, a_j"),
        ("P_3", "class index 3 is out of range 1..2 (--classes)"),
        ("x_j", "the feature index must be one of i, l or 1..2, not j"),
        ("P_k", "index k is not bound by a sum"),
        ("x_i**(9**9**9)", "the exponent 387420489 is outside the limit |n| <= 10"),
        ("9**9**9", "the exponent 387420489 is outside the limit"),
        ("x_i**x_i", "exponents must be constant numbers"),
        ("1000001*x_i", "larger than the limit 1000000"),
        ("1e999", "larger than the limit"),
        ("1000000*1000000*1000000", "constant sub-expression is larger"),
        ("exp(100)", "exp(100.0) is larger than the limit exp(27)"),
        ("exp(exp(exp(10)))", "is larger than the limit exp(27)"),
        ("log(0)", "is not a real number"),
        ("log(-1)*x_i", "is not a real number"),
        ("1/0", "division by zero"),
        ("x_i/(P_j-P_j)", "the claim is undefined"),
        ("(-8)**0.5", "not real"),
        ("(x_i+a_j+P_j+z_j+b_j)**10", "more than 120 terms"),
        ("sum_j(P_j)", "only the functions exp, log, ln, sigmoid, sum_k, sum_m, sum_l and Sum"),
        (r"\sum_j P_j", "sums run over k or m (classes) or l (features), not j"),
        (r"\sum_{k=1}^{d} P_k", "the sum over k runs from 1 to K"),
        (r"\input{x}", "unknown LaTeX command \\input"),
        ("x_i.real", "attribute access (a.b) is not allowed"),
        ("lambda: 1", "a lambda is not allowed"),
        ("x_i, a_j", "a tuple is not allowed"),
        ("x_i < a_j", "character '<' at position 5 is not allowed"),
        ("exp(x=1)", "keyword arguments are not allowed"),
        ("W_1", "W takes 2 indices"),
        ("x_i = x_i = x_i", "at most one '='"),
        ("((x_i)", "unclosed '('"),
        ("x_i)", "unbalanced ')'"),
    ],
)
def test_bad_input_messages(text, message):
    with pytest.raises(ClaimError) as err:
        parse(text)
    assert message in str(err.value)


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
    code, out, err = run(text)
    assert code in (0, 1, 2, 3), (text, err)
    assert "Traceback" not in err, text
    if code == 2:
        assert err.splitlines()[-1].startswith("derive check: error: "), text
    return code


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=120))
def test_fuzz_random_strings(text):
    judged(text)


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=24))
def test_fuzz_token_sequences(tokens):
    judged("".join(tokens))


@settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["P_j", "a_j", "x_i", "(a_j - P_j)", "(1 - a_j)", "2", "P_1", "sum_k(P_k)"]), min_size=1, max_size=4),
       st.sampled_from(["+", "-", "*"]))  # fmt: skip
def test_fuzz_well_formed_claims_agree_with_numbers(factors, op):
    """Every well-formed claim gets a verdict that matches a direct numeric comparison at the seed."""
    text = op.join(factors)
    try:
        result = check(text)
    except ClaimError as err:  # the only refusal a well-formed claim can meet is the size bound
        assert f"more than {claims.MAX_TERMS} terms" in str(err)
        return
    truth = worked_example().grad_W
    values = np.array([[_at_seed(result.claim.expr, i, j) for j in (1, 2)] for i in (1, 2)])
    if result.verdict == CORRECT:
        assert np.allclose(values, truth)
    elif result.counterexample.where == "seed":
        c = result.counterexample
        assert values[c.indices["i"] - 1, c.indices["j"] - 1] == pytest.approx(c.claim)


def _at_seed(expr, i, j):
    from derive.core.models import SOFTMAX
    from derive.verify import checking
    from derive.verify.example import inputs

    SEED = SOFTMAX.example

    values = checking.valuation(SOFTMAX, 2, 2, inputs(SEED["x"], SEED["W"], SEED["b"], SEED["P"], SOFTMAX))
    return checking.value(expr, 2, 2, values, {S.i: i, S.j: j})


# ---------------------------------------------------------------- artefact and README


def test_check_artefact_is_up_to_date():
    made = cli.ARTEFACTS["check.txt"]()
    assert '$ derive check "-P_j*(1-a_j)*x_i"    # the accepted answer' in made
    assert "difference: claim - truth = -(1 - P_j)*x_i" in made
    path = ROOT / "output" / "check.txt"
    assert path.read_text() == made, "regenerate with: python -m derive all"


def test_readme_documents_bounds_and_exit_codes():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Checking a derivation") :]
    for value in (claims.MAX_LENGTH, claims.MAX_DEPTH, claims.MAX_NODES, claims.MAX_EXPONENT, claims.MAX_TERMS):
        assert str(value) in section
    for code in ("0", "1", "2", "3"):
        assert f"| {code} " in section


def cli_text(expr) -> str:
    from derive.printing.text import text

    return text(expr)
