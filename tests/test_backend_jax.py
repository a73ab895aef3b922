"""The generated JAX modules (``derive code --backend jax``) for every model and add-on.

Each module is checked against the NumPy module of the same configuration and against ``jax.grad``
of an independently written loss: random inputs, soft and unnormalised labels, extreme logits
(+-1e3), float32, N = 1, K = 1; its ``loss`` under ``jax.grad``, ``jax.value_and_grad`` and
``jax.jit``; bad shapes, dtypes and types, differentiation with respect to the data refused, float64
without x64 refused; ruff, types, docstrings, imports and determinism of the generated text.
Modules are generated once per configuration and shared by the tests; x64 is switched on for this
file's tests and restored after them.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from derive.app import cli
from derive.app import code as C
from derive.codegen import arrays as AR
from derive.codegen import program as PR
from derive.codegen.layouts import sample_major
from derive.codegen.program import DTYPES, Kernel, Program
from derive.core import symbols as S
from derive.core.models import configure
from derive.core.primitives import softplus
from derive.printing.jax import jax_code
from derive.render import code as render_code

jax = pytest.importorskip("jax", reason="the JAX backend's tests need jax (pip install jax)")
jnp = jax.numpy

ROOT = Path(__file__).resolve().parent.parent

#: (model name, l2, smoothing) of every configuration: each model, each add-on
CONFIGS = [
    ("softmax", None, None),
    ("logistic", None, None),
    ("linear", None, None),
    ("softmax", 0.1, None),
    ("logistic", 0.1, None),
    ("linear", 0.1, None),
    ("softmax", None, 0.1),
]
IDS = ["softmax", "logistic", "linear", "softmax+l2", "logistic+l2", "linear+l2", "softmax+smoothing"]
LAM = 0.03  # the penalty strength the tests pass as the l2 keyword
#: (config, N, d, K, soft labels): N = 1, K = 1 and soft labels for each model (K means nothing without classes)
SHAPES = [
    (config, *shape)
    for config in CONFIGS
    for shape in (
        [(1, 1, 3, False), (1, 4, 1, False), (30, 4, 1, True), (60, 6, 4, True)]
        if config[0] == "softmax"
        else [(1, 3, 1, False), (60, 6, 1, True)]
    )
]
SHAPE_IDS = [f"{IDS[CONFIGS.index(c)]}-N{N}-d{d}-K{K}{'-soft' if soft else ''}" for c, N, d, K, soft in SHAPES]


@pytest.fixture(autouse=True, scope="module")
def x64():
    """float64 arrays for this file's tests (the float64 modules need them), the setting restored afterwards."""
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


@cache
def program(name: str, l2: float | None = None, smoothing: float | None = None) -> Program:
    """The configuration's program (lowered, stabilised kernels), made once and printed by every backend and dtype."""
    return PR.program(configure(name, l2, smoothing), exact=True)


@cache
def source(name: str, l2: float | None = None, smoothing: float | None = None, dtype: str = "float64", backend="jax"):
    """The module's text as ``derive code`` writes it, once per configuration, dtype and backend for all the tests here.

    (That ``derive code`` writes this text, with the program made anew, is test_cli_writes_the_module's job.)
    """
    model = configure(name, l2, smoothing)
    constants = {**model.constants, **({S.lam: l2} if l2 is not None else {})}
    command = C.command_line(model, dtype, constants, backend)
    return render_code.module_source(program(name, l2, smoothing), dtype, constants, command, backend)


@cache
def module(name: str, l2: float | None = None, smoothing: float | None = None, dtype: str = "float64", backend="jax"):
    model = configure(name, l2, smoothing)
    return C.load_module(source(name, l2, smoothing, dtype, backend), C.module_name(dtype, model, backend)[:-3])


def data(name, N=40, d=5, K=3, seed=0, soft=False, dtype=np.float64):
    """NumPy (parameters..., X, labels); soft: unnormalised labels in [0, 2)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, d))
    if name == "softmax":
        P = rng.random((N, K)) * 2 if soft else np.eye(K)[rng.integers(0, K, N)]
        arrays = rng.standard_normal((d, K)), rng.standard_normal(K), X, P
    else:
        y = rng.random(N) if name == "logistic" else rng.standard_normal(N)
        arrays = rng.standard_normal(d), np.float64(rng.standard_normal()), X, y
    return tuple(np.asarray(a, dtype) for a in arrays)


def keywords(l2):
    return {"l2": LAM} if l2 is not None else {}


def independent_loss(name, l2):
    """The model's loss written again in JAX, for jax.grad: log_softmax, logaddexp, the squared error."""

    def total(W, b, X, Y):
        Z = X @ W + b
        if name == "softmax":
            data_term = -(Y * jax.nn.log_softmax(Z, axis=1)).sum() / X.shape[0]
        elif name == "logistic":
            data_term = (Y * jnp.logaddexp(0.0, -Z) + (1 - Y) * jnp.logaddexp(0.0, Z)).mean()
        else:
            data_term = ((Z - Y) ** 2).mean() / 2
        return data_term + (LAM / 2 * (W**2).sum() if l2 is not None else 0.0)

    return total


def flat(result):
    """(H, (dW, db)) -> [H, dW, db] as NumPy arrays."""
    H, grads = result
    return [np.asarray(H), *(np.asarray(g) for g in grads)]


def assert_all_close(got, want, rtol, atol=0.0):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol, atol)


# --------------------------------------------------------------------------- the printer

X, G, W, b, P, Sh, t0, t1 = sp.symbols("X G W b P S t0 t1")


@pytest.mark.parametrize(
    "expr, code",
    [
        (AR.Dot(AR.Transposed(X), G), "X.T @ G"),
        (AR.Dot(AR.Transposed(W), AR.Transposed(X)), "(X @ W).T"),
        (AR.scale * AR.Dot(AR.Transposed(X), AR.Transposed(G)), "scale * (G @ X).T"),
        (AR.SumOver(AR.Dot(AR.Transposed(X), AR.Transposed(G)), 0), "(G @ X).T.sum(axis=0)"),
        (AR.Column(b) + AR.Dot(AR.Transposed(W), AR.Transposed(X)), "b[:, None] + (X @ W).T"),
        (AR.SumOver(sp.exp(Sh), 0), "jnp.exp(S).sum(axis=0)"),
        (AR.MaxOver(X + W, 0), "(W + X).max(axis=0)"),
        (AR.Contiguous(AR.Transposed(P)), "P.T"),
        (-AR.scale * AR.Inner(P, Sh - sp.log(t1)), "-scale * jnp.vdot(P, S - jnp.log(t1))"),
        (AR.Total(G), "G.sum()"),
        (softplus(-X), "jnp.logaddexp(0, -X)"),
        (t0 * AR.Grouped(AR.SumOver(P, 0) / t1) - P, "t0 * (P.sum(axis=0) / t1) - P"),
    ],
)
def test_printer(expr, code):
    """SymPy's JaxPrinter with the NumPy printer's array operations; products of two transposes turned round."""
    assert jax_code(expr) == code


# --------------------------------------------------------------------------- numerics


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_agrees_with_the_numpy_module(config, dtype):
    """loss_and_grad, grad, loss and jax.value_and_grad(loss) give what the NumPy module of the configuration gives."""
    name, l2, _ = config
    gen, ref = module(*config, dtype=dtype), module(*config, dtype=dtype, backend="numpy")
    arrays = data(name, soft=True)
    tol = 1e-12 if dtype == "float64" else 2e-5
    want = ref.loss_and_grad(*arrays, **keywords(l2))
    got = flat(gen.loss_and_grad(*arrays, **keywords(l2)))
    assert all(g.dtype == np.dtype(dtype) for g in got) and got[0].shape == ()
    assert_all_close(got, want, tol, tol)
    assert_all_close(flat(jax.value_and_grad(gen.loss, argnums=(0, 1))(*arrays, **keywords(l2))), want, tol, tol)
    assert_all_close(
        gen.grad(*arrays, reduction="sum", **keywords(l2)), ref.grad(*arrays, "sum", **keywords(l2)), tol, tol
    )
    assert_all_close([gen.loss(*arrays, "sum", **keywords(l2))], [ref.loss(*arrays, "sum", **keywords(l2))], tol)


@pytest.mark.parametrize("config, N, d, K, soft", SHAPES, ids=SHAPE_IDS)
def test_agrees_with_jax_grad_of_an_independent_loss(config, N, d, K, soft):
    """The derived backward against jax.grad of the loss written again: N = 1, K = 1, soft labels."""
    name, l2, _ = config
    gen = module(*config)
    arrays = data(name, N, d, K, seed=N + d + K, soft=soft)
    want = flat(jax.value_and_grad(independent_loss(name, l2), argnums=(0, 1))(*arrays))
    for got in (
        gen.loss_and_grad(*arrays, **keywords(l2)),
        jax.value_and_grad(gen.loss, argnums=(0, 1))(*arrays, **keywords(l2)),
    ):
        assert_all_close(flat(got), want, 1e-10, 1e-14)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_under_jit(config):
    """The module's functions inside a user's jit, and jit(value_and_grad(loss)): the same numbers as outside."""
    name, l2, _ = config
    gen = module(*config)
    arrays = data(name, 12, 3, soft=True)
    want = flat(gen.loss_and_grad(*arrays, **keywords(l2)))

    @jax.jit
    def step(W, b, X, Y):
        H, (dW, db) = jax.value_and_grad(gen.loss, argnums=(0, 1))(W, b, X, Y, **keywords(l2))
        return H, (dW, db), gen.loss_and_grad(W, b, X, Y, **keywords(l2)), gen.grad(W, b, X, Y, **keywords(l2))

    H, grads, direct, only = step(*arrays)
    assert_all_close(flat((H, grads)), want, 1e-13, 1e-15)
    assert_all_close(flat(direct), want, 1e-13, 1e-15)
    assert_all_close(only, want[1:], 1e-13, 1e-15)


def test_jit_traces_once_per_shape(monkeypatch):
    """Shapes are checked when JAX traces: a second call with the same shapes runs the compiled code, no check."""
    gen = C.load_module(source("softmax"), "softmax_grad_jax")  # a module of its own: nothing traced yet
    checks = []
    check = gen._scale
    monkeypatch.setattr(gen, "_scale", lambda *args: checks.append(args[-1]) or check(*args))
    gen.loss_and_grad(*data("softmax", 9, 2))
    gen.loss_and_grad(*data("softmax", 9, 2, seed=1))
    assert checks == ["mean"]
    gen.loss_and_grad(*data("softmax", 10, 2))
    assert checks == ["mean", "mean"]


def extreme(name):
    """Logits of +-1e3 with their exact loss and gradients: (arrays, [H, dW, db])."""
    X = np.array([[1.0], [-1.0]])
    if name == "softmax":
        # logits (1000, -1000, 0) and (-1000, 1000, 0), labels class 2 and class 2: losses 2000 and 0; a - P = (1, -1, 0), 0
        arrays = (np.array([[1000.0, -1000.0, 0.0]]), np.zeros(3), X, np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]))
        return arrays, [1000.0, np.array([[0.5, -0.5, 0.0]]), np.array([0.5, -0.5, 0.0])]
    # logits 1000 and -1000, labels 0 and 0: losses 1000 and 0 (mean 500); sigma - y = 1, 0
    return (np.array([1000.0]), np.float64(0.0), X, np.zeros(2)), [500.0, np.array([0.5]), 0.5]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax", "logistic"])
def test_extreme_logits(name, dtype):
    """Finite and exact at logits of +-1e3, in float64 and float32, through loss_and_grad and jax.grad of loss."""
    gen = module(name, dtype=dtype)
    arrays, want = extreme(name)
    arrays = tuple(np.asarray(a, dtype) for a in arrays)
    for got in (gen.loss_and_grad(*arrays), jax.value_and_grad(gen.loss, argnums=(0, 1))(*arrays)):
        got = flat(got)
        assert all(np.isfinite(g).all() for g in got)
        assert_all_close(got, want, 1e-6, 1e-7)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_float32(config):
    """The float32 module computes in float32 and agrees with the float64 one; float32 input to the float64 module."""
    name, l2, _ = config
    gen32, gen64 = module(*config, dtype="float32"), module(*config)
    arrays = data(name, 50, 6, dtype=np.float32)
    got = flat(gen32.loss_and_grad(*arrays, **keywords(l2)))
    want = flat(gen64.loss_and_grad(*arrays, **keywords(l2)))
    assert all(g.dtype == np.float32 for g in got) and all(w.dtype == np.float64 for w in want)
    assert_all_close(got, want, 1e-4, 1e-5)
    grads = jax.grad(gen64.loss, argnums=(0, 1))(*(jnp.asarray(a) for a in arrays), **keywords(l2))
    assert grads[0].dtype == jnp.float32  # float32 parameters get float32 gradients from the float64 module
    assert_all_close(grads, want[1:], 1e-6, 1e-7)


@pytest.mark.parametrize("bias", [1, 1.0, np.float32(1.0), np.int64(1), jnp.asarray(1.0), jnp.asarray(1, jnp.int32)])
def test_scalar_bias_of_any_real_type(bias):
    gen = module("logistic")
    w, _, X, y = data("logistic", 5, 3)
    assert_all_close(flat(gen.loss_and_grad(w, bias, X, y)), flat(gen.loss_and_grad(w, np.float64(1.0), X, y)), 0, 0)


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda W, b, X, P: (W[:2], b, X, P),
            r"^shapes W \(2, 3\), b \(3,\), X \(5, 3\), P \(5, 3\) do not fit W \(d, K\)",
        ),
        (lambda W, b, X, P: (W, b[:2], X, P), r"b \(2,\)"),
        (lambda W, b, X, P: (W, b, X[None], P), r"X \(1, 5, 3\)"),
        (lambda W, b, X, P: (W, b, X[:0], P[:0]), r"N >= 1"),
        (
            lambda W, b, X, P: (W, b, X, P.astype(np.int32)),
            r"^P has dtype int32: only real floating dtypes are accepted",
        ),
        (lambda W, b, X, P: (W.astype(np.complex64), b, X, P), r"^W has dtype complex64"),
        (lambda W, b, X, P: (W, b.astype(bool), X, P), r"^b has dtype bool"),
    ],
)
def test_bad_inputs(change, message):
    gen = module("softmax")
    for function in (gen.loss, gen.loss_and_grad, gen.grad):
        with pytest.raises(ValueError, match=message):
            function(*change(*data("softmax", 5, 3)))


def test_not_arrays():
    """jax.jit refuses anything but arrays and numbers itself, naming the argument."""
    W, b, _, P = data("softmax", 5, 3)
    with pytest.raises(TypeError, match=r"of type <class 'str'> and was passed to the function at path X"):
        module("softmax").loss_and_grad(W, b, "X", P)


@pytest.mark.parametrize("bias, message", [(True, "^b has dtype bool"), (np.zeros(2), r"b \(2,\)")])
def test_bad_scalar_bias(bias, message):
    w, _, X, y = data("logistic", 5, 3)
    with pytest.raises(ValueError, match=message):
        module("logistic").loss(w, bias, X, y)


@pytest.mark.parametrize("argnum, name", [(2, "X"), (3, "P")])
def test_differentiating_the_data_is_refused(argnum, name):
    """The engine derives the gradients of the parameters only: a silently zero gradient of X would be wrong."""
    arrays = data("softmax", 5, 3)
    with pytest.raises(ValueError, match=f"^derive's backward gives the gradients of W and b only, not of {name}:"):
        jax.grad(module("softmax").loss, argnums=argnum)(*arrays)
    H = module("softmax").loss(*arrays[:2], *(jax.lax.stop_gradient(a) for a in arrays[2:]))
    assert np.isfinite(H)


def test_the_penalty_strength_is_not_differentiated():
    arrays = data("softmax", 5, 3)
    with pytest.raises(ValueError, match="not of l2:"):
        jax.grad(lambda lam: module("softmax", 0.1).loss(*arrays, l2=lam))(0.1)


def test_float64_without_x64_is_refused():
    """JAX would silently compute in float32: the float64 module says how to switch x64 on, or which module to write."""
    arrays = data("softmax", 5, 3)
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(
            ValueError, match=r"^this module computes in float64, which JAX gives only with jax\.config"
        ):
            module("softmax").loss_and_grad(*arrays)
        assert np.isfinite(module("softmax", dtype="float32").loss_and_grad(*arrays)[0])
    finally:
        jax.config.update("jax_enable_x64", True)
    assert "`derive code --backend jax --dtype float32` writes the float32 module" in source("softmax")


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum', not 'max'"):
        module("softmax").loss(*data("softmax", 5, 3), reduction="max")


# --------------------------------------------------------------------------- the generated text

ALL = [(*config, dtype) for config in CONFIGS for dtype in DTYPES]


@pytest.mark.slow
def test_ruff_passes_on_every_generated_module(tmp_path):
    """ruff check and ruff format --check, with the project's settings, over every configuration and dtype."""
    for name, l2, smoothing, dtype in ALL:
        (tmp_path / C.module_name(dtype, configure(name, l2, smoothing), "jax")).write_text(
            source(name, l2, smoothing, dtype)
        )
    assert len(list(tmp_path.glob("*_jax*.py"))) == len(ALL)
    for check in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *check, "--config", str(ROOT / "pyproject.toml"), str(tmp_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_typed_documented_and_importing_jax_alone(config):
    tree = ast.parse(source(*config))
    docstring = ast.get_docstring(tree)
    assert docstring.startswith(f"{configure(*config[:1]).title}")
    assert (
        "Generated by derive" in docstring and "Do not edit: regenerate with ``derive code --backend jax" in docstring
    )
    imports = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imports |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imports == {"jax", "jax.numpy", "functools", "__future__"}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            assert ast.get_docstring(node), node.name
            assert node.returns is not None, node.name
            assert all(a.annotation is not None for a in node.args.args), node.name


def test_the_kernel_is_the_lowered_closed_form():
    """The printed kernel, sample-major: the logits X @ W, the max shift, one exp, G = a * (Sum_k P_k / T) - P."""
    text = source("softmax")
    for line in (
        "    Z = b + X @ W\n",
        "    S = Z - Z.max(axis=1)[:, None]\n",
        "    t1 = P.sum(axis=1)\n",
        "    t4 = t2 * (t1 / t3)[:, None] - P\n",
        "    return -scale * (jnp.vdot(P, S) - jnp.vdot(t1, jnp.log(t3))), (scale * (X.T @ t4), scale * t4.sum(axis=0))\n",
    ):
        assert line in text
    assert "    t0 = jnp.logaddexp(0, -Z)\n" in source("logistic")
    assert "Inside, arrays over the batch are sample-major, (N, K)" in text


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_sample_major_program_computes_what_the_class_major_one_does(config):
    """derive.codegen.layouts: every kernel rebuilt sample-major, printed for NumPy, gives the same numbers."""
    name = config[0]
    prog = program(*config)
    arrays = dict(zip(("W", "b", "X", "P") if name == "softmax" else ("w", "b", "X", "y"), data(name, 7, 3, soft=True)))
    env = {"np": np, **arrays, "scale": 1 / 7, "l2": LAM}

    def run(kernels):
        values = []
        for kernel in kernels:
            scope = dict(env)
            for line in kernel.lines():
                exec(line, scope)  # noqa: S102 -- derive's own printed kernel
            values += [eval(code, scope) for code in kernel.returns()]
        return values

    def kernels(p):
        return [Kernel(p.forward + k.assignments, k.outputs) for k in (p.loss, p.loss_and_grad, p.penalty) if k]

    relaid = sample_major(prog)
    assert "Contiguous" not in str([k.assignments + k.outputs for k in kernels(relaid)])
    assert relaid.forward[0][1] == AR.b + AR.Dot(AR.X, AR.W if name == "softmax" else AR.w)
    for got, want in zip(run(kernels(relaid)), run(kernels(prog)), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


@pytest.mark.slow
def test_deterministic_across_processes():
    """Another process with another hash seed writes the same text (softmax, and logistic with L2 in float32)."""
    script = (
        "import sys\n"
        "from derive.app.code import module_source\n"
        "from derive.core import symbols as S\n"
        "from derive.core.models import configure\n"
        "sys.stdout.write(module_source('float64', backend='jax') + '\\0')\n"
        "sys.stdout.write(module_source('float32', configure('logistic', 0.1), {S.lam: 0.1}, 'jax'))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4243"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split("\0") == [source("softmax"), source("logistic", 0.1, dtype="float32")]


def test_cli_writes_the_module(tmp_path, capsys):
    assert cli.main(["code", "--backend", "jax", "--dtype", "float32", "-o", str(tmp_path)]) == 0
    path = tmp_path / "softmax_grad_jax_float32.py"
    assert capsys.readouterr().out == f"{path}\n"
    assert path.read_text() == source("softmax", dtype="float32")
