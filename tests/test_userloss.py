"""User-written losses: derive gradient --expr LOSS --wrt w,b.

Exact closed forms, the recognised sigmoid/softmax/tanh patterns, finite
differences at random points for every derivative, hostile input, and the
symbolic layer's independence from the renderers.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from derive.app import cli
from derive.claims.loss import (
    LOSS_RULES,
    LossError,
    elementary,
    gradients,
    name_sigmoid,
    name_softmax,
    numeric_check,
    parse_loss,
)  # fmt: skip
from derive.core import symbols as S
from derive.core.primitives import sigmoid as sigma
from derive.core.primitives import softmax
from derive.printing.text import text

ROOT = Path(__file__).resolve().parent.parent
LOGISTIC = "-(y*log(sigmoid(w*x + b)) + (1 - y)*log(1 - sigmoid(w*x + b)))"

#: (loss, --wrt, the derivatives as printed)
CLOSED_FORMS = [
    (LOGISTIC, "w,b", ["x*(sigma(b + w*x) - y)", "sigma(b + w*x) - y"]),
    ("-y*log(1/(1 + exp(-w*x - b))) - (1 - y)*log(1 - 1/(1 + exp(-w*x - b)))", "w,b", ["x*(sigma(b + w*x) - y)", "sigma(b + w*x) - y"]),
    ("(w*x + b - y)^2/2", "w,b", ["x*(b + w*x - y)", "b + w*x - y"]),
    ("(w*x + b - y)**2", "b", ["2*(b + w*x - y)"]),
    ("log(cosh(w*x + b - y))", "w,b", ["x*tanh(b + w*x - y)", "tanh(b + w*x - y)"]),
    ("1/(1 + exp(-w*x))", "w", ["x*(1 - sigma(w*x))*sigma(w*x)"]),
    ("-log(softmax(u, v, t))", "u,v", ["softmax(u, t, v) - 1", "softmax(v, t, u)"]),
    ("-y*log(softmax(u, v)) - (1 - y)*log(softmax(v, u))", "u", ["softmax(u, v) - y"]),
    ("-sum_k(P_k*log(softmax(z_k)))", "z_j", ["a_j*Sum(P_k, (k, 1, K)) - P_j"]),
    ("-sum_k(P_k*log(exp(z_k)/sum_m(exp(z_m))))", "z_j", ["a_j*Sum(P_k, (k, 1, K)) - P_j"]),
    ("(sum_l(w_l*x_l) + b - y)^2/2", "w_i,b", ["(b - y + Sum(w_l*x_l, (l, 1, d)))*x_i", "b - y + Sum(w_l*x_l, (l, 1, d))"]),
    ("-y*log(sigmoid(sum_l(w_l*x_l) + b)) - (1 - y)*log(1 - sigmoid(sum_l(w_l*x_l) + b))", "w_i",
     ["x_i*(sigma(b + Sum(w_l*x_l, (l, 1, d))) - y)"]),
    ("(w*x + b - y)^2/2 + lam*w^2/2", "w", ["lam*w + x*(b + w*x - y)"]),
    ("sqrt(w^2 + 1)", "w", ["w/sqrt(w**2 + 1)"]),
]  # fmt: skip


@pytest.mark.parametrize(("loss", "wrt", "expected"), CLOSED_FORMS)
def test_closed_forms(loss, wrt, expected):
    assert [text(g.result) for g in gradients(loss, wrt)] == expected


@pytest.mark.parametrize(("loss", "wrt", "expected"), CLOSED_FORMS)
def test_every_derivative_matches_finite_differences(loss, wrt, expected):
    for result in gradients(loss, wrt):
        for seed in range(3):
            assert numeric_check(result, points=3, seed=seed) < 1e-6


def logistic_loss(w: float, b: float, x: float, y: float) -> float:
    """-(y log sigma(wx + b) + (1 - y) log(1 - sigma(wx + b))), in NumPy."""
    t = 1 / (1 + np.exp(-(w * x + b)))
    return -(y * np.log(t) + (1 - y) * np.log(1 - t))


def test_finite_differences_independently_of_numeric_check():
    """The logistic loss by hand: L(w + h) - L(w - h) over 2h against (sigma(wx + b) - y) x."""
    rng = np.random.default_rng(7)
    dw, db = gradients(LOGISTIC, "w,b")
    w, b, x, y = (sp.Symbol(n, real=True) for n in "wbxy")
    for _ in range(5):
        values = dict(zip((w, b, x, y), rng.normal(size=4)))
        values[y] = float(rng.uniform(0.05, 0.95))
        s = 1 / (1 + np.exp(-(values[w] * values[x] + values[b])))
        others = (values[b], values[x], values[y])
        fd = (logistic_loss(values[w] + 1e-6, *others) - logistic_loss(values[w] - 1e-6, *others)) / 2e-6
        assert float(elementary(dw.result).xreplace(values)) == pytest.approx((s - values[y]) * values[x], rel=1e-12)
        assert float(elementary(dw.result).xreplace(values)) == pytest.approx(fd, abs=1e-7)
        assert float(elementary(db.result).xreplace(values)) == pytest.approx(s - values[y], rel=1e-12)


def test_patterns_are_recognised():
    z, u, v = (sp.Symbol(n, real=True) for n in "zuv")
    assert name_sigmoid(sp.exp(-z) / (1 + sp.exp(-z)) ** 2) == sigma(z) * (1 - sigma(z))
    assert name_sigmoid(1 / (1 + sp.exp(-z))) == sigma(z)
    assert name_softmax(sp.exp(S.z[S.j]) / S.class_sum(sp.exp(S.z[S.m]), S.m)) == S.a[S.j]
    assert name_softmax(sp.exp(u) / (sp.exp(u) + sp.exp(v))) == softmax(u, v)
    assert name_softmax(sp.exp(u) + 1) == sp.exp(u) + 1  # nothing to name


def test_steps_name_their_rules_and_keep_the_value():
    dw = gradients(LOGISTIC, "w,b")[0]
    assert [s.rule for s in dw.steps] == ["differentiate", "name_sigmoid", "named_first"]
    assert dw.steps[0].rhs == sp.diff(parse_loss(LOGISTIC, "w").expr, sp.Symbol("w", real=True))
    rng = np.random.default_rng(3)
    names = sorted(elementary(dw.steps[0].rhs).free_symbols, key=str)
    values = dict(zip(names, rng.uniform(-1, 1, len(names))))
    numbers = [float(elementary(step.rhs).xreplace(values)) for step in dw.steps]
    assert numbers == pytest.approx([numbers[0]] * len(numbers), rel=1e-12)
    assert {r.name for r in LOSS_RULES} >= {"name_sigmoid", "name_softmax", "name_tanh"}


def test_symbols_are_real_and_shared_with_wrt():
    loss = parse_loss("(w*x + b - y)^2/2", "w,b")
    w = sp.Symbol("w", real=True)
    assert loss.parameters[0] == w and loss.expr.has(w)
    assert parse_loss("-sum_k(P_k*log(softmax(z_k)))", "z_j").parameters == (S.z[S.j],)


# ---------------------------------------------------------------- the command line


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(["gradient", *argv])
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def test_cli_log_cosh():
    code, out, err = run("--expr", "log(cosh(w*x + b - y))", "--wrt", "w,b")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[:3] == ["loss: L = log(cosh(b + w*x - y))", "dL/dw = x*tanh(b + w*x - y)", "dL/db = tanh(b + w*x - y)"]
    assert re.fullmatch(
        r"checked: central finite differences at 3 random points, largest relative error \d\.\de-\d\d", lines[3]
    )


def test_cli_steps_and_a_leading_minus():
    code, out, err = run("--expr", LOGISTIC, "--wrt", "w", "--steps")
    assert code == 0, err
    assert " 1. [differentiate] dL/dw = " in out and " 2. [name_sigmoid] dL/dw = x*(-y + sigma(b + w*x))" in out
    assert " 3. [named_first] dL/dw = x*(sigma(b + w*x) - y)" in out
    assert "name the sigmoid: sigma(u) = 1/(1 + exp(-u))" in out
    assert "dL/dw = x*(sigma(b + w*x) - y)\n" in out


def test_cli_as_typed_in_a_shell():
    done = subprocess.run(
        [sys.executable, "-m", "derive", "gradient", "--expr", "-y*log(sigmoid(w*x)) - (1-y)*log(1-sigmoid(w*x))", "--wrt", "w"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "dL/dw = x*(sigma(w*x) - y)" in done.stdout


def test_gradient_without_expr_is_unchanged():
    code, out, _ = run("--model", "logistic")
    assert code == 0 and out.startswith("dH/dw_i = -(y - sigma)*x_i\ndH/db = -(y - sigma)\n")


HOSTILE = [
    ("__import__('os').system('touch {marker}')", "w", "is not allowed"),
    ("__import__", "w", "character 1: unexpected '_'"),
    ("w.__class__", "w", "character 2: '.' is not allowed here"),
    ("open(w)", "w", "only the functions"),
    ("eval(w)", "w", "only the functions"),
    ("exec(w)", "w", "only the functions"),
    ("f(w)", "w", "only the functions"),
    ("[w for w in (1,)]", "w", "character 1: unexpected '['"),
    ("lambda: w", "w", "is not allowed"),
    ("w if w else w", "w", "write * between factors"),
    ("w; import os", "w", "character 2: ';' is not allowed here"),
    ("w" + "*w" * 500, "w", "more than the limit"),
    ("(" * 30 + "w" + ")" * 30, "w", "nested more than"),
    ("exp(exp(exp(w)))**10**10", "w", "outside the limit"),
    ("exp(1000)*w", "w", "larger than the limit"),
    ("w**w", "w", "exponents must be constant"),
    ("w = 1", "w", "without '='"),
    ("x**2", "w", "does not occur in the loss"),
    ("w*x", "x_i", "does not occur in the loss"),
    ("w*x", "w,w", "twice"),
    ("w*x", "w+x", "not a parameter name"),
    ("w*x", "__import__('os')", "is not allowed"),
    ("w*x", ",".join("abcdefghi"), "more than the limit 8"),
    ("w*x_i", "w", "not bound by a sum"),
    ("k*w", "w", "index letter"),
    ("2 + 3", "w", "the loss is a constant"),
    ("", "w", "the loss is empty"),
    ("w\u0430", "w", "is not allowed"),  # Cyrillic a
    ("softmax(w)", "w", "softmax takes"),
    ("log(-1)*w", "w", "not a real number"),
]


@pytest.mark.parametrize(("loss", "wrt", "message"), HOSTILE)
def test_hostile_input_exit_2_nothing_runs(loss, wrt, message, tmp_path):
    marker = tmp_path / "pwned"
    code, out, err = run("--expr", loss.replace("{marker}", str(marker)), "--wrt", wrt)
    assert code == 2 and out == "", err
    assert err.startswith("derive gradient: error: ") and err.count("\n") == 1 and len(err) < 500
    assert message in err
    assert not marker.exists()


def test_expr_needs_wrt_and_no_model_options():
    assert "give the loss with --expr" in run("--expr", "w*x")[2]
    assert "leave out --model" in run("--expr", "w*x", "--wrt", "w", "--model", "logistic")[2]


def test_loss_error_is_an_input_error():
    with pytest.raises(LossError, match="the loss has 1001 characters"):
        parse_loss("w" * 1001, "w")


def test_readme_shows_real_output():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Your own loss") :]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    shown = block.split("$ derive gradient ")[1:]
    assert len(shown) == 2
    for example in shown:
        command, output = example.split("\n", 1)
        expr = command.split('--expr "', 1)[1].split('"', 1)[0]
        wrt = command.rsplit("--wrt ", 1)[1]
        assert run("--expr", expr, "--wrt", wrt)[1] == output


# ---------------------------------------------------------------- fuzzing

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TOKENS = ["w", "b", "x", "y", "z_k", "w_i", "(", ")", "+", "-", "*", "/", "**", "^", "2", "0", "1.5", "exp", "log",
          "sigmoid", "cosh", "tanh", "sqrt", "softmax", ",", "sum_k(", "Sum(", "(k, 1, K)", " ", "[", "]", "=", "."]  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=80), st.lists(st.sampled_from(TOKENS), max_size=20).map("".join)))
def test_fuzz_parse_loss_reads_or_refuses(text):
    try:
        loss = parse_loss(text, "w")
    except LossError as err:
        assert "\n" not in str(err) and str(err)
        return
    assert loss.parameters == (sp.Symbol("w", real=True),)
