"""The model library: every model through the same pipeline; L2 and label smoothing add-ons."""

import json

import numpy as np
import pytest
import sympy as sp

from derive.app import cli
from derive.core import symbols as S
from derive.core.derivation import derive
from derive.core.models import LINEAR, LOGISTIC, MODELS, SOFTMAX, configure, with_l2, with_smoothing
from derive.printing.text import equation, text
from derive.verify.checking import check_steps
from derive.verify.example import worked_example
from derive.verify.proof import prove

ALL = [SOFTMAX, LOGISTIC, LINEAR, with_l2(SOFTMAX), with_smoothing(SOFTMAX), with_l2(LOGISTIC), with_l2(LINEAR)]


@pytest.mark.parametrize(
    "model, expected",
    [
        (LOGISTIC, ["dH/dw_i = -(y - sigma)*x_i", "dH/db = -(y - sigma)"]),
        (LINEAR, ["dH/dw_i = (yhat - y)*x_i", "dH/db = yhat - y"]),
        (with_l2(SOFTMAX), ["dH/dW_ij = -(P_j - a_j)*x_i + lambda*W_ij", "dH/db_j = -(P_j - a_j)"]),
        (with_l2(LOGISTIC), ["dH/dw_i = -(y - sigma)*x_i + lambda*w_i", "dH/db = -(y - sigma)"]),
        (with_smoothing(SOFTMAX), ["dH/dW_ij = -(P_j - a_j)*x_i", "dH/db_j = -(P_j - a_j)"]),
    ],
)
def test_closed_forms(model, expected):
    assert [equation(d.lhs, d.result) for d in (derive(model, p) for p in model.parameters)] == expected


def test_sigmoid_derivative_is_named():
    d = derive(LOGISTIC, "w")
    assert text(d.factor(sp.Derivative(S.sigma, S.logit))) == "sigma*(1 - sigma)"
    assert [s.rule for s in d.steps] == [
        "chain_rule",
        "differentiate",
        "differentiate",
        "name_sigma",
        "cancel",
        "factor",
        "differentiate",
        "collapse_delta",
        "index_in_range",
        "substitute_factors",
        "evaluate_product",
        "cancel",
        "factor",
        "label_first",
    ]


def test_l2_penalty_is_its_own_steps():
    d = derive(with_l2(SOFTMAX), "W")
    rules = [s.rule for s in d.steps]
    assert rules[-1] == "add_penalty"
    assert d.penalty_result == S.lam * S.W[S.i, S.j]
    assert equation(d.steps[0].lhs, d.steps[0].rhs).startswith("dL/dW_ij = ")  # the data term L, H = L + R
    assert derive(with_l2(SOFTMAX), "b").penalty_result == 0


def test_smoothing_proves_the_labels_still_sum_to_one():
    d = derive(with_smoothing(SOFTMAX), "W")
    label_steps = [s for s in d.steps if s.kind == "label"]
    assert label_steps[0].rhs == sp.Sum((1 - S.eps) * sp.KroneckerDelta(S.k, S.c) + S.eps / S.K, (S.k, 1, S.K))
    assert label_steps[-1].rhs == 1
    assert text(d.result) == text(derive(SOFTMAX, "W").result)


@pytest.mark.parametrize("model", ALL, ids=lambda m: m.name)
def test_every_step_keeps_the_value(model):
    for p in model.parameters:
        for classes, features in ((2, 2), (3, 4)):
            checks = check_steps(derive(model, p), classes, features, np.random.default_rng(classes))
            assert checks and all(c.ok for c in checks), [
                (c.step.rule, c.value, c.reference) for c in checks if not c.ok
            ]


@pytest.mark.parametrize("model", ALL, ids=lambda m: m.name)
def test_elementwise_proof(model):
    proof = prove(model, 3, 4)
    classes = 3 if model.output_index is not None else 1
    assert proof.entries == classes * 4 + classes
    assert proof.max_numeric_error < 1e-12


@pytest.mark.parametrize("model", ALL, ids=lambda m: m.name)
def test_worked_example_agrees_with_finite_differences(model):
    assert worked_example(model=model, lr=0.1).fd_error < 1e-8


def test_two_class_softmax_is_logistic_regression_on_the_seed():
    """sigma(z_1 - z_2) = a_1, and dH/dw_i of the logistic model is dH/dW_i1 of the softmax one."""
    softmax = worked_example()
    W, b = softmax.W, softmax.b
    logistic = worked_example(model=LOGISTIC, W=W[:, 0] - W[:, 1], b=b[0] - b[1], P=softmax.P[0])
    assert logistic.a[0] == pytest.approx(softmax.a[0], abs=1e-12)
    assert logistic.loss == pytest.approx(softmax.loss, abs=1e-12)
    np.testing.assert_allclose(logistic.grad_W, softmax.grad_W[:, 0], atol=1e-12)
    np.testing.assert_allclose(logistic.grad_W, -softmax.grad_W[:, 1], atol=1e-12)
    np.testing.assert_allclose(logistic.grad_W, [-1.358580, -0.286017], atol=5e-7)


def test_two_class_softmax_is_a_sigmoid_symbolically():
    z1, z2 = S.z[1], S.z[2]
    a1 = S.instantiate(SOFTMAX.activation_definition, 2, 1, {S.k: 1})
    sigmoid = LOGISTIC.activation_definition.subs(S.logit, z1 - z2)
    assert sp.simplify(a1 - sigmoid) == 0


def test_smoothed_example():
    e = worked_example(model=with_smoothing(SOFTMAX), P=(0.95, 0.05))
    np.testing.assert_allclose(e.grad_b, e.a - [0.95, 0.05], atol=1e-12)


def test_configure_and_registry():
    assert set(MODELS) == {"softmax", "logistic", "linear"}
    assert configure("softmax", l2=0.1, smoothing=0.1).name == "softmax+smoothing+l2"
    with pytest.raises(ValueError, match="needs class labels"):
        configure("linear", smoothing=0.1)


@pytest.mark.parametrize(
    "args, lines",
    [
        (["--model", "logistic"], ["dH/dw_i = -(y - sigma)*x_i", "dH/db = -(y - sigma)", "no assumption needed"]),
        (["--model", "linear", "--l2", "0.5"], ["dH/dw_i = (yhat - y)*x_i + lambda*w_i", "dH/db = yhat - y"]),
    ],
)
def test_gradient_command(args, lines, capsys):
    assert cli.main(["gradient", *args]) == 0
    assert capsys.readouterr().out.splitlines()[: len(lines)] == lines


def test_example_command_for_logistic(capsys):
    assert cli.main(["example", "--model", "logistic", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["a"] == pytest.approx([0.284958], abs=1e-6)
    assert data["grad_W"] == pytest.approx([-1.358580, -0.286017], abs=1e-6)


def test_example_command_with_smoothing_and_l2(capsys):
    assert cli.main(["example", "--smoothing", "0.1", "--l2", "0.01", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    P = np.array([0.95, 0.05])
    W = np.array([[0.1, 0.5], [0.1, 0.5]])
    expected = np.outer([1.9, 0.4], np.array(data["a"]) - P) + 0.01 * W
    np.testing.assert_allclose(data["grad_W"], expected, atol=1e-12)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "linear", "--smoothing", "0.1"], "label smoothing needs class labels; model 'linear' has none"),
        (["--model", "logistic", "--label", "1"], "model 'logistic' has no classes: give its target with --P"),
        (["--model", "logistic", "--W", "1 2; 3 4"], "--W: this model has one weight per feature: give one row"),
        (["--model", "logistic", "--b", "1 2"], "--b takes one number for this model (got 2)"),
        (
            ["--smoothing", "0.1", "--P", "0.5 0.5"],
            "with --smoothing the labels are defined by --label (the true class), not --P",
        ),
    ],
)
def test_model_errors(args, message, capsys):
    assert cli.main(["example", *args]) == 2
    assert capsys.readouterr() == ("", f"derive example: error: {message}\n")


def test_models_command(capsys):
    """One line per model: its name, title and summary, the model files, then the add-ons and the files."""
    assert cli.main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        *(f"{m.name.ljust(9)} {m.title}: {m.summary}" for m in (SOFTMAX, LOGISTIC, LINEAR)),
        "mlp       Two-layer perceptron with tanh hidden units and cross-entropy loss (model file; --model mlp)",
        "add-ons of the first three: --l2 LAMBDA (L2 penalty), --smoothing EPS (softmax label smoothing)",
        "your own model: --model-file FILE (a TOML file of definitions; derive models --show mlp)",
        "shipped model files: linear, logistic, mlp, softmax (derive models --show NAME)",
    ]
