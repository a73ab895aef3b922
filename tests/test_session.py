"""Interactive use: the session API, its Jupyter displays, derive shell, the example notebook."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import derive
from derive.app import cli
from derive.app import code as codegen
from derive.core import symbols as S
from derive.render.check import report
from derive.verify.example import worked_example

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
NOTEBOOK = ROOT / "examples" / "softmax_cross_entropy.ipynb"


@pytest.fixture(scope="module")
def softmax():
    return derive.model("softmax")


# ---------------------------------------------------------------- LaTeX displays, exact strings


@pytest.mark.parametrize(
    "name, options, wrt, expected",
    [
        (
            "softmax",
            {},
            "W",
            r"$\displaystyle \frac{\partial H}{\partial W_{ij}} = - \left(P_{j} - a_{j}\right) x_{i}$",
        ),
        ("softmax", {}, "b", r"$\displaystyle \frac{\partial H}{\partial b_{j}} = - \left(P_{j} - a_{j}\right)$"),
        (
            "softmax",
            {"exact": True},
            "W",
            r"$\displaystyle \frac{\partial H}{\partial W_{ij}} = - \left(P_{j} - a_{j} \sum_{k=1}^{K} P_{k}\right) x_{i}$",
        ),
        (
            "softmax",
            {"l2": 0.01},
            "W",
            r"$\displaystyle \frac{\partial H}{\partial W_{ij}} = - \left(P_{j} - a_{j}\right) x_{i} + \lambda W_{ij}$",
        ),
        ("logistic", {}, "w", r"$\displaystyle \frac{\partial H}{\partial w_{i}} = - \left(y - \sigma\right) x_{i}$"),
        ("linear", {}, "b", r"$\displaystyle \frac{\partial H}{\partial b} = \hat{y} - y$"),
    ],
)
def test_result_latex(name, options, wrt, expected):
    assert derive.model(name, **options).derivation(wrt).result._repr_latex_() == expected


def test_step_latex_and_text(softmax):
    chain = softmax.steps[0]
    assert chain._repr_latex_() == (
        r"$\displaystyle \frac{\partial H}{\partial W_{ij}} = \sum_{k=1}^{K} "
        r"\frac{\partial H}{\partial a_{k}} \frac{\partial a_{k}}{\partial z_{j}} \frac{\partial z_{j}}{\partial W_{ij}}$"
    )
    assert repr(softmax.steps[-1]) == (
        f"{len(softmax.steps):2d}. [label_first] dH/dW_ij = -(P_j - a_j)*x_i\n"
        "      write the difference with the label first, as the textbook does"
    )


def test_jacobian_latex(softmax):
    assert softmax.jacobian()._repr_latex_() == (
        r"$\displaystyle \frac{\partial a_{k}}{\partial z_{j}} = \left(\delta_{jk} - a_{j}\right) a_{k}$"
    )
    assert softmax.jacobian(2)._repr_latex_() == (
        r"$\displaystyle \frac{\partial \mathbf{a}}{\partial \mathbf{z}} = \left[\begin{matrix}"
        r"a_{1} \left(1 - a_{1}\right) & - a_{1} a_{2}\\- a_{1} a_{2} & a_{2} \left(1 - a_{2}\right)\end{matrix}\right]$"
    )


def test_jacobian_entries_are_the_derived_factor(softmax):
    matrix = softmax.jacobian(3).value
    factor = softmax.jacobian().value
    assert matrix.shape == (3, 3)
    for k in range(1, 4):
        for j in range(1, 4):
            assert (matrix[k - 1, j - 1] - factor.subs({S.k: k, S.j: j})).expand() == 0


def test_single_output_model_has_no_jacobian():
    with pytest.raises(ValueError, match="single output"):
        derive.model("logistic").jacobian(2)


# ---------------------------------------------------------------- Markdown displays


def test_step_markdown(softmax):
    assert softmax.steps[0]._repr_markdown_() == (
        r"**(1)** $W_{ij}$ enters $H$ only through $z_{j}$, which enters through every $a_{k}$:"
        "\n\n"
        "$$\n"
        r"\frac{\partial H}{\partial W_{ij}} = \sum_{k=1}^{K} \frac{\partial H}{\partial a_{k}} "
        r"\frac{\partial a_{k}}{\partial z_{j}} \frac{\partial z_{j}}{\partial W_{ij}}"
        "\n"
        "$$\n"
    )


def test_derivation_markdown_numbers_every_step_and_marks_the_assumption(softmax):
    view = softmax.derivation("W")
    markdown = view._repr_markdown_()
    for n in range(1, len(view.steps) + 1):
        assert f"**({n})**" in markdown
    assert markdown.count("(**assumption:** $\\sum_{k=1}^{K} P_{k} = 1$)") == 1
    assert markdown.endswith("- \\left(P_{j} - a_{j}\\right) x_{i}\n$$\n")


def test_gradients_markdown():
    assert derive.model("logistic").gradients()._repr_markdown_() == (
        "$$\n\\frac{\\partial H}{\\partial w_{i}} = - \\left(y - \\sigma\\right) x_{i}\n$$\n\n"
        "$$\n\\frac{\\partial H}{\\partial b} = - \\left(y - \\sigma\\right)\n$$\n\n"
        "for any labels: no assumption\n"
    )
    assert derive.model("softmax").gradients()._repr_markdown_().endswith("assuming $\\sum_{k=1}^{K} P_{k} = 1$\n")


def test_model_markdown(softmax):
    markdown = softmax._repr_markdown_()
    assert markdown.startswith("**Softmax regression with cross-entropy loss**\n\n$$\nH = - \\sum_{m=1}^{K} P_{m}")
    assert "a_{k} = \\frac{e^{z_{k}}}{\\sum_{m=1}^{K} e^{z_{m}}}" in markdown
    assert "\\frac{\\partial H}{\\partial b_{j}} = - \\left(P_{j} - a_{j}\\right)" in markdown


def test_example_markdown_holds_the_engine_numbers(softmax):
    markdown = softmax.example(lr=0.1)._repr_markdown_()
    assert (
        r"\nabla_{\mathbf{W}} H = \left[\begin{matrix}-1.358580 & 1.358580\\-0.286017 & 0.286017\end{matrix}\right]"
        in markdown
    )
    assert r"\mathbf{a} = \left[\begin{matrix}0.284958\\0.715042\end{matrix}\right]" in markdown
    assert "$H = 1.255414$" in markdown
    assert r"= \left[\begin{matrix}0.235858 & 0.364142\\0.128602 & 0.471398\end{matrix}\right]" in markdown
    assert "gradient descent" not in softmax.example()._repr_markdown_()


def test_scalar_descent_is_written_in_order():
    markdown = derive.model("logistic").example(lr=0.1)._repr_markdown_()
    assert (
        r"b' = b - \eta \frac{\partial H}{\partial b} = 0.000000 - \eta \left(-0.715042\right) = 0.071504" in markdown
    )


# ---------------------------------------------------------------- terminal text


def test_text_repr_is_the_command_line_text(softmax, capsys):
    assert cli.main(["gradient"]) == 0
    assert repr(softmax.gradients()) + "\n" == capsys.readouterr().out
    assert cli.main(["example", "--lr", "0.1"]) == 0
    assert repr(softmax.example(lr=0.1)) + "\n" == capsys.readouterr().out


def test_model_repr():
    lines = repr(derive.model("linear")).splitlines()
    assert lines[0] == "linear: Linear regression with squared error"
    assert "  dH/dw_i = (yhat - y)*x_i" in lines


# ---------------------------------------------------------------- worked examples and documents


def test_example_agrees_with_the_engine(softmax):
    view = softmax.example(x=[1.0, 2.0, 3.0], W=np.zeros((3, 3)), label=2, lr=0.5)
    engine = worked_example([1.0, 2.0, 3.0], np.zeros((3, 3)), np.zeros(3), [0.0, 1.0, 0.0], lr=0.5)
    np.testing.assert_allclose(view.grad_W, engine.grad_W)
    np.testing.assert_allclose(view.W_next, engine.W_next)
    np.testing.assert_allclose(view.a, [1 / 3] * 3)
    assert view.fd_error < 1e-6


def test_example_with_smoothing_uses_the_defined_labels():
    view = derive.model("softmax", smoothing=0.1).example(label=1)
    np.testing.assert_allclose(view.P, [0.95, 0.05])
    np.testing.assert_allclose(view.grad_b, view.a - view.P)


def test_example_with_l2_uses_its_strength():
    plain, penalised = (derive.model("logistic", l2=l2).example() for l2 in (None, 0.5))
    np.testing.assert_allclose(penalised.grad_W - plain.grad_W, 0.5 * plain.W)


@pytest.mark.parametrize(
    "name, values, message",
    [
        ("softmax", {"x": [1.0, 2.0, 3.0]}, r"x has shape \(3,\) and W \(2, 2\)"),
        ("softmax", {"b": [0.0]}, "b has shape"),
        ("softmax", {"W": np.zeros((2, 3))}, "give P"),
        ("softmax", {"label": 3}, "label 3 is out of range 1..2"),
        ("softmax", {"P": [1.5, -0.5]}, "must not be negative"),
        ("logistic", {"P": [1.0, 0.0]}, "one target"),
        ("logistic", {"W": np.zeros((2, 2))}, "a vector"),
    ],
)
def test_example_rejects_shapes_that_do_not_fit(name, values, message):
    with pytest.raises(ValueError, match=message):
        derive.model(name).example(**values)


def test_documents_are_the_command_line_documents(softmax):
    assert softmax.markdown() == (GOLDEN.parent.parent / "output" / "derivation.md").read_text(encoding="utf-8")
    assert softmax.latex() == (GOLDEN / "derivation-body.tex").read_text(encoding="utf-8")
    output = GOLDEN.parent.parent / "output"
    for name in ("logistic", "linear"):
        assert derive.model(name).markdown() == (output / "models" / f"{name}.md").read_text(encoding="utf-8")
    assert derive.model("softmax", l2=0.01).markdown() == (output / "models" / "softmax-l2.md").read_text(
        encoding="utf-8"
    )


# ---------------------------------------------------------------- derive check and derive code from a session


def test_check_is_derive_check(softmax):
    result = softmax.check("-P_j*(1-a_j)*x_i")
    assert result.verdict == "incorrect" and result.exit_code == 1
    assert result.report() == report(derive.claims.verdict.check("-P_j*(1-a_j)*x_i"))
    assert repr(result) == repr(derive.check("-P_j*(1-a_j)*x_i")) == result.report().rstrip("\n")
    assert result._repr_latex_() == (
        r"$\displaystyle \frac{\partial H}{\partial W_{ij}} \overset{?}{=} - \left(1 - a_{j}\right) P_{j} x_{i}"
        r" \quad \text{incorrect} \quad \text{claim} - \text{truth} = - a_{j} \left(1 - P_{j}\right) x_{i}$"
    )
    assert result.counterexample.entry == "W_12" and round(result.counterexample.claim, 6) == 0.0


@pytest.mark.parametrize(
    "options, claim, wrt, latex, verdict",
    [
        ({}, r"\left(a_j - P_j\right) x_i", None, None, "correct"),
        ({}, "-P_j(1-a_j)x_i", None, True, "incorrect"),
        ({}, "a_j - P_j", "b", None, "correct"),
        ({}, "a_j - 1", "b", None, "incorrect"),
        ({"exact": True}, "(a_j - P_j)*x_i", None, None, "correct only under an assumption"),
        ({"exact": True}, "(a_j*sum_k(P_k) - P_j)*x_i", None, None, "correct"),
    ],
)
def test_check_takes_wrt_latex_and_the_sessions_assumption(options, claim, wrt, latex, verdict):
    result = derive.model("softmax", **options).check(claim, wrt=wrt, latex=latex)
    assert result.verdict == verdict
    assert result.claim.wrt == (S.b[S.j] if wrt == "b" else S.W[S.i, S.j])
    assert result.claim.notation == ("latex" if latex or "\\" in claim else "plain")


def test_check_and_code_work_for_every_model():
    assert derive.model("logistic").check("-(y - sigma)*x_i").verdict == "correct"
    assert derive.model("logistic").check("(y - sigma)*x_i").verdict == "incorrect"
    assert derive.model("softmax", l2=0.01).check("(a_j - P_j)*x_i").verdict == "incorrect"
    assert derive.model("softmax", l2=0.01).check("(a_j - P_j)*x_i + lambda*W_ij").verdict == "correct"
    assert derive.model("linear").code().source == codegen.module_source("float64", "linear")
    module = derive.model("logistic", l2=0.5).code().module()
    assert module.L2 == 0.5


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: derive.model("softmax").check("__import__(x_i)"), "character 1: unexpected '_'; expected"),
        (lambda: derive.model("softmax").code("int8"), "dtype must be one of float64, float32, not 'int8'"),
    ],
)  # fmt: skip
def test_check_and_code_refuse_what_they_cannot_do_in_one_line(make, message):
    with pytest.raises(ValueError) as raised:
        make()
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_code_is_derive_codes_module(softmax, tmp_path, capsys):
    assert cli.main(["code", "--dtype", "float32", "-o", str(tmp_path)]) == 0
    capsys.readouterr()
    code = softmax.code("float32")
    assert code.source == (tmp_path / "softmax_grad_float32.py").read_text(encoding="utf-8")
    assert (
        repr(code.head(1)) == '"""Softmax regression with cross-entropy loss: loss and gradients for a batch, in NumPy.'
    )
    assert code.head(3)._repr_markdown_() == (
        '```python\n"""Softmax regression with cross-entropy loss: loss and gradients for a batch, in NumPy.\n\n'
        f"Generated by derive {derive.__version__} (``derive code --dtype float32``) from the closed forms that\n```\n"
    )
    assert repr(code) == code.source.rstrip("\n")


def test_code_module_reproduces_the_worked_example(softmax):
    """One gradient-descent step with the generated module at the seed's sample is the engine's step."""
    example = softmax.example(lr=0.1)
    module = softmax.code().module()
    X, P = example.x[None, :], example.P[None, :]
    loss, grad_W, grad_b = module.loss_and_grad(example.W, example.b, X, P)
    assert loss == pytest.approx(example.loss, abs=1e-12)
    np.testing.assert_allclose(grad_W, example.grad_W, atol=1e-12)
    np.testing.assert_allclose(example.W - 0.1 * grad_W, example.W_next, atol=1e-12)
    np.testing.assert_allclose(example.b - 0.1 * grad_b, example.b_next, atol=1e-12)


def test_public_names_keep_their_homes():
    from derive.app import session, views

    assert derive.CheckView is views.CheckView is session.CheckView and session.Code is views.Code
    assert (derive.model, derive.Session, derive.check) == (session.model, session.Session, session.check)
    assert derive.model().__class__ is session.Session


def test_import_derive_loads_no_renderer():
    code = "import sys, derive\nprint([m for m in ('jinja2', 'derive.app.session') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------- derive shell


def shell(*args, commands: str, tmp_path: Path):
    env = {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython")}
    return subprocess.run(
        [sys.executable, "-m", "derive", "shell", *args], input=commands, cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_shell_preloads_the_model_and_says_so(tmp_path):
    commands = "dW.result\nround(example.loss, 6)\nprint(sorted(k for k in dir() if k[0] != '_' and k not in ('In', 'Out', 'exit', 'quit', 'get_ipython', 'open')))\n"
    result = shell(commands=commands, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "derive shell: Softmax regression with cross-entropy loss (softmax)"
    assert "  symbols    W, b, x, z, a, P, H, i, j, k, K, d" in lines
    assert "  derived    dW = model.derivation('W'), db = model.derivation('b')  (.steps, .result)" in lines
    assert "Out[1]: dH/dW_ij = -(P_j - a_j)*x_i" in result.stdout
    assert "Out[2]: 1.255414" in result.stdout
    names = "['H', 'K', 'P', 'W', 'a', 'b', 'd', 'dW', 'db', 'example', 'i', 'init_printing', 'j', 'k', 'model', 'sp', 'x', 'z']"
    assert names in result.stdout


def test_shell_prints_sympy_pretty(tmp_path):
    result = shell(commands="sp.Sum(x[i], (i, 1, d))\n", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        " ___" in result.stdout and "  ╲" in result.stdout and "i = 1" in result.stdout
    )  # a unicode sum sign, not Sum(...)


def test_shell_for_another_model(tmp_path):
    result = shell("--model", "logistic", "--l2", "0.01", commands="dw.result\nlambda_\n", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "  symbols    w, b, x, z, sigma, y, H, i, d, lambda_" in result.stdout
    assert "Out[1]: dH/dw_i = -(y - sigma)*x_i + lambda*w_i" in result.stdout
    assert "Out[2]: λ" in result.stdout


def test_shell_for_a_model_file(tmp_path):
    result = shell("--model", "mlp", commands="dV\nmodel.expanded('b')\nexample.sizes\n", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == "derive shell: Two-layer perceptron with tanh hidden units and cross-entropy loss (mlp, a model file)"
    )
    assert "  symbols    x, P, V, c, W, b, u, g, z, a, H" in lines and "  indices    i, h, j; sizes d, M, K" in lines
    assert "Out[1]: dH/dV_ih = x_i*delta_h" in result.stdout
    assert "Out[2]: dH/db_j = -P_j + a_j" in result.stdout
    assert "Out[3]: {'d': 4, 'M': 3, 'K': 3}" in result.stdout


def test_shell_without_ipython_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "IPython", None)  # makes `import IPython` raise ImportError
    assert cli.main(["shell"]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == "derive shell: error: derive shell needs IPython: pip install 'derive-gradients[shell]' (or '.[shell]' in a checkout)\n"
    )


def test_shell_rejects_an_add_on_the_model_cannot_take(capsys):
    assert cli.main(["shell", "--model", "linear", "--smoothing", "0.1"]) == 2
    assert (
        capsys.readouterr().err == "derive shell: error: label smoothing needs class labels; model 'linear' has none\n"
    )


# ---------------------------------------------------------------- the example notebook


def outputs(notebook) -> list:
    """Every code cell's outputs, without the metadata that may vary."""
    return [
        [{k: v for k, v in out.items() if k != "metadata"} for out in cell.outputs]
        for cell in notebook.cells
        if cell.cell_type == "code"
    ]


def test_notebook_executes_and_its_committed_outputs_are_current():
    import nbformat

    from derive.app.notebook import execute

    committed = nbformat.read(NOTEBOOK, as_version=4)
    fresh = execute(NOTEBOOK)
    assert all(out["output_type"] != "error" for cell in outputs(fresh) for out in cell)
    assert all(cell for cell in outputs(committed)), "every code cell of the committed notebook holds its output"
    counts = [c.execution_count for c in committed.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))
    assert outputs(fresh) == outputs(committed), (
        'the committed notebook is stale: python -c "from derive.app.notebook import refresh; '
        "refresh('examples/softmax_cross_entropy.ipynb')\""
    )


def test_readme_transcript_is_what_derive_shell_prints(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    transcript = readme.split("```console\n$ derive shell\n", 1)[1].split("```", 1)[0]
    commands = re.findall(r"^In \[\d+\]: (.+)$", transcript, flags=re.MULTILINE)
    result = shell(commands="".join(f"{c}\n" for c in commands), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    shown = result.stdout  # IPython does not echo input read from a pipe: put the commands back
    for n, c in enumerate(commands, 1):
        shown = shown.replace(f"In [{n}]: ", f"In [{n}]: {c}\n", 1)
    shown = "\n".join(line.rstrip() for line in shown.splitlines() if line.rstrip() != f"In [{len(commands) + 1}]:")
    assert shown.strip() == transcript.strip()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: derive.model("softmax", l2=-1), r"l2 = -1 is out of range \[0, 1e\+06\)"),
        (lambda: derive.model("softmax", smoothing=2), r"smoothing = 2 is out of range \[0, 1\)"),
        (lambda: derive.model("softmax").example(x=[float("nan"), 1]), "x must hold finite numbers"),
        (lambda: derive.model("softmax").example(x=[1e300, 1]), "x must hold finite numbers of magnitude"),
        (lambda: derive.model("softmax").example(lr=-1), "the learning rate must be a positive number, not -1"),
        (lambda: derive.model("softmax").example(x=[1.0] * 51, W=[[0.0, 0.0]] * 51), "at most 50 classes and 50"),
        (lambda: derive.model("softmax").jacobian(10**6), "for 1 to 50 classes, not 1000000"),
    ],
)
def test_the_session_checks_what_it_is_given_as_the_command_line_does(call, message):
    with pytest.raises(ValueError, match=message):
        call()
