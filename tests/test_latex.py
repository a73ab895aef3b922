"""The LaTeX and Markdown derivations: printer pieces, document values, golden files, PDF, errors.

The seed's documents are output/derivation.{tex,md}, what `derive all` writes; tests/test_output.py
compares them whole with the code (regenerate them with `derive all`).  tests/golden/ holds only
the documents that are not in output/ (the fragment, the exact form, K = 3); after a deliberate
change of the printer, the templates or the engine, regenerate them with

    DERIVE_REGENERATE=1 python -m pytest -q tests/test_latex.py -k golden

and read the diff before committing it.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from derive.app import cli
from derive.app.documents import compile_pdf
from derive.claims.verdict import seed_checks
from derive.core import symbols as S
from derive.core.derivation import derive, gradients
from derive.core.errors import InputError
from derive.core.models import SOFTMAX
from derive.printing.latex import Gradient, equation, index_range, latex
from derive.render.document import Tex, document, jacobian, matrix_forms, missing_term, written
from derive.render.environment import render, tex_escape
from derive.verify.example import worked_example

MISTAKES = {name: (expr, why) for name, expr, why in SOFTMAX.mistakes}

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "output"
GOLDEN = Path(__file__).resolve().parent / "golden"
REGENERATE = "DERIVE_REGENERATE=1 python -m pytest -q tests/test_latex.py -k golden"
HAS_TEX = shutil.which("pdflatex") is not None and shutil.which("pdftotext") is not None
needs_tex = pytest.mark.skipif(not HAS_TEX, reason="pdflatex and pdftotext are not installed (see .ci/run)")

W_RESULT = derive("softmax", "W").result
SEED_NUMBERS = ("1.358580", "0.284958", "1.255414")
SEED_LINES = [
    (
        r"\[ \mathbf{z} = \mathbf{W}^{T} \mathbf{x} + \mathbf{b} = \left[\begin{matrix}0.230000\\1.150000\end{matrix}\right], "
        r"\qquad \mathbf{a} = \left[\begin{matrix}0.284958\\0.715042\end{matrix}\right] \]"
    ),
    r"\[ H = - \sum_{m=1}^{2} P_{m} \log{\left(a_{m} \right)} = 1.255414 \]",
    (
        r"\[ \nabla_{\mathbf{W}} H = \mathbf{x} \left(\mathbf{a} - \mathbf{P}\right)^{T} = "
        r"\left[\begin{matrix}-1.358580 & 1.358580\\-0.286017 & 0.286017\end{matrix}\right] \]"
    ),
]


def diff(expected: str, actual: str, name: str) -> str:
    lines = difflib.unified_diff(
        expected.splitlines(True), actual.splitlines(True), f"expected/{name}", f"actual/{name}"
    )
    return "".join(lines)


# ---------------------------------------------------------------- the printer, piece by piece

W_MATRIX = sp.MatrixSymbol("W", S.d, S.K)


@pytest.mark.parametrize(
    "expr, expected",
    [
        (S.P[S.j], "P_{j}"),
        (S.a[S.j], "a_{j}"),
        (S.W[S.i, S.j], "W_{ij}"),
        (S.W[1, 12], "W_{1,12}"),
        (sp.KroneckerDelta(S.k, S.j), r"\delta_{jk}"),
        (sp.KroneckerDelta(S.k, S.m), r"\delta_{km}"),
        (S.label_total(), r"\sum_{k=1}^{K} P_{k}"),
        (sp.Sum(-S.P[S.k], (S.k, 1, S.K)), r"\sum_{k=1}^{K} \left(- P_{k}\right)"),
        (sp.Derivative(S.H, S.W[S.i, S.j]), r"\frac{\partial H}{\partial W_{ij}}"),
        (sp.Derivative(S.a[S.k], S.z[S.j]), r"\frac{\partial a_{k}}{\partial z_{j}}"),
        (W_RESULT, r"- \left(P_{j} - a_{j}\right) x_{i}"),
        (derive("softmax", "b").result, r"- \left(P_{j} - a_{j}\right)"),
        (MISTAKES["accepted answer"][0], r"- P_{j} \left(1 - a_{j}\right) x_{i}"),
        (MISTAKES["student's answer"][0], r"- \left(1 - a_{j}\right) x_{i} \sum_{k=1}^{K} P_{k}"),
        (sp.Mul(S.a[S.j], 1 - S.P[S.j], S.x[S.i], evaluate=False), r"a_{j} \left(1 - P_{j}\right) x_{i}"),
        (sp.Add(-S.P[S.j], S.a[S.j], evaluate=False), r"- P_{j} + a_{j}"),
        (sp.Float(1.3585800008), "1.358580"),
        (sp.Float(-1e-9), "0.000000"),
        (Gradient(S.H, W_MATRIX), r"\nabla_{\mathbf{W}} H"),
        (sp.MatAdd(-sp.MatrixSymbol("P", S.K, 1), sp.MatrixSymbol("a", S.K, 1)), r"\mathbf{a} - \mathbf{P}"),
    ],
)
def test_printer_pieces(expr, expected):
    assert latex(expr) == expected


def test_chain_rule_product_keeps_its_factors():
    step = next(s for s in derive("softmax", "W").steps if s.rule == "substitute_factors")
    assert latex(step.rhs) == (
        r"\sum_{k=1}^{K} \left(- \frac{P_{k}}{a_{k}}\right) \left(\left(\delta_{jk} - a_{j}\right) a_{k}\right) x_{i}"
    )


def test_equation_index_range_and_shortest_float():
    assert equation(S.H, sp.Float(1.255414), decimals=None) == "H = 1.255414"
    assert index_range(S.j, 1, S.K) == r"j = 1, \dots, K"
    assert latex(sp.Float(0.1), decimals=None) == "0.1"


def test_matrix_forms_print_and_equal_the_gradients_at_the_seed():
    forms = matrix_forms(gradients())
    assert [equation(lhs, rhs) for lhs, rhs in forms] == [
        r"\nabla_{\mathbf{W}} H = \mathbf{x} \left(\mathbf{a} - \mathbf{P}\right)^{T}",
        r"\nabla_{\mathbf{b}} H = \mathbf{a} - \mathbf{P}",
    ]
    example = worked_example()
    column = lambda v: sp.ImmutableMatrix(np.asarray(v).reshape(-1, 1))
    values = {
        sp.MatrixSymbol(n, S.d if n == "x" else S.K, 1): column(v)
        for n, v in (("x", example.x), ("a", example.a), ("P", example.P))
    }
    for (_, rhs), truth in zip(forms, (example.grad_W, example.grad_b)):
        got = np.array(rhs.xreplace(values).doit().tolist(), dtype=float)
        np.testing.assert_allclose(got.reshape(truth.shape), truth, rtol=1e-12)


def test_exact_matrix_form_keeps_the_label_total():
    (_, weights), _ = matrix_forms(gradients(assume=False))
    assert latex(weights) == r"\mathbf{x} \left(\left(\sum_{k=1}^{K} P_{k}\right) \mathbf{a} - \mathbf{P}\right)^{T}"


# ---------------------------------------------------------------- the softmax Jacobian and the mistake


def test_jacobian_from_the_engine_factor():
    J = jacobian(derive("softmax", "W"), 3, Tex())
    assert J["entry"] == r"\frac{\partial a_{k}}{\partial z_{j}} = \left(\delta_{jk} - a_{j}\right) a_{k}"
    assert J["diagonal"] == r"a_{j} \left(1 - a_{j}\right)"
    assert J["off_diagonal"] == r"- a_{j} a_{k}"
    assert J["matrix"].startswith(
        r"\frac{\partial \mathbf{a}}{\partial \mathbf{z}} = \left[\begin{matrix}a_{1} \left(1 - a_{1}\right) & - a_{1} a_{2} & - a_{1} a_{3}\\"
    )


def test_jacobian_entries_are_the_softmax_derivatives():
    """The K x K matrix of the engine's factor equals finite differences of softmax itself."""
    factor = derive("softmax", "W").factor(sp.Derivative(S.a[S.k], S.z[S.j]))
    z = np.array([0.3, -1.2, 2.0])
    a = np.exp(z) / np.exp(z).sum()
    values = {S.a[q + 1]: v for q, v in enumerate(a)}
    engine = np.array([[float(factor.subs({S.k: r, S.j: c}).xreplace(values)) for c in (1, 2, 3)] for r in (1, 2, 3)])
    h = 1e-6
    softmax = lambda v: np.exp(v) / np.exp(v).sum()
    numeric = np.array([(softmax(z + h * e) - softmax(z - h * e)) / (2 * h) for e in np.eye(3)]).T
    np.testing.assert_allclose(engine, numeric, atol=1e-9)


def test_missing_term_is_computed_by_sympy():
    derivation = derive("softmax", "W")
    accepted, _ = MISTAKES["accepted answer"]
    missing = missing_term(derivation, accepted)
    assert latex(missing) == r"a_{j} \left(1 - P_{j}\right) x_{i}"
    assert sp.expand(derivation.result - accepted - missing) == 0
    assert written((1 - S.a[1]) * S.a[1]) == sp.Mul(S.a[1], 1 - S.a[1], evaluate=False)


def test_mistake_numbers_are_truth_minus_mistake_at_the_seed():
    example = worked_example(lr=0.1)
    context = document(gradients(), example)
    accepted = context["mistakes"][0]
    assert accepted["name"] == "accepted answer"
    # the accepted answer is right for the Setosa column and wrong for the other one
    assert [row["entry"] for row in accepted["differences"]] == [
        r"\frac{\partial H}{\partial W_{12}}",
        r"\frac{\partial H}{\partial W_{22}}",
    ]
    for mistake in context["mistakes"]:
        given = example.mistakes[mistake["name"]]
        assert mistake["differences"]
        for row in mistake["differences"]:
            position = row["position"]
            assert row["dropped_value"] == pytest.approx(example.grad_W[position] - given[position], abs=1e-9)
    assert accepted["differences"][0]["dropped"] == "1.358580"


def test_check_section_holds_the_engines_verdicts_on_the_question():
    check = document(gradients(), worked_example(lr=0.1), judged=seed_checks())["check"]
    assert check["lhs"] == r"\frac{\partial H}{\partial W_{ij}}"
    assert check["assumption"] == r"\sum_{k=1}^{K} P_{k} = 1"
    assert check["sample"] == ["x_{1} = 1.9", "x_{2} = 0.4"] and check["label"] == "Setosa"
    accepted, student = check["claims"]
    assert (accepted["name"], accepted["typed"], accepted["verdict"], accepted["exit_code"]) == (
        "accepted answer", "-P_j*(1-a_j)*x_i", "incorrect", 1,
    )  # fmt: skip
    assert accepted["claim"] == r"\frac{\partial H}{\partial W_{ij}} = - P_{j} \left(1 - a_{j}\right) x_{i}"
    assert accepted["truth"] == r"\frac{\partial H}{\partial W_{ij}} = - \left(P_{j} - a_{j}\right) x_{i}"
    assert accepted["difference"] == r"- a_{j} \left(1 - P_{j}\right) x_{i}"
    assert accepted["explanation"] == (
        "the k != j terms of the chain rule are missing: only the diagonal k = j of the softmax Jacobian was kept"
    )
    assert accepted["counterexample"] == {
        "seed": True,
        "entry": r"\frac{\partial H}{\partial W_{12}}",
        "place": "petal length, Non-Setosa",
        "claim": "0.000000",
        "truth": "1.358580",
        "finite_difference": "1.358580",
    }
    assert student["typed"] == "-(1-a_j)*x_i*(P_1+P_2)" and student["verdict"] == "incorrect"
    assert student["difference"] == r"- \left(1 - P_{j}\right) x_{i}"
    assert student["counterexample"]["claim"] == "-0.541420"
    # the counterexample's truth is the worked example's gradient at that entry
    assert float(accepted["counterexample"]["truth"]) == pytest.approx(worked_example().grad_W[0, 1], abs=1e-6)


def test_check_section_without_the_assumption_judges_the_exact_form():
    exact = gradients(assume=False)
    check = document(exact, worked_example(lr=0.1, assume=False), judged=seed_checks(assume=False))["check"]
    assert check["exact"] and check["assumption"] == ""
    accepted = check["claims"][0]
    assert accepted["truth"] == (
        r"\frac{\partial H}{\partial W_{ij}} = - \left(P_{j} - a_{j} \sum_{k=1}^{K} P_{k}\right) x_{i}"
    )
    assert accepted["difference"] == r"a_{j} \left(P_{j} - \sum_{k=1}^{K} P_{k}\right) x_{i}"
    text = (GOLDEN / "derivation-exact.md").read_text(encoding="utf-8")
    assert '`derive check "-P_j*(1-a_j)*x_i" --exact` reads the claim as' in text


finite = st.floats(-3, 3, allow_nan=False)


@settings(max_examples=4, deadline=None)
@given(
    x=st.lists(finite, min_size=2, max_size=2),
    W=st.lists(finite, min_size=6, max_size=6),
    label=st.integers(0, 2),
)
def test_document_numbers_agree_with_the_engine_at_any_sample(x, W, label):
    """At random samples: each missing term is truth - mistake, and the printed gradient is the engine's."""
    P = np.eye(3)[label]
    example = worked_example(x=x, W=np.reshape(W, (2, 3)), b=(0.0, 0.0, 0.0), P=P, lr=0.1)
    context = document(gradients(), example)
    for mistake in context["mistakes"]:
        given_values = example.mistakes[mistake["name"]]
        differ = ~np.isclose(given_values, example.grad_W, rtol=1e-9, atol=1e-12)
        assert [row["position"] for row in mistake["differences"]] == [tuple(p) for p in np.argwhere(differ)]
        for row in mistake["differences"]:
            assert row["dropped_value"] == pytest.approx(
                example.grad_W[row["position"]] - given_values[row["position"]], abs=1e-9
            )
    weights = context["example"]["gradients"][0]
    assert weights.endswith(latex(sp.ImmutableMatrix(example.grad_W)))


def test_assumption_is_called_out_at_the_step_that_uses_it():
    context = document(gradients(), worked_example(lr=0.1))
    weights, biases = context["sections"]
    assert weights.assumption_steps == (19,) and biases.assumption_steps == (18,)
    main = weights.block("main")
    line = next(l for l in main.lines if l.number == 19)
    assert line.assumption == r"\sum_{k=1}^{K} P_{k} = 1"
    assert [l.number for l in main.lines if l.assumption] == [19]
    exact = document(gradients(assume=False), worked_example(lr=0.1, assume=False))
    assert not exact["assumptions"][0]["used"] and exact["sections"][0].assumption_steps == ()


def test_labels_that_do_not_sum_to_one_are_called_out(tmp_path, capsys):
    assert not document(gradients(), worked_example(lr=0.1))["example"]["assumption_fails"]
    assert cli.main(["markdown", "--P", "1 1", "-o", str(tmp_path)]) == 0
    lines = (tmp_path / "derivation.md").read_text(encoding="utf-8").splitlines()
    warning = r"These labels do not sum to one, $\sum_{k=1}^{2} P_{k} = 2.000000$: the assumption $\sum_{k=1}^{K} P_{k} = 1$ fails"
    assert [line for line in lines if line.startswith(warning)] != []
    assert cli.main(["markdown", "--P", "1 1", "--exact", "-o", str(tmp_path)]) == 0
    assert "do not sum to one" not in (tmp_path / "derivation.md").read_text(encoding="utf-8")


def test_concrete_sizes_print_concrete_sums():
    example = worked_example(x=(1.0, 2.0), W=((0.1, 0.2, 0.3), (0.4, 0.5, 0.6)), b=(0, 0, 0), P=(0, 1, 0))
    context = document(gradients(), example, sizes=(3, 2))
    assert context["sections"][0].chain.rhs == (
        r"\sum_{k=1}^{3} \frac{\partial H}{\partial a_{k}} \frac{\partial a_{k}}{\partial z_{j}} "
        r"\frac{\partial z_{j}}{\partial W_{ij}}"
    )
    assert context["jacobian"]["size"] == "K = 3"
    assert [r["indices"] for r in context["notation"][:2]] == [
        [r"i = 1, \dots, 2"],
        [r"i = 1, \dots, 2", r"j = 1, \dots, 3"],
    ]
    with pytest.raises(ValueError, match=r"sizes \(2, 2\) differ from the worked example.s \(3, 2\)"):
        document(gradients(), example, sizes=(2, 2))


# ---------------------------------------------------------------- TeX escaping and the environment


def test_tex_escape_of_special_characters():
    assert tex_escape(r"a_b % & # $ { } \ ^ ~ < > |") == (
        r"a\_b \% \& \# \$ \{ \} \textbackslash{} \textasciicircum{} \textasciitilde{} "
        r"\ensuremath{<} \ensuremath{>} \ensuremath{|}"
    )


@needs_tex
def test_escaped_names_compile_and_print_literally(tmp_path):
    name = r"class_1 100% R&D #2 $5 {x} back\slash 1 <= j"
    source = f"\\documentclass{{article}}\\begin{{document}}{tex_escape(name)}\\end{{document}}\n"
    (tmp_path / "names.pdf").write_bytes(compile_pdf(source))
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "names.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    # \_ is a rule drawn under the baseline in TeX's default (OT1) fonts: pdftotext reads it as a space
    assert name.replace("_", " ") in text


@pytest.mark.parametrize(
    "template, expression",
    [
        ("latex/body.tex.jinja", r"<%=.*?%>"),
        ("markdown/derivation.md.jinja", r"\{\{.*?\}\}"),
    ],
)
def test_templates_hold_no_math_of_their_own(template, expression):
    """Every inline $...$ of a template is made of printed formulas only."""

    text = (ROOT / "derive" / "render" / "templates" / template).read_text(encoding="utf-8")
    spans = re.findall(r"(?<!\$)\$([^$\n]+)\$(?!\$)", text)
    assert len(spans) > 20
    assert [span for span in spans if re.sub(expression, "", span).strip()] == []


def test_templates_are_strict():
    with pytest.raises(jinja2.UndefinedError):
        render("latex", "body.tex.jinja", title="only a title")


# ---------------------------------------------------------------- golden files of whole documents


def assert_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("DERIVE_REGENERATE"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    expected = path.read_text(encoding="utf-8") if path.exists() else ""
    if actual != expected:
        pytest.fail(
            f"{name} differs from tests/golden/{name}:\n{diff(expected, actual, name)}\nregenerate with: {REGENERATE}",
            pytrace=False,
        )


#: the documents not in output/: golden file -> the command that writes it
GOLDEN_RUNS = {
    "derivation-body.tex": ["latex", "--fragment"],
    "derivation-exact.md": ["markdown", "--exact", "--label", "2"],
    "derivation-K3.md": [
        "markdown",
        "--classes",
        "3",
        "--features",
        "2",
        "--x",
        "1 2",
        "--W",
        "0.1 0.2 0.3; 0.4 0.5 0.6",
        "--P",
        "0.2 0.5 0.3",
        "--lr",
        "0.5",
    ],
}


@pytest.mark.parametrize("name", GOLDEN_RUNS)
def test_golden(name, tmp_path, capsys):
    argv = GOLDEN_RUNS[name]
    assert cli.main([*argv, "-o", str(tmp_path)]) == 0
    written_file = Path(capsys.readouterr().out.split()[0])
    assert written_file.parent == tmp_path
    assert_golden(name, written_file.read_text(encoding="utf-8"))


def test_seed_document_holds_the_content_in_order():
    text = (OUTPUT / "derivation.tex").read_text(encoding="utf-8")
    order = [
        r"\section{The model and its notation}",
        r"\section{The loss}",
        r"\section{The derivation of $\frac{\partial H}{\partial W_{ij}}$}",
        r"\section{The softmax Jacobian}",
        r"\section{The assumption}",
        r"\boxed{\frac{\partial H}{\partial W_{ij}} = - \left(P_{j} - a_{j}\right) x_{i}}",
        r"\nabla_{\mathbf{W}} H = \mathbf{x} \left(\mathbf{a} - \mathbf{P}\right)^{T}",
        r"\section{The worked example}",
        r"\section{A common mistake}",
        r"\section{Check your derivation}",
        r'\texttt{derive check "-P\_j*(1-a\_j)*x\_i"} reads the claim as',
        r"\textbf{incorrect} (exit code 1)",
        r'\texttt{derive check "your formula"}',
    ]
    positions = [text.index(piece) for piece in order]
    assert positions == sorted(positions)
    # the seed's numbers, each in the equation that gives it
    lines = text.splitlines()
    assert [line for line in SEED_LINES if line not in lines] == []
    # every step but the first of each block has its justification between the aligned lines
    sections = document(gradients(), worked_example(lr=0.1))["sections"]
    continued = sum(max(len(b.lines) - 1, 0) for s in sections for b in s.blocks)
    assert text.count(r"\intertext{") == continued == 24


# ---------------------------------------------------------------- the PDF


@needs_tex
def test_pdf_holds_the_worked_example(tmp_path, capsys):
    assert cli.main(["latex", "--pdf", "-o", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "derivation.tex"), str(tmp_path / "derivation.pdf")]
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "derivation.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    for number in SEED_NUMBERS:
        assert number in text
    assert "A common mistake" in text
    assert "Check your derivation" in text and "derive check" in text


@needs_tex
def test_fragment_compiles_inside_ones_own_document(tmp_path, capsys):
    assert cli.main(["latex", "--fragment", "-o", str(tmp_path)]) == 0
    fragment = (tmp_path / "derivation-body.tex").read_text(encoding="utf-8")
    assert r"\documentclass" not in fragment and r"\begin{document}" not in fragment
    own = f"\\documentclass{{article}}\n\\usepackage{{amsmath,amssymb}}\n\\begin{{document}}\n{fragment}\\end{{document}}\n"
    (tmp_path / "own.pdf").write_bytes(compile_pdf(own))
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "own.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert all(number in text for number in SEED_NUMBERS)


# ---------------------------------------------------------------- errors: one line, exit 2, nothing lost


#: the error without TeX, as the command line words it
NO_TEX = "--pdf needs TeX, and pdflatex is not on PATH (Debian: apt-get install texlive-latex-base)"


def run_cli(argv, capsys) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


def test_pdf_without_tex_is_a_clear_error_and_writes_nothing(tmp_path, capsys, monkeypatch):
    (tmp_path / "derivation.tex").write_text("mine")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    code, err = run_cli(["latex", "--pdf", "-o", str(tmp_path)], capsys)
    assert code == 2 and err == f"derive latex: error: {NO_TEX}\n"
    assert (tmp_path / "derivation.tex").read_text() == "mine"


def test_unwritable_directory_is_one_line_and_exit_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    code, err = run_cli(["markdown", "-o", str(blocker / "sub")], capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("derive markdown: error: cannot write to")
    assert blocker.read_text() == "in the way"


@needs_tex
def test_failed_compile_is_a_one_line_error():
    with pytest.raises(InputError, match=r"^pdflatex failed: ! Undefined control sequence\.$"):
        compile_pdf("\\documentclass{article}\\begin{document}\\nosuchmacro\\end{document}\n")


def test_failed_compile_keeps_the_pdf_already_there(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "derivation.pdf").write_bytes(b"%PDF old")
    # a pdflatex that fails as TeX does: the error on a line of its own that starts with "!"
    tex = tmp_path / "bin" / "pdflatex"
    tex.parent.mkdir()
    tex.write_text("#!/bin/sh\necho 'This is pdfTeX'\necho '! Emergency stop.'\nexit 1\n")
    tex.chmod(0o755)
    monkeypatch.setenv("PATH", str(tex.parent))
    code, err = run_cli(["latex", "--pdf", "-o", str(out)], capsys)
    assert code == 2 and err == "derive latex: error: pdflatex failed: ! Emergency stop.\n"
    assert (out / "derivation.pdf").read_bytes() == b"%PDF old"
    assert sorted(p.name for p in out.iterdir()) == ["derivation.pdf", "derivation.tex"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["latex", "--fragment", "--pdf"], "--pdf compiles the standalone document"),
        (["latex", "--classes", "3"], "give both --classes and --features"),
        (["markdown", "--classes", "3", "--features", "2"], "do not match the worked example's sample"),
        (["markdown", "--x", "1 2 3"], "--x has 3 values"),
    ],
)
def test_bad_options_are_one_line_errors(argv, message, tmp_path, capsys):
    code, err = run_cli([*argv, "-o", str(tmp_path)], capsys)
    assert code == 2 and err.count("\n") == 1 and message in err
    assert list(tmp_path.iterdir()) == []


@contextlib.contextmanager
def only_the_documents():
    """derive all writes the seed's documents alone (the modules and the training plots take seconds and
    have tests of their own); the artefacts come back in their order afterwards."""
    every = dict(cli.ARTEFACTS)
    cli.ARTEFACTS.clear()
    cli.ARTEFACTS.update({name: make for name, make in every.items() if name.startswith("derivation.")})
    try:
        yield
    finally:
        cli.ARTEFACTS.clear()
        cli.ARTEFACTS.update(every)


def test_all_skips_the_pdf_without_tex_and_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    with only_the_documents():
        assert cli.main(["all", "-o", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == f"skipped derivation.pdf: {NO_TEX}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["derivation.md", "derivation.tex"]


def test_the_document_context_loads_neither_jinja2_nor_the_command_line():
    """The context is printed formulas only: rendering it (Jinja2) and writing it (the CLI) happen elsewhere."""
    code = "import sys, derive.render.document, derive.printing.latex; print('jinja2' in sys.modules, 'derive.app.cli' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
