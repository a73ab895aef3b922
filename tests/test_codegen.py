"""The generated softmax module: printing, lowering, numerics, input dtypes, quality, the command line.

That output/ holds it is tests/test_output.py's job; ruff over every generated module runs in
tests/test_codegen_models.py.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from derive import __version__
from derive.app import code as C
from derive.app.cli import main
from derive.codegen import arrays as AR
from derive.codegen import lowering as LO
from derive.codegen import program as PR
from derive.codegen import rewrites as RW
from derive.core import symbols as S
from derive.core.derivation import derive
from derive.printing.numpy import ArrayPrinter, numpy_code

ROOT = Path(__file__).resolve().parent.parent


@cache
def source(dtype: str = "float64") -> str:
    """The softmax module's text, generated once per dtype for all the tests here."""
    return C.module_source(dtype)


@pytest.fixture(scope="module")
def gen():
    return C.load_module(source("float64"), "softmax_grad")


@pytest.fixture(scope="module")
def gen32():
    return C.load_module(source("float32"), "softmax_grad_float32")


def reference(W, b, X, P):
    """An independent float64 loss: HIPS autograd differentiates it."""
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    Z = X @ W + b
    return -anp.sum(P * (Z - logsumexp(Z, axis=1, keepdims=True))) / X.shape[0]


def problem(N, d, K, seed=0, soft=False, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, d))
    W = rng.standard_normal((d, K))
    b = rng.standard_normal(K)
    P = rng.random((N, K)) * 2 if soft else np.eye(K)[rng.integers(0, K, N)]
    return tuple(np.asarray(a, dtype=dtype) for a in (W, b, X, P))


# --------------------------------------------------------------------------- the printer

X, G, W, b, P, Sh, t0, t1 = sp.symbols("X G W b P S t0 t1")
scale = AR.scale


@pytest.mark.parametrize(
    "expr, code",
    [
        (AR.Dot(AR.Transposed(X), G), "X.T @ G"),
        (AR.Transposed(AR.Dot(G, X)), "(G @ X).T"),
        (AR.Transposed(AR.Transposed(X)), "X"),
        (AR.Column(b) + AR.Dot(AR.Transposed(W), AR.Transposed(X)), "b[:, None] + W.T @ X.T"),
        (scale * AR.Dot(AR.Transposed(X), G), "scale * (X.T @ G)"),
        (AR.SumOver(sp.exp(Sh), 0), "np.exp(S).sum(axis=0)"),
        (AR.MaxOver(X + W, 0), "(W + X).max(axis=0)"),
        (AR.SumOver(G, 1), "G.sum(axis=1)"),
        (AR.Total(G), "G.sum()"),
        (AR.Contiguous(AR.Transposed(P)), "np.ascontiguousarray(P.T)"),
        (-scale * AR.Inner(P, Sh - sp.log(t1)), "-scale * np.vdot(P, S - np.log(t1))"),
        (t0 / t1 - P, "t0 / t1 - P"),
        (scale * (t0 * AR.SumOver(P, 0) / t1 - P), "scale * (t0 * P.sum(axis=0) / t1 - P)"),
        (2 * X / (t0 * t1), "2 * X / t0 / t1"),
        (t0 * AR.Grouped(AR.SumOver(P, 0) / t1) - P, "t0 * (P.sum(axis=0) / t1) - P"),
    ],
)
def test_printer(expr, code):
    assert numpy_code(expr) == code


def test_printer_refuses_bare_names_that_shadow_builtins():
    with pytest.raises(ValueError, match="built-ins"):
        ArrayPrinter({"fully_qualified_modules": False})


# --------------------------------------------------------------------------- lowering


def lowered(expr):
    return LO.lower(LO.batch_mean(expr)).expr


A = sp.Symbol("A")
Pt = AR.Transposed(P)  # P is stored (N, K); computed arrays are (K, N)


def test_gradient_lowers_to_a_matrix_product():
    """Sum_n scale*(-(P_nj - A_jn) X_ni) is scale * (X.T @ G.T) with G = A - P.T class-major (K, N): (d, K) like W."""
    grad_W = LO.lower(LO.batch_mean(derive("softmax", "W", assume=True).result))
    G = A - Pt
    dW = scale * AR.Dot(AR.Transposed(X), AR.Transposed(G))
    assert grad_W == AR.Lowered(AR.Transposed(dW), (S.j, S.i))
    assert LO.stored(grad_W, S.W[S.i, S.j]) == dW
    assert numpy_code(dW) == "scale * (X.T @ (A - P.T).T)"
    assert lowered(derive("softmax", "b", assume=True).result) == scale * AR.SumOver(A - Pt, 1)


def test_exact_form_lowers_the_label_total_to_a_class_sum():
    grad_W = derive("softmax", "W", assume=False).result
    G = A * AR.SumOver(Pt, 0) - Pt
    assert LO.stored(LO.lower(LO.batch_mean(grad_W)), S.W[S.i, S.j]) == scale * AR.Dot(
        AR.Transposed(X), AR.Transposed(G)
    )


def test_logits_and_loss_lower_from_the_model():
    """The logits come out class-major from the product itself, W.T @ X.T: no transposing copy."""
    from derive.core.models import SOFTMAX

    logits = LO.lower(LO.lift(SOFTMAX.logit_definition)).expr
    assert logits == AR.Column(b) + AR.Dot(AR.Transposed(W), AR.Transposed(X))
    assert PR.forward(SOFTMAX)[0] == (AR.Z, logits)
    assert numpy_code(logits) == "b[:, None] + W.T @ X.T"
    assert lowered(SOFTMAX.loss) == -scale * AR.Inner(Pt, sp.log(A))


def test_the_code_follows_the_closed_form():
    """The student's wrong answer -P_j(1 - a_j)x_i lowers to different code: nothing is a fixed template."""
    wrong = -S.P[S.j] * (1 - S.a[S.j]) * S.x[S.i]
    assert LO.stored(LO.lower(LO.batch_mean(wrong)), S.W[S.i, S.j]) == scale * AR.Dot(
        AR.Transposed(X), AR.Transposed(-Pt * (1 - A))
    )


def test_outer_products_have_no_layout():
    with pytest.raises(NotImplementedError, match="outer product"):
        LO.lower(S.a[S.j] * S.P[S.k])


@pytest.mark.parametrize("rule", RW.STABILISE.rules, ids=lambda r: r.name)
def test_each_stabilising_rule_keeps_the_value(rule):
    """Evaluate the loss and gradient expressions before and after each rule at moderate logits."""
    _, (_, activation) = PR.forward(PR.get_model("softmax"))
    named = PR.outputs(PR.get_model("softmax"), exact=True)
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((3, 5))  # (K, N), class-major
    env = {"np": np, "X": rng.standard_normal((5, 2)), "P": rng.random((5, 3)), "Z": Z, "scale": 0.2}
    env["S"] = Z - Z.max(axis=0)
    for expr in named.values():
        before = expr.xreplace({AR.A: activation})
        for earlier in RW.STABILISE.rules[: RW.STABILISE.rules.index(rule)]:
            before = earlier(before)
        after = rule(before)
        np.testing.assert_allclose(eval(numpy_code(after), env), eval(numpy_code(before), env), rtol=1e-12)


@pytest.mark.parametrize("rule", RW.ECONOMISE.rules, ids=lambda r: r.name)
def test_each_economising_rule_keeps_the_value_and_fires(rule):
    """The cost rewrites change the work, not the value: evaluated before and after on random arrays."""
    _, (_, activation) = PR.forward(PR.get_model("softmax"))
    rng = np.random.default_rng(4)
    Z = rng.standard_normal((3, 5))  # (K, N), class-major
    env = {"np": np, "X": rng.standard_normal((5, 2)), "P": rng.random((5, 3)), "Z": Z, "scale": 0.2}
    env["S"] = Z - Z.max(axis=0)
    changed = 0
    for expr in PR.outputs(PR.get_model("softmax"), exact=True).values():
        before = RW.contiguous(RW.STABILISE(expr.xreplace({AR.A: activation})))
        after = rule(before)
        changed += after != before
        np.testing.assert_allclose(eval(numpy_code(after), env), eval(numpy_code(before), env), rtol=1e-12)
    assert changed


def test_economised_kernel_scales_the_small_results():
    """1/N multiplies dW (d, K) and db (K,), not the (K, N) gradient of the logits; s / T is one row vector."""
    kernel = PR.program().loss_and_grad
    assert kernel.lines() == (
        "t0 = np.ascontiguousarray(P.T)",
        "t1 = t0.sum(axis=0)",
        "t2 = np.exp(S)",
        "t3 = t2.sum(axis=0)",
        "t4 = t2 * (t1 / t3) - t0",
    )
    assert kernel.returns() == (
        "-scale * (np.vdot(t0, S) - np.vdot(t1, np.log(t3)))",
        "scale * (X.T @ t4.T)",
        "scale * t4.sum(axis=1)",
    )


def test_only_shifted_logits_are_exponentiated():
    """exp only of S = Z - max Z (never of Z), log only of a class sum (never of a quotient a_j)."""
    prog = PR.program()
    for kernel in (prog.loss, prog.loss_and_grad):
        exprs = [e for _, e in kernel.assignments] + [e for _, e in kernel.outputs]
        exps = set().union(*(e.atoms(sp.exp) for e in exprs))
        logs = set().union(*(e.atoms(sp.log) for e in exprs))
        assert exps == {sp.exp(Sh)}
        assert logs and all(isinstance(g.args[0], (sp.Symbol, AR.SumOver)) for g in logs)
    assert prog.forward[1] == (Sh, AR.Z - AR.MaxOver(AR.Z, 0))


# --------------------------------------------------------------------------- numerics


def central_differences(f, array, h=1e-6):
    out = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        step = np.zeros_like(array)
        step[index] = h
        out[index] = (f(array + step) - f(array - step)) / (2 * h)
    return out


@pytest.mark.parametrize("N, d, K, soft", [(7, 3, 4, False), (5, 2, 3, True), (1, 4, 3, True), (6, 2, 1, True)])
def test_finite_differences(gen, N, d, K, soft):
    W, b, X, P = problem(N, d, K, seed=N, soft=soft)
    _, dW, db = gen.loss_and_grad(W, b, X, P)
    np.testing.assert_allclose(dW, central_differences(lambda V: gen.loss(V, b, X, P), W), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, central_differences(lambda c: gen.loss(W, c, X, P), b), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("N, d, K, soft", [(1, 1, 1, False), (1, 4, 3, False), (30, 5, 4, True), (200, 6, 10, False)])
def test_agrees_with_autograd(gen, N, d, K, soft):
    import autograd

    W, b, X, P = problem(N, d, K, seed=K, soft=soft)
    H, dW, db = gen.loss_and_grad(W, b, X, P)
    assert H == pytest.approx(float(reference(W, b, X, P)), rel=1e-12)
    np.testing.assert_allclose(dW, autograd.grad(reference, 0)(W, b, X, P), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(db, autograd.grad(reference, 1)(W, b, X, P), rtol=1e-10, atol=1e-14)


def test_k_equals_one(gen):
    """One class: a = 1, so H = 0 for P = 1 and the gradient vanishes for any label."""
    W, b, X, _ = problem(4, 3, 1)
    H, dW, db = gen.loss_and_grad(W, b, X, np.full((4, 1), 2.5))
    assert H == 0.0 and not dW.any() and not db.any()


def test_the_seed_example(gen):
    """The student's sample: dH/dW = -(P - a) x^T, both columns nonzero."""
    from derive.core.models import SOFTMAX
    from derive.verify.example import worked_example

    SEED = SOFTMAX.example

    example = worked_example()
    X1, P1 = np.array([SEED["x"]]), np.array([SEED["P"]], dtype=float)
    H, dW, db = gen.loss_and_grad(np.array(SEED["W"], dtype=float), np.array(SEED["b"], dtype=float), X1, P1)
    assert H == pytest.approx(example.loss, rel=1e-12)
    np.testing.assert_allclose(dW, example.grad_W, rtol=1e-12)
    np.testing.assert_allclose(db, example.grad_b, rtol=1e-12)


def test_blocks_add_up(gen):
    W, b, X, P = problem(2 * PR.BLOCK_ROWS + 37, 5, 4, soft=True)
    one_block = C.load_module(source("float64"))
    one_block.BLOCK_ROWS = 1 << 40
    for got, want in zip(gen.loss_and_grad(W, b, X, P), one_block.loss_and_grad(W, b, X, P)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert gen.loss(W, b, X, P) == pytest.approx(one_block.loss(W, b, X, P), rel=1e-12)


def test_sum_reduction_and_wrappers(gen):
    W, b, X, P = problem(9, 3, 4, soft=True)
    H, dW, db = gen.loss_and_grad(W, b, X, P)
    Hs, dWs, dbs = gen.loss_and_grad(W, b, X, P, reduction="sum")
    assert Hs == pytest.approx(9 * H, rel=1e-12)
    np.testing.assert_allclose(dWs, 9 * dW, rtol=1e-12)
    np.testing.assert_allclose(dbs, 9 * db, rtol=1e-12)
    assert gen.loss(W, b, X, P) == pytest.approx(H, rel=1e-14)
    for got, want in zip(gen.grad(W, b, X, P), (dW, db)):
        np.testing.assert_array_equal(got, want)


finite = st.floats(-5, 5, allow_nan=False)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 4), st.integers(1, 5), st.integers(0, 2**32 - 1), finite)
def test_properties(N, d, K, seed, shift):
    """Normalised labels: class rows of dW and db sum to zero; adding c to every logit changes nothing."""
    gen = property_module()
    W, b, X, _ = problem(N, d, K, seed=seed)
    rng = np.random.default_rng(seed)
    P = rng.random((N, K)) + 0.01
    P /= P.sum(axis=1, keepdims=True)
    H, dW, db = gen.loss_and_grad(W, b, X, P)
    np.testing.assert_allclose(dW.sum(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(db.sum(), 0, atol=1e-12)
    H2, dW2, db2 = gen.loss_and_grad(W, b + shift, X, P)
    assert H2 == pytest.approx(H, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(dW2, dW, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(db2, db, rtol=1e-9, atol=1e-12)


@cache
def property_module():
    return C.load_module(source("float64"))


def extreme(dtype):
    """Logits of magnitude 1e3: rows (1000, -1000, 0), (-1000, 1000, 1000), (0, 0, 1000)."""
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=dtype)
    W = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]], dtype=dtype)
    b = np.zeros(3, dtype=dtype)
    P = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]], dtype=dtype)
    return W, b, X, P


@pytest.mark.parametrize("fixture", ["gen", "gen32"])
def test_extreme_logits(fixture, request):
    """Finite, and exact: a = 0 where P = 0 contributes 0 (xlogy), large gaps give large exact losses."""
    module = request.getfixturevalue(fixture)
    W, b, X, P = extreme(module.DTYPE)
    H, dW, db = module.loss_and_grad(W, b, X, P)
    assert all(np.isfinite(v).all() for v in (H, dW, db))
    # row 1, label 1: H = log(1 + e^-2000 + e^-1000) = 0; row 2, label 3: H = log 2 (a_1 = 0 with P_1 = 0);
    # row 3, label 2: H = 1000 + log(1 + 2 e^-1000) = 1000
    assert H == pytest.approx((np.log(2) + 1000) / 3, rel=1e-6)
    np.testing.assert_allclose(dW, autograd_grads(*extreme(np.float64))[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(db, autograd_grads(*extreme(np.float64))[1], rtol=1e-6, atol=1e-6)


def autograd_grads(W, b, X, P):
    import autograd

    return autograd.grad(reference, 0)(W, b, X, P), autograd.grad(reference, 1)(W, b, X, P)


def test_float32(gen, gen32):
    W, b, X, P = problem(50, 6, 4, soft=True, dtype=np.float32)
    H, dW, db = gen32.loss_and_grad(W, b, X, P)
    assert dW.dtype == db.dtype == np.float32 and isinstance(H, float)
    H64, dW64, db64 = gen.loss_and_grad(*(a.astype(np.float64) for a in (W, b, X, P)))
    assert H == pytest.approx(H64, rel=1e-5)
    np.testing.assert_allclose(dW, dW64, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(db, db64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda W, b, X, P: (W.T, b, X, P), r"shapes W \(3, 2\), b \(3,\), X \(5, 2\), P \(5, 3\) do not fit"),
        (lambda W, b, X, P: (W, b[:2], X, P), r"b \(2,\)"),
        (lambda W, b, X, P: (W, b, X[0], P), r"X \(2,\)"),
        (lambda W, b, X, P: (W, b, X, P[:4]), r"P \(4, 3\)"),
        (lambda W, b, X, P: (W, b, X[:0], P[:0]), r"N >= 1"),
        (lambda W, b, X, P: (W, b, X.astype(np.int64), P), r"^X has dtype int64: only real floating dtypes"),
        (lambda W, b, X, P: (W, b, X.tolist(), P), r"must be NumPy arrays"),
    ],
)
def test_bad_inputs(gen, change, message):
    with pytest.raises(ValueError, match=message):
        gen.loss_and_grad(*change(*problem(5, 2, 3)))


FLOATS = [np.float16, np.float32, np.float64, np.longdouble]


@pytest.mark.parametrize("fixture", ["gen", "gen32"])
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
def test_any_real_floating_input_is_computed_in_the_modules_dtype(fixture, dtype, request):
    """Arrays of any real floating dtype give what the same arrays cast by hand to DTYPE give, bit for bit."""
    module = request.getfixturevalue(fixture)
    arrays = problem(6, 3, 4, soft=True, dtype=dtype)
    by_hand = tuple(a.astype(module.DTYPE) for a in arrays)
    H, dW, db = module.loss_and_grad(*arrays)
    want = module.loss_and_grad(*by_hand)
    assert dW.dtype == db.dtype == module.DTYPE and type(H) is float
    assert H == want[0] == module.loss(*arrays)
    np.testing.assert_array_equal(dW, want[1])
    np.testing.assert_array_equal(db, want[2])
    for got, expected in zip(module.grad(*arrays, reduction="sum"), module.grad(*by_hand, reduction="sum")):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("fixture", ["gen", "gen32"])
def test_mixed_floating_dtypes_are_each_converted(fixture, request):
    module = request.getfixturevalue(fixture)
    arrays = problem(5, 2, 3, soft=True)
    mixed = tuple(a.astype(t) for a, t in zip(arrays, FLOATS))
    for got, want in zip(module.loss_and_grad(*mixed), module.loss_and_grad(*(a.astype(module.DTYPE) for a in mixed))):
        np.testing.assert_array_equal(got, want)


def test_arrays_in_the_modules_dtype_are_not_copied(gen, gen32):
    X = np.ones((3, 2))
    assert gen._in_dtype(X)[0] is X
    assert gen32._in_dtype(X)[0] is not X and gen32._in_dtype(X)[0].dtype == np.float32


@pytest.mark.parametrize("fixture", ["gen", "gen32"])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_, np.complex128, np.complex64])
@pytest.mark.parametrize("position", range(4), ids=["W", "b", "X", "P"])
def test_integer_boolean_complex_input_is_refused_naming_the_dtype(fixture, dtype, position, request):
    module = request.getfixturevalue(fixture)
    arrays = list(problem(5, 2, 3))
    arrays[position] = arrays[position].astype(dtype)
    name, dtype_name = "WbXP"[position], np.dtype(dtype).name
    message = f"{name} has dtype {dtype_name}: only real floating dtypes are accepted (and converted to {module.DTYPE})"
    for function in (module.loss, module.loss_and_grad, module.grad):
        with pytest.raises(ValueError) as error:
            function(*arrays)
        assert str(error.value) == message


def test_bad_reduction(gen):
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        gen.loss_and_grad(*problem(5, 2, 3), reduction="max")


# --------------------------------------------------------------------------- the source and the command line


def test_numpy_is_the_only_import():
    tree = ast.parse(source("float64"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"numpy", "__future__"}


def test_typed_and_documented():
    tree = ast.parse(source("float64"))
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert {f.name for f in functions} >= {"loss", "grad", "loss_and_grad"}
    for f in functions:
        assert f.returns is not None and all(a.annotation is not None for a in f.args.args), f.name
        if not f.name.startswith("_shape"):
            assert ast.get_docstring(f), f.name
    header = ast.get_docstring(tree).splitlines()
    assert header[:5] == [
        "Softmax regression with cross-entropy loss: loss and gradients for a batch, in NumPy.",
        "",
        f"Generated by derive {__version__} (``derive code --dtype float64``) from the closed forms that",
        "derive's engine derived for the model 'softmax':",
        "",
    ]
    assert header[5:8] == [
        "    dH/dW_ij = -(P_j - a_j*Sum(P_k, (k, 1, K)))*x_i",
        "",
        "    dH/db_j = -(P_j - a_j*Sum(P_k, (k, 1, K)))",
    ]
    assert "Everything is computed in float64 (DTYPE).  Arrays of any real floating dtype (float16, float32," in header


def test_cli_code(tmp_path, capsys):
    assert main(["code", "-o", str(tmp_path), "--dtype", "float32"]) == 0
    path = tmp_path / "softmax_grad_float32.py"
    assert capsys.readouterr().out == f"{path}\n"
    assert path.read_text() == source("float32")


def test_cli_code_bad_dtype(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["code", "--dtype", "float16"])
    assert exit.value.code == 2
    assert capsys.readouterr().err == (
        "derive code: error: argument --dtype: invalid choice: 'float16' (choose from 'float64', 'float32')"
        " (see derive code --help)\n"
    )


# --------------------------------------------------------------------------- the benchmark's competitors


def bench_module():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_gradient
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return bench_gradient


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "name",
    ["hand-written NumPy", "generated, 1 thread", "HIPS autograd", "JAX jit(value_and_grad)", "PyTorch autograd"],
)
def test_benchmark_competitors_compute_the_same(name, dtype):
    framework = {"JAX jit(value_and_grad)": "jax", "PyTorch autograd": "torch", "HIPS autograd": "autograd"}.get(name)
    if framework:
        pytest.importorskip(framework)
    bench = bench_module()
    W, b, X, P = bench.problem((40, 5, 3), dtype)
    impl = bench.implementation(name, dtype)
    reference = bench.implementation("generated", dtype)(W, b, X, P)
    assert bench.agrees(impl(W, b, X, P), reference, dtype)
