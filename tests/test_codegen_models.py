"""Generated NumPy modules for every model: logistic, linear, the L2 add-on, label smoothing.

Each module comes from the same lowering as the softmax one (tests/test_codegen.py); here each is
checked by central finite differences, by HIPS autograd on independent losses, at extreme logits,
in float32, at N = 1, with input of every real floating dtype (and integer, boolean or complex input
refused), by ruff, and the 2-class softmax against the logistic model.  That output/ holds these
modules is tests/test_output.py's job; tests/test_taylor.py runs the Taylor test on them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from derive import __version__
from derive.app import cli
from derive.app import code as C
from derive.codegen import arrays as AR
from derive.codegen import lowering as LO
from derive.codegen import program as PR
from derive.codegen import rewrites as RW
from derive.core import symbols as S
from derive.core.derivation import derive
from derive.core.models import configure
from derive.core.strategies import chain
from derive.printing.numpy import numpy_code

ROOT = Path(__file__).resolve().parent.parent

#: (model name, l2, smoothing) of every configuration the tests generate
CONFIGS = [
    ("logistic", None, None),
    ("linear", None, None),
    ("logistic", 0.1, None),
    ("linear", 0.1, None),
    ("softmax", 0.1, None),
    ("softmax", None, 0.1),
]
IDS = ["logistic", "linear", "logistic+l2", "linear+l2", "softmax+l2", "softmax+smoothing"]
LAM = 0.03  # the penalty strength the tests pass as the l2 keyword


@cache
def source(name: str, l2: float | None = None, smoothing: float | None = None, dtype: str = "float64") -> str:
    """The module's text, generated once per configuration for all the tests here."""
    constants = {S.lam: l2} if l2 is not None else {}
    return C.module_source(dtype, configure(name, l2, smoothing), constants)


@cache
def module(name: str, l2: float | None = None, smoothing: float | None = None, dtype: str = "float64"):
    return C.load_module(source(name, l2, smoothing, dtype), C.module_name(dtype, configure(name, l2, smoothing))[:-3])


def data(name, N, d, seed=0, dtype=np.float64, K=3):
    """(params..., X, labels) for the model: scalar models get w (d,), a float b, y (N,)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, d))
    if name == "softmax":
        P = rng.random((N, K))
        P /= P.sum(axis=1, keepdims=True)
        arrays = (rng.standard_normal((d, K)), rng.standard_normal(K), X, P)
        return tuple(np.asarray(a, dtype=dtype) for a in arrays)
    y = rng.random(N) if name == "logistic" else rng.standard_normal(N)
    w = rng.standard_normal(d)
    return w.astype(dtype), float(rng.standard_normal()), X.astype(dtype), y.astype(dtype)


def keywords(l2):
    return {"l2": LAM} if l2 is not None else {}


# --------------------------------------------------------------------------- independent references (autograd)


def reference(name, l2):
    """The model's mean loss plus the penalty, written independently for HIPS autograd."""
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    def data_loss(W, b, X, Y):
        Z = X @ W + b
        if name == "logistic":
            return anp.mean(Y * anp.logaddexp(0, -Z) + (1 - Y) * anp.logaddexp(0, Z))
        if name == "linear":
            return anp.mean((Z - Y) ** 2) / 2
        return -anp.sum(Y * (Z - logsumexp(Z, axis=1, keepdims=True))) / X.shape[0]

    def total(W, b, X, Y):
        return data_loss(W, b, X, Y) + (LAM / 2 * anp.sum(W**2) if l2 is not None else 0.0)

    return total


# --------------------------------------------------------------------------- lowering


X, y, w, b, A, Z = sp.symbols("X y w b A Z")


def test_logistic_lowers_to_a_matrix_vector_product():
    """Sum_n scale*(A_n - y_n) X[n, i] is X.T @ g; the logits Sum_l w_l X[n, l] + b are X @ w + b."""
    model = configure("logistic")
    grad_w = LO.lower(LO.batch_mean(derive(model, "w").result))
    assert LO.stored(grad_w, S.w[S.i]) == AR.scale * AR.Dot(AR.Transposed(X), A - y)
    assert LO.lower(LO.batch_mean(derive(model, "b").result)).expr == AR.scale * AR.Total(A - y)
    assert PR.forward(model)[0] == (AR.Z, b + AR.Dot(X, w))


def test_linear_loss_lowers_to_an_inner_product():
    """Sum_n scale*(A_n - y_n)^2/2 is scale * vdot(A - y, A - y) / 2."""
    loss = LO.lower(LO.batch_mean(configure("linear").loss)).expr
    assert loss == AR.scale * AR.Inner(A - y, A - y) / 2
    assert numpy_code(loss) == "scale * np.vdot(A - y, A - y) / 2"


def test_penalty_comes_from_the_engine():
    """R = lambda/2 Sum W^2 lowers to l2 * vdot(W, W) / 2, its derivative lambda W_ij to l2 * W, nothing for b."""
    terms = PR.penalty(configure("softmax", l2=0.1), exact=True)
    assert {name: numpy_code(t) for name, t in terms.items()} == {
        "loss": "l2 * np.vdot(W, W) / 2",
        "dW": "W * l2",
        "db": "0",
    }


def test_logistic_code_is_the_stable_form():
    prog = PR.program(configure("logistic"))
    assert prog.loss.returns() == ("scale * (Z * (1 - y) + np.logaddexp(0, -Z)).sum()",)
    assert prog.loss_and_grad.lines() == ("t0 = np.logaddexp(0, -Z)", "t1 = np.exp(-t0) - y")
    assert prog.loss_and_grad.returns()[1:] == ("scale * (X.T @ t1)", "scale * t1.sum()")
    assert [r.name for r in prog.rewrites] == [
        "name_sigmoid",
        "sigmoid_complement",
        "log_sigmoid",
        "softplus_reflect",
        "sigmoid_by_softplus",
    ]
    assert prog.forward == ((AR.Z, b + AR.Dot(X, w)),)  # no max-shifted logits without classes


@pytest.mark.parametrize("rule", RW.STABILISE.rules[:5], ids=lambda r: r.name)
def test_each_sigmoid_rule_keeps_the_value(rule):
    """The logistic loss and gradients, evaluated before and after each rule at moderate logits."""
    model = configure("logistic")
    _, (_, activation) = PR.forward(model)
    rng = np.random.default_rng(5)
    env = {
        "np": np,
        "X": rng.standard_normal((6, 2)),
        "y": rng.random(6),
        "Z": 3 * rng.standard_normal(6),
        "scale": 0.2,
    }
    for expr in PR.outputs(model, exact=True).values():
        before = chain(*RW.STABILISE.rules[: RW.STABILISE.rules.index(rule)])(expr.xreplace({AR.A: activation}))
        after = rule(before)
        np.testing.assert_allclose(eval(numpy_code(after), env), eval(numpy_code(before), env), rtol=1e-12)


def test_an_unbounded_exponential_is_refused():
    with pytest.raises(NotImplementedError, match="exponential"):
        PR.kernel({"loss": sp.exp(Z)}, AR.A)


def test_the_code_follows_the_model():
    """A different loss gives different code: the absolute error |yhat - y| would lower to abs, not vdot."""
    from dataclasses import replace

    model = replace(configure("linear"), loss=sp.Abs(S.yhat - S.y))
    assert numpy_code(LO.lower(LO.batch_mean(model.loss)).expr) == "scale * abs(A - y).sum()"


# --------------------------------------------------------------------------- numerics


def central_differences(f, value, h=1e-6):
    if np.ndim(value) == 0:
        return (f(value + h) - f(value - h)) / (2 * h)
    out = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        step = np.zeros_like(value)
        step[index] = h
        out[index] = (f(value + step) - f(value - step)) / (2 * h)
    return out


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
@pytest.mark.parametrize("N, d", [(7, 3), (1, 4)])
def test_finite_differences(config, N, d):
    name, l2, _ = config
    gen = module(*config)
    W, b_, X_, Y = data(name, N, d, seed=N + d)
    kw = keywords(l2)
    H, dW, db = gen.loss_and_grad(W, b_, X_, Y, **kw)
    assert H == pytest.approx(gen.loss(W, b_, X_, Y, **kw), rel=1e-14)
    fd_W = central_differences(lambda V: gen.loss(V, b_, X_, Y, **kw), W)
    fd_b = central_differences(lambda c: gen.loss(W, c, X_, Y, **kw), b_)
    np.testing.assert_allclose(dW, fd_W, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, fd_b, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
@pytest.mark.parametrize("N, d", [(1, 1), (40, 5), (300, 8)])
def test_agrees_with_autograd(config, N, d):
    import autograd

    name, l2, _ = config
    gen = module(*config)
    W, b_, X_, Y = data(name, N, d, seed=d)
    f = reference(name, l2)
    H, dW, db = gen.loss_and_grad(W, b_, X_, Y, **keywords(l2))
    assert H == pytest.approx(float(f(W, b_, X_, Y)), rel=1e-12)
    np.testing.assert_allclose(dW, autograd.grad(f, 0)(W, b_, X_, Y), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(db, autograd.grad(f, 1)(W, b_, X_, Y), rtol=1e-10, atol=1e-14)


def test_linear_is_half_the_mean_squared_error():
    gen = module("linear")
    W, b_, X_, Y = data("linear", 9, 3)
    residual = X_ @ W + b_ - Y
    H, dw, db = gen.loss_and_grad(W, b_, X_, Y)
    assert H == pytest.approx(0.5 * np.mean(residual**2), rel=1e-14)
    np.testing.assert_allclose(dw, X_.T @ residual / 9, rtol=1e-13)
    assert db == pytest.approx(residual.mean(), rel=1e-13)
    assert isinstance(db, float) and dw.shape == (3,)


def extreme_logistic(dtype):
    """Logits z = 800, -800, 800, -800 with labels 1, 0, 0, 1: losses 0, 0, 800, 800."""
    X_ = np.array([[1.0], [-1.0], [1.0], [-1.0]], dtype=dtype)
    return np.array([800.0], dtype=dtype), 0.0, X_, np.array([1.0, 0.0, 0.0, 1.0], dtype=dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_logistic_at_extreme_logits(dtype):
    """Finite and exact at z = +-800, where 1/(1 + exp(-z)) and log(1 - sigma) overflow or give log 0."""
    gen = module("logistic", dtype=dtype)
    w_, b_, X_, Y = extreme_logistic(dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # exp(-800) may underflow to 0, nothing worse
        H, dw, db = gen.loss_and_grad(w_, b_, X_, Y)
    assert H == pytest.approx(400.0, rel=1e-7)
    # sigma = 1, 0, 1, 0: (sigma - y) x = 0, 0, 1, 1 -> dw = 2/4; sigma - y = 0, 0, 1, -1 -> db = 0
    np.testing.assert_allclose(dw, [0.5], rtol=1e-7)
    assert db == pytest.approx(0.0, abs=1e-7)
    assert gen.loss(w_, b_, X_, Y, reduction="sum") == pytest.approx(1600.0, rel=1e-7)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_float32(config):
    name, l2, _ = config
    gen32, gen64 = module(*config, dtype="float32"), module(*config)
    W, b_, X_, Y = data(name, 50, 6, dtype=np.float32)
    H, dW, db = gen32.loss_and_grad(W, b_, X_, Y, **keywords(l2))
    assert dW.dtype == np.float32 and isinstance(H, float)
    H64, dW64, db64 = gen64.loss_and_grad(*(np.asarray(a, dtype=np.float64) for a in (W, b_, X_, Y)), **keywords(l2))
    assert H == pytest.approx(H64, rel=1e-5)
    np.testing.assert_allclose(dW, dW64, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(db, db64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("config", CONFIGS[:4], ids=IDS[:4])
def test_penalty_once_and_reductions(config):
    """Sum reduction: N times the data term; the penalty is added once, with the strength given by l2."""
    name, l2, _ = config
    gen, plain = module(*config), module(name)
    W, b_, X_, Y = data(name, 8, 3)
    H, dW, db = plain.loss_and_grad(W, b_, X_, Y, reduction="sum")
    Hm, dWm, dbm = plain.loss_and_grad(W, b_, X_, Y)
    assert H == pytest.approx(8 * Hm, rel=1e-12)
    np.testing.assert_allclose(dW, 8 * dWm, rtol=1e-12)
    assert db == pytest.approx(8 * dbm, rel=1e-12)
    if l2 is None:
        return
    Hp, dWp, dbp = gen.loss_and_grad(W, b_, X_, Y, reduction="sum", l2=0.5)
    assert Hp == pytest.approx(H + 0.25 * W @ W, rel=1e-12)
    np.testing.assert_allclose(dWp, dW + 0.5 * W, rtol=1e-12)
    assert dbp == pytest.approx(db, rel=1e-12)
    assert gen.L2 == 0.1 and gen.loss(W, b_, X_, Y) == pytest.approx(Hm + 0.05 * W @ W, rel=1e-12)
    np.testing.assert_array_equal(gen.grad(W, b_, X_, Y, l2=0.5)[0], gen.loss_and_grad(W, b_, X_, Y, l2=0.5)[1])


def test_smoothing_module_takes_smoothed_labels():
    """With P = (1 - eps) onehot + eps/K the gradient is (a - P) x, as the derivation says."""
    gen = module("softmax", None, 0.1)
    W, b_, X_, _ = data("softmax", 6, 2, K=4)
    onehot = np.eye(4)[[0, 3, 1, 1, 2, 0]]
    P_ = 0.9 * onehot + 0.1 / 4
    _, dW, db = gen.loss_and_grad(W, b_, X_, P_)
    Z_ = X_ @ W + b_
    a = np.exp(Z_ - Z_.max(axis=1, keepdims=True))
    a /= a.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(dW, X_.T @ (a - P_) / 6, rtol=1e-12)
    np.testing.assert_allclose(db, (a - P_).mean(axis=0), rtol=1e-12)
    assert (
        "Exact for any labels: no assumption that Sum_k P_k = 1 (soft or unnormalised labels are fine).\n"
        "P must be the smoothed labels, (1 - epsilon) onehot + epsilon/K: with them the gradient is a_j - P_j\n"
        "(they sum to one), and the code, exact for any labels, computes just that.\n"
    ) in gen.__doc__


def test_blocks_add_up_with_a_penalty():
    gen = module("logistic", 0.1)
    W, b_, X_, Y = data("logistic", 2 * gen.BLOCK_ROWS + 5, 3)
    one = C.load_module(source("logistic", 0.1))
    one.BLOCK_ROWS = 1 << 40
    for got, want in zip(gen.loss_and_grad(W, b_, X_, Y), one.loss_and_grad(W, b_, X_, Y)):
        np.testing.assert_allclose(got, want, rtol=1e-11)
    assert gen.loss(W, b_, X_, Y) == pytest.approx(one.loss(W, b_, X_, Y), rel=1e-11)


# --------------------------------------------------------------------------- 2-class softmax == logistic


@pytest.mark.parametrize("N, soft", [(1, False), (25, False), (25, True)])
def test_two_class_softmax_is_logistic(N, soft):
    """z = z_1 - z_2: w = W_.1 - W_.2, b = b_1 - b_2, y = P_1; then H agrees, dw = dW_.1 = -dW_.2, db = db_1."""
    softmax, logistic = module("softmax"), module("logistic")
    rng = np.random.default_rng(N)
    X_, W, b_ = rng.standard_normal((N, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    y_ = rng.random(N) if soft else rng.integers(0, 2, N).astype(float)
    P_ = np.column_stack([y_, 1 - y_])
    H2, dW2, db2 = softmax.loss_and_grad(W, b_, X_, P_)
    H, dw, db = logistic.loss_and_grad(W[:, 0] - W[:, 1], b_[0] - b_[1], X_, y_)
    assert H == pytest.approx(H2, rel=1e-12)
    np.testing.assert_allclose(dw, dW2[:, 0], rtol=1e-11)
    np.testing.assert_allclose(-dw, dW2[:, 1], rtol=1e-11)
    assert db == pytest.approx(db2[0], rel=1e-11)


def test_two_class_softmax_is_logistic_at_the_seed():
    """The seed's sample: W = [[0.1, 0.5], [0.1, 0.5]], x = [1.9, 0.4], Setosa."""
    from derive.core.models import SOFTMAX

    SEED = SOFTMAX.example

    W = np.array(SEED["W"], dtype=float)
    x = np.array([SEED["x"]])
    H2, dW2, db2 = module("softmax").loss_and_grad(W, np.zeros(2), x, np.array([SEED["P"]], dtype=float))
    H, dw, db = module("logistic").loss_and_grad(W[:, 0] - W[:, 1], 0.0, x, np.array([1.0]))
    assert H == pytest.approx(H2, rel=1e-12) == pytest.approx(np.logaddexp(0, 0.92), rel=1e-12)
    np.testing.assert_allclose(dw, dW2[:, 0], rtol=1e-12)
    assert db == pytest.approx(db2[0], rel=1e-12)


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda w_, b_, X_, y_: (w_[:2], b_, X_, y_),
            r"shapes w \(2,\), b \(\), X \(5, 3\), y \(5,\) do not fit w \(d,\)",
        ),
        (lambda w_, b_, X_, y_: (w_, np.zeros(2), X_, y_), r"b must be a real number, not ndarray of shape \(2,\)"),
        (lambda w_, b_, X_, y_: (w_, "0", X_, y_), r"b must be a real number, not str"),
        (lambda w_, b_, X_, y_: (w_, b_, X_, y_[:, None]), r"y \(5, 1\)"),
        (lambda w_, b_, X_, y_: (w_, b_, X_.astype(np.int32), y_), r"^X has dtype int32: only real floating dtypes"),
        (lambda w_, b_, X_, y_: (w_, True, X_, y_), r"b must be a real number, not bool"),
        (lambda w_, b_, X_, y_: (w_, 1j, X_, y_), r"b must be a real number, not complex"),
        (lambda w_, b_, X_, y_: (w_, b_, X_.tolist(), y_), r"must be NumPy arrays"),
    ],
)
def test_bad_inputs(change, message):
    with pytest.raises(ValueError, match=message):
        module("logistic").loss_and_grad(*change(*data("logistic", 5, 3)))


@pytest.mark.parametrize("dtype", PR.DTYPES)
def test_bias_of_any_real_type(dtype):
    """A Python int or float, a NumPy floating scalar or 0-d array: the same numbers as DTYPE's own scalar."""
    gen = module("logistic", dtype=dtype)
    w_, _, X_, y_ = data("logistic", 5, 3, dtype=np.float16)
    biases = (1, 1.0, np.float16(1.0), np.float64(1.0), np.array(1.0, np.float32), np.longdouble(1))
    want = gen.loss_and_grad(w_.astype(dtype), gen.DTYPE.type(1), X_.astype(dtype), y_.astype(dtype))
    for bias in biases:
        H, dw, db = gen.loss_and_grad(w_, bias, X_, y_)
        assert dw.dtype == gen.DTYPE and type(H) is float and type(db) is float
        assert (H, db) == (want[0], want[2])
        np.testing.assert_array_equal(dw, want[1])


FLOATS = [np.float16, np.float32, np.float64]


@pytest.mark.parametrize("dtype", PR.DTYPES)
@pytest.mark.parametrize("given", FLOATS, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_any_real_floating_input_is_computed_in_the_modules_dtype(config, given, dtype):
    """Every model's module, in both dtypes: float16/32/64 input gives what the input cast by hand gives, exactly."""
    name, l2, _ = config
    gen = module(*config, dtype=dtype)
    W, b_, X_, Y = data(name, 7, 3, dtype=given)
    by_hand = (a.astype(dtype) if isinstance(a, np.ndarray) else a for a in (W, b_, X_, Y))
    got = gen.loss_and_grad(W, b_, X_, Y, **keywords(l2))
    want = gen.loss_and_grad(*by_hand, **keywords(l2))
    assert got[1].dtype == gen.DTYPE and got[0] == want[0] == gen.loss(W, b_, X_, Y, **keywords(l2))
    for value, expected in zip(got[1:], want[1:]):
        np.testing.assert_array_equal(value, expected)


@pytest.mark.parametrize("dtype", PR.DTYPES)
@pytest.mark.parametrize("wrong", [np.int64, np.uint8, np.bool_, np.complex128])
@pytest.mark.parametrize("position", range(4), ids=["w", "b", "X", "y"])
def test_integer_boolean_complex_input_is_refused_naming_the_dtype(dtype, wrong, position):
    """Arrays of such dtypes are refused; the scalar bias is a number, refused only as a boolean or complex one."""
    gen = module("logistic", dtype=dtype)
    arguments = list(data("logistic", 5, 3))
    arguments[position] = np.asarray(arguments[position]).astype(wrong)
    if position == 1:
        arguments[1] = arguments[1][()]  # a NumPy scalar, not a 0-d array
        if np.dtype(wrong).kind in "iu":  # an integer number: taken as the same float
            as_float = [*arguments[:1], float(arguments[1]), *arguments[2:]]
            assert gen.loss_and_grad(*arguments)[0] == gen.loss_and_grad(*as_float)[0]
            return
    name, wrong_name = "wbXy"[position], np.dtype(wrong).name
    message = f"{name} has dtype {wrong_name}: only real floating dtypes are accepted (and converted to {dtype})"
    for function in (gen.loss, gen.loss_and_grad, gen.grad):
        with pytest.raises(ValueError) as error:
            function(*arguments)
        assert str(error.value) == message


@pytest.mark.parametrize("wrong", [np.int64, np.complex128])
def test_a_softmax_module_with_l2_refuses_integer_and_complex_labels(wrong):
    gen = module("softmax", 0.1)
    W, b_, X_, P_ = data("softmax", 4, 2)
    with pytest.raises(ValueError) as error:
        gen.loss_and_grad(W, b_, X_, P_.astype(wrong), l2=LAM)
    assert str(error.value) == (
        f"P has dtype {np.dtype(wrong).name}: only real floating dtypes are accepted (and converted to float64)"
    )


# --------------------------------------------------------------------------- files and the command line


ALL = [(*config, dtype) for config in [("softmax", None, None), *CONFIGS] for dtype in PR.DTYPES]


@pytest.mark.slow
def test_ruff_passes_on_every_generated_module(tmp_path):
    """ruff check and ruff format --check, with the project's settings, over the modules of every model and dtype."""
    for name, l2, smoothing, dtype in ALL:
        model = configure(name, l2, smoothing)
        (tmp_path / C.module_name(dtype, model)).write_text(source(name, l2, smoothing, dtype))
    assert len(list(tmp_path.glob("*.py"))) == len(ALL)
    for check in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *check, "--config", str(ROOT / "pyproject.toml"), str(tmp_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", sorted(cli.MODEL_MODULES))
def test_derive_code_with_the_listed_options_writes_what_derive_all_writes(name, tmp_path, capsys):
    """derive code with the options listed for a module writes it under that name, as derive all makes it.

    (That output/ holds what derive all makes is tests/test_output.py's job.)
    """
    assert cli.main(["code", "-o", str(tmp_path), *cli.MODEL_MODULES[name]]) == 0
    assert capsys.readouterr().out == f"{tmp_path / name}\n"
    assert (tmp_path / name).read_text() == cli.ARTEFACTS[name]()


@pytest.mark.slow
def test_deterministic_across_processes():
    """Another process with another hash seed makes the same text, for the softmax module and an L2 logistic one."""
    script = (
        "import sys\n"
        "from derive.app.code import module_source\n"
        "from derive.core import symbols as S\n"
        "from derive.core.models import configure\n"
        "sys.stdout.write(module_source('float64') + '\\0')\n"
        "sys.stdout.write(module_source('float64', configure('logistic', 0.5), {S.lam: 0.5}))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "777"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split("\0") == [source("softmax"), source("logistic", 0.5)]


def test_module_names():
    assert C.module_name("float64", configure("logistic")) == "logistic_grad.py"
    assert C.module_name("float32", configure("softmax", l2=0.1)) == "softmax_l2_grad_float32.py"
    assert C.module_name("float64", configure("softmax", smoothing=0.1)) == "softmax_smoothing_grad.py"
    assert C.module_name("float32") == "softmax_grad_float32.py"


def test_header_names_the_command_and_the_closed_forms():
    lines = C.module_source("float32", configure("logistic", 0.1), {S.lam: 0.25}).splitlines()
    assert lines[2] == (
        f"Generated by derive {__version__} (``derive code --model logistic --l2 0.25 --dtype float32``)"
        " from the closed forms that"
    )
    assert lines[10] == "Do not edit: regenerate with ``derive code --model logistic --l2 0.25 --dtype float32``."
    assert lines[5:8] == ["    dH/dw_i = -(y - sigma)*x_i + lambda*w_i", "", "    dH/db = -(y - sigma)"]
    assert lines.count("L2 = 0.25") == 1 and lines.count('DTYPE = np.dtype("float32")') == 1
    assert (
        "    log_sigmoid: log sigma(u) = -log(1 + exp(-u)) = -logaddexp(0, -u): finite for any u, never the log of 0."
        in lines
    )


def test_cli_code_rejects_smoothing_without_classes(capsys):
    assert cli.main(["code", "--model", "logistic", "--smoothing", "0.1"]) == 2
    assert capsys.readouterr().err == (
        "derive code: error: label smoothing needs class labels; model 'logistic' has none\n"
    )


# --------------------------------------------------------------------------- the benchmark's logistic competitors


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "name",
    ["hand-written NumPy", "generated, 1 thread", "HIPS autograd", "JAX jit(value_and_grad)", "PyTorch autograd"],
)
def test_benchmark_logistic_competitors_compute_the_same(name, dtype):
    framework = {"JAX jit(value_and_grad)": "jax", "PyTorch autograd": "torch", "HIPS autograd": "autograd"}.get(name)
    if framework:
        pytest.importorskip(framework)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_gradient as bench
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    w_, b_, X_, y_ = bench.problem((40, 5, 3), dtype, model="logistic")
    result = bench.implementation(name, dtype, "logistic")(w_, b_, X_, y_)
    reference = bench.implementation("generated", dtype, "logistic")(w_, b_, X_, y_)
    assert bench.agrees(result, reference, dtype)
    assert not bench.agrees(result, (reference[0] + 0.1, *reference[1:]), dtype)
