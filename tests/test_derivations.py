"""derive check on whole derivations: the seed's answer as posted, textbook derivations, one wrong step at
each position, cancelling errors, people's notations, matrix and batch forms, hostile input, the outputs."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.app import cli
from derive.claims.judge import as_dict, is_derivation, judge_text
from derive.core.models import ACCEPTED_DERIVATION, configure
from derive.notation.bounds import MAX_DERIVATION, MAX_LINES
from derive.render.judgement import report, report_latex

GOLDEN = Path(__file__).resolve().parent / "golden"

#: the accepted answer to the seed question, exactly as posted (issue 13)
POSTED = (
    r"\begin{align} \frac{\partial H}{\partial W_{i,j}} &= -\frac{\partial}{\partial W_{i,j}} \left(\sum_{k=1}^2 "
    r"P_k(x) \log Q_k(x) \right) \\ &= -\frac{\partial}{\partial W_{i,j}} \left(P_j(x) \log Q_j(x) \right) \\ "
    r"&=-\frac{P_j(x)}{Q_j(x)} \cdot \frac{\partial Q_j(x)}{\partial W_{i,j}} \\ &= - \frac{P_j(x)}{a_j(x)} \cdot "
    r"\frac{\partial a_j(x)}{\partial z_j(x)} \cdot \frac{\partial z_j(x)}{\partial W_{i,j}}\\ &=-P_j(x) "
    r"(1-a_j(x)) x_i \end{align}"
)

#: a correct derivation of dH/dW_ij for softmax regression, five lines
TEXTBOOK = [
    r"\frac{\partial H}{\partial W_{ij}} = -\sum_k P_k \frac{\partial \log a_k}{\partial W_{ij}}",
    r"= -\sum_k P_k \frac{1}{a_k} \frac{\partial a_k}{\partial z_j} x_i",
    r"= -\sum_k P_k (\delta_{kj} - a_j) x_i",
    r"= (a_j \sum_k P_k - P_j) x_i",
    r"= (a_j - P_j) x_i",
]
#: each line of TEXTBOOK made wrong (the sign of its right-hand side flipped)
WRONG = [
    r"\frac{\partial H}{\partial W_{ij}} = \sum_k P_k \frac{\partial \log a_k}{\partial W_{ij}}",
    r"= \sum_k P_k \frac{1}{a_k} \frac{\partial a_k}{\partial z_j} x_i",
    r"= \sum_k P_k (\delta_{kj} - a_j) x_i",
    r"= -(a_j \sum_k P_k - P_j) x_i",
    r"= (P_j - a_j) x_i",
]


def run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    saved = os.sys.stdin
    if stdin is not None:
        os.sys.stdin = io.StringIO(stdin)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(["check", *argv])
        except SystemExit as exit_:
            code = exit_.code
        finally:
            os.sys.stdin = saved
    return code, out.getvalue(), err.getvalue()


def marks(judgement) -> list[bool]:
    return [line.holds for line in judgement.lines]


def joined(lines: list[str]) -> str:
    return " \\\\ ".join(lines)


# ---------------------------------------------------------------- the seed's answer


def test_the_posted_answer_is_the_models_accepted_derivation():
    assert POSTED == ACCEPTED_DERIVATION


def test_posted_answer_is_wrong_at_line_two_because_the_sum_was_collapsed():
    judged = judge_text(POSTED)
    assert marks(judged) == [True, False, True, True, True]
    assert [line.equal_to_truth for line in judged.lines] == [True, False, False, False, False]
    assert judged.first_wrong_line == 2 and judged.verdict == "incorrect" and judged.exit_code == 1
    assert judged.why.startswith("the sum over k was collapsed to its k = j term: the terms with k != j are lost")
    assert report(judged).count("first wrong line: 2") == 1
    found = judged.counterexample
    assert found.entry == "W_12" and found.indices == {"i": 1, "j": 2}
    assert round(found.truth, 6) == 1.358580 and round(found.claim, 6) == 0.0  # the Non-Setosa column
    assert "label Setosa" in found.description


def test_posted_answer_from_a_file_and_from_standard_input(tmp_path):
    path = tmp_path / "answer.tex"
    path.write_text(POSTED + "\n", encoding="utf-8")
    from_file = run("--file", str(path))
    from_stdin = run("--file", "-", stdin=POSTED)
    from_argument = run(POSTED)
    assert from_file == from_stdin == from_argument
    assert from_file[0] == 1 and from_file[2] == ""


def test_golden_text_report_of_the_posted_answer():
    assert_golden("accepted-answer.txt", run(POSTED)[1])


def test_golden_latex_report_of_the_posted_answer():
    code, out, _ = run("--format", "latex", POSTED)
    assert code == 1
    assert_golden("accepted-answer.tex", out)
    assert r"\times \ \text{first wrong step}" in out and out.count(r"\checkmark") == 4


def assert_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("DERIVE_REGENERATE"):
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"regenerate with DERIVE_REGENERATE=1 pytest {__file__}"


def test_json_schema_of_the_posted_answer():
    code, out, _ = run("--format", "json", POSTED)
    data = json.loads(out)
    assert code == 1
    assert data["verdict"] == "incorrect" and data["exit_code"] == 1 and data["first_wrong_line"] == 2
    assert data["truth"] == "-(P_j - a_j)*x_i" and data["wrt"] == "W_ij" and data["model"] == "softmax"
    assert data["lost"] == "-a_j*(1 - P_j)*x_i"
    assert [line["number"] for line in data["lines"]] == [1, 2, 3, 4, 5]
    keys = {"number", "text", "read_as", "value", "equal_to_previous", "equal_to_truth", "uses_assumption"}
    assert all(set(line) == keys for line in data["lines"])
    assert [line["equal_to_previous"] for line in data["lines"]] == [True, False, True, True, True]
    assert [line["equal_to_truth"] for line in data["lines"]] == [True, False, False, False, False]
    assert data["lines"][1]["read_as"] == "-d/dW_ij(P_j*log(a_j))"
    assert data["lines"][4]["value"] == "-(1 - a_j)*P_j*x_i"
    assert data["counterexample"]["entry"] == "W_12" and data["counterexample"]["truth"] == pytest.approx(1.35858)
    assert json.loads(json.dumps(as_dict(judge_text(POSTED)))) == data


def test_json_of_a_correct_derivation_has_no_first_wrong_line():
    data = json.loads(run("--format", "json", joined(TEXTBOOK))[1])
    assert data["first_wrong_line"] is None and data["verdict"] == "correct" and data["why"] is None
    assert data["lines"][-1]["uses_assumption"] is True


# ---------------------------------------------------------------- correct derivations for every model

CORRECT = [
    ("softmax", {}, joined(TEXTBOOK)),
    (
        "softmax",
        {},
        (
            r"\frac{\partial H}{\partial b_j} = \sum_k \frac{\partial H}{\partial z_k}\frac{\partial z_k}{\partial b_j}"
            r" \\ = a_j - P_j"
        ),
    ),
    (
        "logistic",
        {},
        (
            r"\frac{\partial H}{\partial w_i} = \frac{\partial H}{\partial a}\frac{\partial a}{\partial z}"
            r"\frac{\partial z}{\partial w_i} \\ = \left(-\frac{y}{a} + \frac{1-y}{1-a}\right) a(1-a) x_i \\ = (a - y) x_i"
        ),
    ),
    ("logistic", {}, "dH/dw_i = (sigma - y) * x_i\n= x_i*sigma - y*x_i"),
    (
        "linear",
        {},
        (
            r"\frac{\partial H}{\partial w_i} = \frac{\partial}{\partial w_i} \frac{1}{2}(\hat{y} - y)^2 \\"
            r" = (\hat y - y) \frac{\partial \hat y}{\partial w_i} \\ = (\hat{y} - y) x_i"
        ),
    ),
    ("softmax", {"l2": 0.1}, r"\frac{\partial H}{\partial W_{ij}} = (a_j - P_j) x_i + \lambda W_{ij}"),
    ("softmax", {"smoothing": 0.1}, r"\frac{\partial H}{\partial W_{ij}} = (a_j - P_j) x_i"),
    ("logistic", {"l2": 0.5}, r"\frac{\partial L}{\partial w_i} = (\sigma - y) x_i + \lambda w_i"),
]


@pytest.mark.parametrize(("name", "options", "text"), CORRECT)
def test_textbook_derivations_hold_at_every_line(name, options, text):
    judged = judge_text(text, configure(name, **options))
    assert all(marks(judged)) and judged.lines[-1].equal_to_truth, report(judged)
    assert judged.exit_code == 0 and judged.why is None and judged.counterexample is None


# ---------------------------------------------------------------- one wrong step at each position


@pytest.mark.parametrize("position", range(5))
def test_one_wrong_step_is_found_where_it_is(position):
    lines = [*TEXTBOOK[:position], WRONG[position], *TEXTBOOK[position + 1 :]]
    judged = judge_text(joined(lines))
    assert judged.first_wrong_line == position + 1
    expected = [True] * 5
    expected[position] = False
    if position < 4:
        expected[position + 1] = False  # the next line is right again: the step back from the wrong line fails
    assert marks(judged) == expected
    assert judged.why.startswith("the sign is lost")
    assert judged.exit_code == 1


def test_every_line_after_a_wrong_one_may_follow_from_it():
    lines = [TEXTBOOK[0], *WRONG[1:]]
    judged = judge_text(joined(lines))
    assert marks(judged) == [True, False, True, True, True]
    assert [line.equal_to_truth for line in judged.lines] == [True, False, False, False, False]


def test_two_cancelling_errors_are_wrong_at_the_first():
    lines = [TEXTBOOK[0], TEXTBOOK[1], WRONG[2], WRONG[3], TEXTBOOK[4]]
    judged = judge_text(joined(lines))
    assert judged.lines[-1].equal_to_truth  # the result is right ...
    assert judged.first_wrong_line == 3 and judged.verdict == "incorrect"  # ... and the derivation is not
    assert marks(judged) == [True, True, False, True, False]
    assert "cancel" in report_latex(judged)


def test_a_lost_factor_x_i_is_named():
    judged = judge_text(joined([TEXTBOOK[0], "= (a_j - P_j)"]))
    assert judged.why == "the factor x_i is lost: this line is the line before divided by x_i"


def test_a_step_that_needs_the_labels_to_sum_to_one():
    text = joined(TEXTBOOK)
    assumed = judge_text(text)
    assert assumed.exit_code == 0 and [line.uses_assumption for line in assumed.lines] == [False] * 4 + [True]
    exact = judge_text(text, assume=False)
    assert exact.first_wrong_line == 5
    assert exact.why.startswith("this step holds only when the labels sum to one")
    assert exact.exit_code == 3 and exact.verdict == "correct only under an assumption"
    assert run("--exact", text)[0] == 3  # as for one formula: right only when the labels sum to one
    wrong_too = joined([*TEXTBOOK, "= (P_j - a_j) x_i"])
    assert judge_text(wrong_too, assume=False).exit_code == 1


# ---------------------------------------------------------------- people's notations

#: the prediction and the label under the names people give them, each in a correct one-line derivation
PREDICTIONS = [
    "a_j", "Q_j", "Q(x_j)", "q_j", r"\hat{y}_j", r"\hat y_j", "S_j", r"\sigma(z)_j", r"\mathrm{softmax}(z)_j",
    r"\operatorname{softmax}(z_j)", "a_j(x)",
]  # fmt: skip
LABELS = ["P_j", "P(x_j)", "P_j(x)", "y_j", "t_j"]


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_names_of_the_prediction(prediction):
    judged = judge_text(rf"\frac{{\partial H}}{{\partial W_{{i,j}}}} = \left({prediction} - P_j\right) x_i")
    assert judged.exit_code == 0, report(judged)


@pytest.mark.parametrize("label", LABELS)
def test_names_of_the_label(label):
    judged = judge_text(rf"\frac{{\partial H}}{{\partial W_{{ij}}}} = (a_j - {label}) \cdot x_i")
    assert judged.exit_code == 0, report(judged)


@pytest.mark.parametrize(
    "lhs",
    [
        r"\frac{\partial H}{\partial W_{i,j}}", r"\frac{\partial L}{\partial w_{ij}}", r"\partial H / \partial W_{ij}",
        r"\frac{\partial J}{\partial W_{ij}}", r"\frac{\partial E}{\partial W_{ij}}",
        r"\frac{\partial \mathcal{L}}{\partial W_{ij}}", "dH/dW_ij",
    ],
)  # fmt: skip
def test_left_hand_sides(lhs):
    assert judge_text(f"{lhs} = (a_j - P_j) x_i").exit_code == 0


def test_a_line_may_write_out_the_loss_before_differentiating_it():
    text = r"H(P, Q) = -\sum_k P_k \log Q_k \\ \frac{\partial H}{\partial W_{ij}} = (Q_j - P_j) x_i"
    judged = judge_text(text)
    assert judged.exit_code == 0 and [line.line.aside for line in judged.lines] == [True, False]
    assert all(line.equal_to_truth for line in judged.lines)  # line 1 against the loss, line 2 the gradient
    wrong = judge_text(r"H = -\sum_k P_k \log Q_j \\ \frac{\partial H}{\partial W_{ij}} = (Q_j - P_j) x_i")
    assert wrong.first_wrong_line == 1 and not wrong.lines[0].equal_to_truth
    assert judge_text(r"\frac{\partial H(P,Q)}{\partial W_{ij}} = (Q_j - P_j) x_i").exit_code == 0


@pytest.mark.parametrize(
    "sum_",
    [r"\sum_k", r"\sum_{k=1}^K", r"\sum_{k=1}^{K}", r"\sum_{k=1}^2"],
)
def test_sums_with_or_without_limits(sum_):
    text = rf"\frac{{\partial H}}{{\partial W_{{ij}}}} = -{sum_} P_k (\delta_{{kj}} - a_j) x_i"
    judged = judge_text(text)
    assert judged.exit_code == 0
    assert judged.written.concrete == (sum_ == r"\sum_{k=1}^2")  # ^2 fixes K = 2


@pytest.mark.parametrize(
    "environment",
    ["align", "align*", "aligned", "equation", "split"],
)
def test_environments_breaks_and_alignment(environment):
    body = r"\frac{\partial H}{\partial W_{ij}} &= -\sum_k P_k (\delta_{kj} - a_j) x_i \\ &= (a_j - P_j) x_i"
    text = rf"\begin{{{environment}}} {body} \end{{{environment}}}"
    assert marks(judge_text(text)) == [True, True]


def test_a_chain_on_one_line_is_two_steps():
    judged = judge_text(r"\frac{\partial H}{\partial W_{ij}} = (a_j - P_j) x_i = x_i a_j - x_i P_j = x_i P_j")
    assert len(judged.lines) == 1 and len(judged.lines[0].steps) == 3
    assert [step.kind for step in judged.lines[0].steps] == ["uses the assumption", "holds", "wrong"]
    assert judged.compared_with == "the side before"


def test_annotations_spacing_and_sizing_are_ignored():
    text = (
        r"\frac{\partial H}{\partial W_{ij}} &= \left( a_j - P_j \right) \cdot x_i \, \text{(chain rule)} \\"
        r" &= \Big( a_j - P_j \Big) \; x_i \quad \nonumber"
    )
    assert judge_text(text).exit_code == 0


def test_derivative_operators_mean_what_the_model_makes_them_mean():
    term = judge_text(r"\frac{\partial H}{\partial W_{ij}} = -\frac{\partial}{\partial W_{i,j}}(P_j \log Q_j)")
    assert term.exit_code == 1  # only the k = j term of the loss
    chain = judge_text(
        r"\frac{\partial H}{\partial W_{ij}} = -\sum_k \frac{P_k}{a_k}\frac{\partial a_k}{\partial z_j}"
        r"\frac{\partial z_j}{\partial W_{ij}} \\ = -\sum_k \frac{P_k}{a_k} a_k (\delta_{kj} - a_j) x_i"
    )
    assert chain.exit_code == 0
    derivative = judge_text(r"\frac{\partial H}{\partial b_j} = \frac{d a_j}{d z_j} \\ = a_j (1 - a_j)")
    assert marks(derivative) == [False, True]  # da_j/dz_j is a_j(1 - a_j), which is not dH/db_j


def test_the_report_shows_how_each_line_was_read():
    out = run(joined([r"\frac{\partial H}{\partial W_{ij}} = (\hat{y}_j - y_j) x_i", r"= (Q_j(x) - t_j) x_i"]))[1]
    assert out.count("read as: = (-P_j + a_j)*x_i") == 2


# ---------------------------------------------------------------- ambiguous names and --let


def test_an_ambiguous_name_is_refused_with_a_suggestion():
    code, out, err = run(r"\frac{\partial H}{\partial W_{ij}} = (p_j - P_j) x_i")
    assert code == 2 and out == ""
    assert err == (
        "derive check: error: p is ambiguous: p is the label in some books and the prediction in others;"
        ' say which with --let "p=a" (the prediction) or --let "p=P" (the label)\n'
    )


@pytest.mark.parametrize(("let", "code"), [("p=a", 0), ("p=P", 1), ("yy=a", 0)])
def test_let_declares_what_a_name_means(let, code):
    name = let.split("=")[0]
    text = rf"\frac{{\partial H}}{{\partial W_{{ij}}}} = ({name}_j - P_j) x_i \\ = (a_j - P_j) x_i"
    assert run("--let", let, text)[0] == code


@pytest.mark.parametrize(
    ("let", "message"),
    [("p", "write NAME=MEANING"), ("p=banana", "the meaning must be one of the names"), ("=a", "NAME=MEANING")],
)
def test_bad_let(let, message):
    code, _, err = run("--let", let, "dH/dW_ij = (p_j - P_j) x_i")
    assert code == 2 and message in err and err.count("\n") == 1


# ---------------------------------------------------------------- a class fixed by the left-hand side


def test_a_derivation_for_one_class():
    right = judge_text(r"\frac{\partial H}{\partial W_{i,1}} = (a_1 - P_1) x_i")
    assert right.exit_code == 0 and str(right.written.wrt) == "W[i, 1]"
    wrong = judge_text(
        r"\frac{\partial H}{\partial W_{i,1}} = -\sum_k P_k \frac{\partial \log a_k}{\partial W_{i,1}} \\"
        r" = -P_1 (1 - a_1) x_i"
    )
    assert wrong.first_wrong_line == 2
    assert wrong.why.startswith("the sum over k was collapsed to its k = 1 term")
    assert wrong.counterexample.entry == "W_11"


def test_the_askers_own_answer_needs_the_other_label_to_show_it_is_wrong():
    """-(1-a_1)x_i(P_1+P_2) is the truth at the seed's Setosa label: the counterexample must try Non-Setosa."""
    code, out, _ = run(r"\frac{\partial H}{\partial W_{i,1}} = -(1-a_1)x_i(P_1+P_2)")
    assert code == 1
    assert "W_11 (petal length, Setosa) at the seed's sample x = [1.9, 0.4], label Non-Setosa" in out
    assert "the left-hand side gives +0.541420, line 1 gives -1.358580" in out


# ---------------------------------------------------------------- matrix and batch forms


@pytest.mark.parametrize(
    "text",
    [
        r"\nabla_W H = x(a - P)^\top",
        r"\frac{\partial H}{\partial W} = x (a-P)^T",
        r"\nabla_W H = x (a - P)^\intercal \\ = x a^T - x P^T",
    ],
)
def test_matrix_forms_in_the_seeds_layout(text):
    assert judge_text(text).exit_code == 0


def test_the_transposed_matrix_form_is_called_the_transpose():
    judged = judge_text(r"\nabla_W H = x(a - P)^\top \\ = (a - P) x^\top")
    assert marks(judged) == [True, False]
    assert judged.why.startswith("this line is the transpose of the line before (K x d)")
    assert "numerator layout" in judged.why


@pytest.mark.parametrize(
    ("text", "code", "why"),
    [
        (r"\nabla_W H = X^\top (A - P) / N", 0, None),
        (r"\nabla_W H = \frac{1}{N} X^\top (\hat{Y} - Y)", 0, None),
        (r"\frac{\partial H}{\partial W} = X^T(A - Y)/N \\ = \frac{1}{N}(X^T A - X^T Y)", 0, None),
        (r"\nabla_W H = X^\top (A - P)", 1, "the 1/N of the mean is lost"),
        (r"\nabla_W H = X^\top (A - P) / N^2", 1, "this line divides by N once more"),
        (r"\nabla_W H = X^\top (P - A) / N", 1, "the sign is lost"),
        (r"\nabla_W H = (A - P)^\top X / N", 1, "this line is the transpose"),
    ],
)
def test_batch_forms(text, code, why):
    judged = judge_text(text, batched=True)
    assert judged.exit_code == code, report(judged)
    assert (judged.why or None) == why or judged.why.startswith(why)
    assert run("--batch", text)[0] == code


def test_batch_form_with_the_l2_penalty():
    judged = judge_text(r"\nabla_W H = X^\top (A - P) / N + \lambda W", configure("softmax", l2=0.1), batched=True)
    assert judged.exit_code == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--batch", "--model", "logistic", r"\nabla_w H = X^T(A - P)/N"], "--batch reads softmax regression's"),
        (["--batch", "dH/dW_ij = (a_j - P_j) x_i"], "--batch reads a matrix form"),
        (["--batch", r"\nabla_W H = X^T(A - P)/N \\ = (a_j - P_j) x_i"], "line 2: a batch form's lines are matrices"),
    ],
)
def test_batch_refusals(argv, message):
    code, _, err = run(*argv)
    assert code == 2 and message in err and err.count("\n") == 1


# ---------------------------------------------------------------- unreadable and hostile input


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (r"\input{/etc/passwd}", r"unknown LaTeX command \input"),
        (r"\write18{rm -rf /}", r"unknown LaTeX command \write"),
        (r"\def\x{1} \x = 1", r"unknown LaTeX command \def"),
        (r"\catcode`\^=7", "not allowed in a formula"),
        ('__import__("os").system("true") = 1', "not allowed in a formula"),
        (r"dH/dW_ij = \x41", r"unknown LaTeX command \x"),
        ("dH/dW_ij = x_i \\\\ = (x_i", "unclosed '('"),
        ("dH/dW_ij = x_i \\\\ = x_i +", "line 2, character 9: the formula ends too early"),
        ("dH/dW_ij = x_i \\\\ = x_i ^ ^ 2", "line 2, character 10: unexpected '^'"),
        ("(" * 30 + "x_i" + ")" * 30, "nested more than 24 deep"),
        ("dH/dW_ij = x_i \\\\ x_i", "line 2 has no equals sign"),
        (" \\\\ ".join(["dH/dW_ij = x_i"] + ["= x_i"] * MAX_LINES), "more than the limit 20"),
    ],
)
def test_unreadable_and_hostile_input_exits_2_with_one_line(text, message, tmp_path):
    path = tmp_path / "derivation.tex"
    path.write_text(text, encoding="utf-8")
    code, out, err = run("--file", str(path))
    assert code == 2 and out == ""
    assert err.startswith("derive check: error: ") and err.count("\n") == 1, err
    assert message in err, err


def test_a_megabyte_is_refused_after_reading_only_the_limit(tmp_path):
    path = tmp_path / "big.tex"
    path.write_text("a_j + " * 200_000, encoding="utf-8")
    code, _, err = run("--file", str(path))
    assert (
        code == 2
        and err
        == f"derive check: error: the derivation has {MAX_DERIVATION + 1} characters, more than the limit {MAX_DERIVATION}\n"
    )


def test_a_missing_file_and_a_directory(tmp_path):
    assert run("--file", str(tmp_path / "none.tex"))[2].endswith("No such file or directory\n")
    code, _, err = run("--file", str(tmp_path))
    assert code == 2 and err.startswith(f"derive check: error: cannot read {tmp_path}")


def test_what_makes_text_a_derivation():
    assert is_derivation("a = b = c") and is_derivation(r"a \\ = b") and is_derivation("x &= y")
    assert not is_derivation("dH/dW_ij = (a_j - P_j)*x_i") and not is_derivation("Sum(P_k, (k, 1, K))")


# ---------------------------------------------------------------- fuzzing

LINES = [
    r"\frac{\partial H}{\partial W_{ij}}", "dH/dW_ij", r"\nabla_W H", "=", "&=", r"\\", "(a_j - P_j) x_i",
    r"\sum_k P_k", r"\frac{\partial}{\partial W_{ij}}", r"\left(", r"\right)", r"\log Q_k(x)", "x_i", "-", "+",
    r"\cdot", r"\frac{\partial a_k}{\partial z_j}", r"(\delta_{kj} - a_j)", "^\\top", "(x)", "X^T", "/N", "{", "}",
    r"\begin{align}", r"\end{align}", r"\text{chain}", "p_j", r"\hat{y}_j", "2", "0",
]  # fmt: skip


@pytest.mark.slow
@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(LINES), max_size=30), st.booleans())
def test_fuzzed_derivations_get_a_verdict_or_one_line(tokens, batched):
    """Any sequence of derivation pieces: a verdict (exit 0 or 1) or exit 2 with one line, never a traceback."""
    argv = ["--batch"] if batched else []
    code, out, err = run(*argv, " ".join(tokens) or "=")
    assert code in (0, 1, 2, 3), err  # 3: a single formula correct only under Sum_k P_k = 1 (--exact is off)
    if code == 2:
        assert err.startswith("derive check: error: ") and err.count("\n") == 1 and out == "", err
    else:
        assert f"(exit {code})" in out and err == ""


@pytest.mark.slow
@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([*"\\{}()[]^_&=+-*/ .,$%#~'\"\n", "a_j", "x_i", "P_j"]), max_size=60).map("".join))
def test_fuzzed_characters_never_crash(text):
    code, _, err = run("--file", "-", stdin=text)
    assert code in (0, 1, 2, 3) and "Traceback" not in err
    if code == 2:
        assert err.count("\n") == 1


# ---------------------------------------------------------------- what people add around the mathematics


@pytest.mark.parametrize(
    "text",
    [
        r"\frac{\partial H}{\partial W_{ij}} = (\hat y_j - y_j) x_i \quad \text{where } \hat{y}_j = \mathrm{softmax}(z)_j",
        (
            "\\frac{\\partial H}{\\partial W_{ij}} &= -\\sum_k P_k (\\delta_{kj} - a_j) x_i \\\\\n"
            "&= (\\hat{y}_j - y_j) x_i && \\text{since } \\sum_k y_k = 1"
        ),
        r"\frac{\partial H}{\partial W_{ij}} = (a_j - P_j) x_i \qquad (\text{since } \sum_k P_k = 1)",
        "% the gradient\n\\frac{\\partial H}{\\partial W_{ij}} = (a_j - P_j) x_i % by the chain rule\n",
        "\ufeff\\frac{\\partial H}{\\partial W_{ij}} = (a_j - P_j) x_i.",
        r"\[ \frac{\partial H}{\partial W_{ij}} = \sum\limits_k P_k (a_j - \delta_{kj}) x_i \]",
        r"\begin{eqnarray} \frac{\partial H}{\partial W_{ij}} &=& (a_j - P_j) x_i \\ &=& x_i a_j - x_i P_j \end{eqnarray}",
        r"\frac{\partial H}{\partial W_{ij}} = \text{softmax}(z)_j x_i - P_j x_i",
        "\u2202H/\u2202W_ij = (a_j \u2013 P_j) x_i",
    ],
)
def test_annotations_comments_and_punctuation_carry_no_mathematics(text):
    code, out, err = run("--file", "-", stdin=text)
    assert code == 0, out + err


def test_a_function_before_a_sum_takes_the_whole_sum():
    text = r"\frac{\partial H}{\partial b_j} = \frac{\partial}{\partial b_j} \left( \log \sum_m e^{z_m} - \sum_k P_k z_k \right)"
    assert judge_text(text).exit_code == 0


def test_intermediate_results_are_judged_against_their_own_left_hand_side():
    text = (
        r"\frac{\partial H}{\partial z_j} = a_j - P_j \\ \frac{\partial z_j}{\partial W_{ij}} = x_i \\"
        r" \frac{\partial H}{\partial W_{ij}} = (a_j - P_j) x_i \\ \frac{\partial H}{\partial b_j} = a_j - P_j"
    )
    judged = judge_text(text)
    assert judged.exit_code == 0 and [line.line.aside for line in judged.lines] == [True, True, False, True]
    wrong = judge_text(r"\frac{\partial H}{\partial z_j} = a_j - P_j \\ \frac{\partial z_j}{\partial W_{ij}} = 2 x_i")
    assert wrong.first_wrong_line == 2 and wrong.why is None


def test_a_derivation_may_end_with_the_matrix_form():
    text = "\\frac{\\partial H}{\\partial W_{ij}} &= (a_j - P_j) x_i \\\\\n\\nabla_W H &= x(a - P)^\\top"
    assert marks(judge_text(text)) == [True, True]
    assert run(r"\nabla_W H = x(a-P)^\top")[0] == 0  # one line, as the argument: judged as a derivation


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([r"\nabla_W H = x (a - P)"], "line 1: this side is a d x 1 matrix, and the gradient by W is d x K"),
        ([r"\nabla_W H = W^\top x"], "line 1: this side is a K x 1 matrix"),
        (
            ["--batch", "--wrt", "b", r"\nabla_b H = (A - Y)^\top/N"],
            "--batch reads the batch form of the gradient by W",
        ),
        ([r"\frac{\partial H}{\partial W_{ij}} = \sum_{k=1}^{3} P_k x_i"], "or to 2, the size K is here"),
        (["dH/dW_ij = x_i \\\\\n  = x_i \\\\\n  = x_i ^ ^ 2"], "line 3, character 11: unexpected '^'"),
        (["dH/dW_ij = x_i \\\\ = (x_i"], "line 2, character 4: unclosed '('"),
    ],
)
def test_refusals_say_what_and_where(argv, message):
    code, out, err = run(*argv)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1, err


def test_one_formula_from_a_file_or_standard_input_and_with_let(tmp_path):
    path = tmp_path / "claim.txt"
    path.write_text("(a_j - P_j)*x_i\n", encoding="utf-8")
    assert run("--file", str(path))[0] == 0 and "claim:" in run("--file", str(path))[1]
    assert run("-", stdin=POSTED)[0] == 1  # "-" as the claim reads standard input too
    assert run("--let", "p=a", "(p_j - y_j)*x_i")[0] == 0


def test_the_ambiguity_hint_follows_the_model():
    _, _, err = run("--model", "logistic", r"\frac{\partial J}{\partial w_i} = (p - y) x_i")
    assert '--let "p=sigma" (the prediction) or --let "p=y" (the label)' in err
    assert run("--model", "logistic", "--let", "p=sigma", r"\frac{\partial J}{\partial w_i} = (p - y) x_i")[0] == 0


@pytest.mark.parametrize("extra", ["(K-2)*(K-3)", "(d-2)*(d-3)*(d-4)", "(K-2)*(K-3)*(K-4)*(d-2)"])
def test_a_term_that_vanishes_at_the_first_sizes_is_still_found(extra):
    code, out, _ = run(f"(a_j - P_j)*x_i + {extra}")
    assert code == 1, out


def test_a_one_line_latex_report_does_not_speak_of_later_lines():
    out = run("--format", "latex", r"\frac{\partial H}{\partial W_{ij}} = (P_j - a_j) x_i \\ = x_i P_j - x_i a_j")[1]
    assert "follow from it" in out
    one = run("--format", "latex", "dH/dW_ij = (P_j - a_j)*x_i = x_i*P_j - x_i*a_j")[1]
    assert "follow from it" not in one and "The truth is" in one
