"""The generated Numba modules (``derive code --backend numba``) for every model and add-on, and the fused form.

The fused form (derive/codegen/fused.py) and its printer (derive/printing/numba.py) are checked by
exact strings: the epilogue of each model is the program's kernel element by element.  Each module
is checked against the NumPy module of the same configuration and against HIPS autograd of an
independently written loss: random inputs crossing blocks and tiles, soft and unnormalised labels,
class-index labels, extreme logits (+-1e3), float32, N = 1, K = 1; bad shapes and dtypes refused
before the kernel; the same bits for any number of threads; ruff, types, docstrings, imports and
determinism of the generated text.

Numba compiles each module's kernel once per machine: the modules are written, named by a hash of
their text, into one folder of the temporary directory and imported from there, so that numba's
cache (beside the file) serves the next run.  Tests that run a kernel skip when numba is missing.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from sympy.codegen.ast import AddAugmentedAssignment, Assignment, For

from derive.app import cli
from derive.app import code as C
from derive.codegen import fused as FU
from derive.codegen import program as PR
from derive.codegen.arrays import Dot, SumOver, Transposed, X
from derive.codegen.program import DTYPES, Program
from derive.core import symbols as S
from derive.core.models import configure
from derive.printing.numba import numba_code
from derive.render import code as render_code

ROOT = Path(__file__).resolve().parent.parent
#: where the modules are imported from, so that numba's cache of their kernels outlives the test run
MODULES = Path(tempfile.gettempdir()) / "derive-numba-tests"
NUMBA = "the Numba backend's kernels need numba (pip install 'derive-gradients[numba]')"

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
#: the models, each with its one compiled float32 module (add-ons are checked in float64)
MODELS = CONFIGS[:3]
LAM = 0.03  # the penalty strength the tests pass as the l2 keyword
BLOCK_ROWS = 1024  # the generated modules' (checked below): N = 2 * BLOCK_ROWS + 7 crosses blocks and tiles
#: (config, N, d, K, soft labels): N = 1, K = 1 and soft labels for each model (K means nothing without classes)
SHAPES = [
    (config, *shape)
    for config in CONFIGS
    for shape in (
        [(1, 1, 3, False), (1, 4, 1, False), (30, 4, 1, True), (60, 6, 4, True), (2 * BLOCK_ROWS + 7, 5, 12, True)]
        if config[0] == "softmax"
        else [(1, 3, 1, False), (60, 6, 1, True), (2 * BLOCK_ROWS + 7, 5, 1, True)]
    )
]
SHAPE_IDS = [f"{IDS[CONFIGS.index(c)]}-N{N}-d{d}-K{K}{'-soft' if soft else ''}" for c, N, d, K, soft in SHAPES]


@cache
def program(name: str, l2: float | None = None, smoothing: float | None = None) -> Program:
    """The configuration's program, made once and printed in both dtypes."""
    return PR.program(configure(name, l2, smoothing), exact=True)


@cache
def source(name: str, l2: float | None = None, smoothing: float | None = None, dtype: str = "float64", backend="numba"):
    """The module's text as ``derive code`` writes it (test_cli_writes_the_module checks that it does)."""
    model = configure(name, l2, smoothing)
    constants = {**model.constants, **({S.lam: l2} if l2 is not None else {})}
    command = C.command_line(model, dtype, constants, backend)
    return render_code.module_source(program(name, l2, smoothing), dtype, constants, command, backend)


@cache
def module(name: str, l2: float | None = None, smoothing: float | None = None, dtype: str = "float64"):
    """The Numba module, imported from a file named by the hash of its text (numba caches beside it)."""
    pytest.importorskip("numba", reason=NUMBA)
    text = source(name, l2, smoothing, dtype)
    stem = f"{C.module_name(dtype, configure(name, l2, smoothing), 'numba')[:-3]}_{hashlib.sha1(text.encode()).hexdigest()[:12]}"
    path = MODULES / f"{stem}.py"
    if not path.exists():
        MODULES.mkdir(exist_ok=True)
        part = path.with_suffix(f".{os.getpid()}.tmp")
        part.write_text(text)
        part.replace(path)  # atomic: another test run may be writing the same file
    spec = importlib.util.spec_from_file_location(stem, path)
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[stem] = loaded  # as an import does: numba's cache finds the kernels' globals by the module's name
    spec.loader.exec_module(loaded)
    return loaded


@cache
def reference(name: str, l2: float | None = None, smoothing: float | None = None, dtype: str = "float64"):
    """The NumPy module of the configuration."""
    model = configure(name, l2, smoothing)
    return C.load_module(source(name, l2, smoothing, dtype, "numpy"), C.module_name(dtype, model)[:-3])


def data(name, N=40, d=5, K=3, seed=0, soft=False, dtype=np.float64):
    """(parameters..., X, labels); soft: unnormalised labels in [0, 2)."""
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
    """The model's mean loss plus the penalty, written again for HIPS autograd."""
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    def total(W, b, X, Y):
        Z = anp.dot(X, W) + b
        if name == "softmax":
            data_term = -anp.sum(Y * (Z - logsumexp(Z, axis=1, keepdims=True))) / X.shape[0]
        elif name == "logistic":
            data_term = anp.mean(Y * anp.logaddexp(0, -Z) + (1 - Y) * anp.logaddexp(0, Z))
        else:
            data_term = anp.mean((Z - Y) ** 2) / 2
        return data_term + (LAM / 2 * anp.sum(W**2) if l2 is not None else 0.0)

    return total


def assert_all_close(got, want, rtol, atol=0.0):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol, atol)


# --------------------------------------------------------------------------- the fused form and its printer


k, n, r, K = FU.k, FU.n, FU.r, S.K
Zk, t2 = sp.IndexedBase("Z", shape=(K,))[k], sp.IndexedBase("t2", shape=(K,))[k]


@pytest.mark.parametrize(
    "statement, code",
    [
        (For(k, sp.Range(K), [AddAugmentedAssignment(sp.Symbol("t3"), t2)]), "for k in range(K):\n    t3 += t2[k]"),
        (Assignment(sp.Symbol("m"), sp.Max(sp.Symbol("m"), Zk, evaluate=False)), "m = max(m, Z[k])"),
        (Assignment(sp.Symbol("m"), -sp.oo), "m = -np.inf"),
        (
            Assignment(FU.G[r, k], sp.exp(Zk) - FU.Label(sp.Symbol("P"), n, k)),
            "G[r, k] = np.exp(Z[k]) - _label(P, n, k)",
        ),
        (AddAugmentedAssignment(FU.SUMS[0], FU.G[r, 0] ** 2), "sums[0] += G[r, 0] ** 2"),
        (sp.Symbol("t0") ** 2 / 2, "t0**2 / 2"),
        (FU.SUMMED_VECTORS[0] * sp.Symbol("scale"), "scale * vectors[0]"),
    ],
)
def test_printer(statement, code):
    assert numba_code(statement) == code


@pytest.mark.parametrize("expr", [Dot(X, sp.Symbol("w")), Transposed(X), SumOver(X, 0)])
def test_printer_refuses_whole_arrays(expr):
    with pytest.raises(TypeError, match="is a whole-array operation: the fused kernel prints elements only"):
        numba_code(expr)


def printed(name: str, l2: float | None = None) -> tuple[list[str], list[str]]:
    fused = FU.fuse(program(name, l2))
    return [numba_code(s) for s in fused.epilogue], [numba_code(e) for _, e in fused.results]


def test_softmax_epilogue_is_the_kernel_element_by_element():
    """Z = b + XW, the max shift, one exp, G = a * (Sum_k P_k / T) - P, the loss's two sums and db's vector."""
    epilogue, results = printed("softmax")
    assert "\n".join(epilogue) == (
        "Z_max = -np.inf\n"
        "for k in range(K):\n"
        "    Z[k] = XW[r, k] + b[k]\n"
        "    Z_max = max(Z_max, Z[k])\n"
        "t1 = 0.0\n"
        "t3 = 0.0\n"
        "for k in range(K):\n"
        "    S[k] = Z[k] - Z_max\n"
        "    t1 += _label(P, n, k)\n"
        "    t2[k] = np.exp(S[k])\n"
        "    t3 += t2[k]\n"
        "for k in range(K):\n"
        "    G[r, k] = (t1 / t3) * t2[k] - _label(P, n, k)\n"
        "    sums[1] += S[k] * _label(P, n, k)\n"
        "    vectors[0, k] += G[r, k]\n"
        "sums[0] += t1 * np.log(t3)"
    )
    assert results == ["-scale * (sums[1] - sums[0])", "XG * scale", "scale * vectors[0]"]
    assert printed("softmax", 0.1) == (epilogue, results)  # the penalty is added once, outside the kernel


def test_single_output_epilogues_are_straight_line_code():
    """Logistic and linear come out of the same fusion: no classes, one column of the tiles."""
    assert printed("logistic") == (
        [
            "Z = b + XW[r, 0]",
            "t0 = np.logaddexp(0, -Z)",
            "G[r, 0] = np.exp(-t0) - y[n]",
            "sums[0] += Z * (1 - y[n]) + t0",
            "sums[1] += G[r, 0]",
        ],
        ["scale * sums[0]", "XG * scale", "scale * sums[1]"],
    )
    assert printed("linear") == (
        ["Z = b + XW[r, 0]", "G[r, 0] = Z - y[n]", "sums[0] += G[r, 0] ** 2", "sums[1] += G[r, 0]"],
        ["scale * sums[0] / 2", "XG * scale", "scale * sums[1]"],
    )


def test_fused_scratch_and_accumulators():
    fused = FU.fuse(program("softmax"))
    assert (fused.classes, [str(s) for s in fused.scratch], fused.sums, fused.vectors) == (True, ["Z", "S", "t2"], 2, 1)
    assert [s.op for s in fused.steps] == ["=", "max", "=", "sum", "=", "sum", "=", "+=", "+=", "+="]
    fused = FU.fuse(program("logistic"))
    assert (fused.classes, fused.scratch, fused.sums, fused.vectors) == (False, (), 2, 0)


def test_loops_split_where_a_reduction_is_needed():
    """A statement that reads a reduction over the classes waits for its loop to end; others share it."""
    a, m = sp.IndexedBase("a", shape=(K,))[k], sp.Symbol("m")
    steps = (
        FU.Step("max", m, Zk, True),
        FU.Step("=", a, Zk * 2, True),
        FU.Step("=", t2, Zk - m, True),
        FU.Step("=", sp.Symbol("u"), m, False),
    )
    assert [numba_code(s) for s in FU.statements(steps)] == [
        "m = -np.inf",
        "for k in range(K):\n    m = max(m, Z[k])\n    a[k] = 2 * Z[k]",
        "for k in range(K):\n    t2[k] = Z[k] - m",
        "u = m",
    ]


# --------------------------------------------------------------------------- numerics


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_agrees_with_the_numpy_module(config):
    """loss_and_grad, grad and loss (mean and sum) give what the NumPy module gives, across blocks and tiles."""
    name, l2, _ = config
    gen, ref = module(*config), reference(*config)
    assert gen.BLOCK_ROWS == BLOCK_ROWS
    arrays = data(name, 2 * BLOCK_ROWS + 7, 6, K=12, soft=True)
    got = gen.loss_and_grad(*arrays, **keywords(l2))
    assert type(got[0]) is float and all(np.asarray(g).dtype == np.float64 for g in got[1:])
    assert_all_close(got, ref.loss_and_grad(*arrays, **keywords(l2)), 1e-12, 1e-14)
    assert_all_close(gen.grad(*arrays, "sum", **keywords(l2)), ref.grad(*arrays, "sum", **keywords(l2)), 1e-12, 1e-12)
    for reduction in ("mean", "sum"):
        assert_all_close(
            [gen.loss(*arrays, reduction, **keywords(l2))], [ref.loss(*arrays, reduction, **keywords(l2))], 1e-12
        )


@pytest.mark.parametrize("config, N, d, K, soft", SHAPES, ids=SHAPE_IDS)
def test_agrees_with_autograd_of_an_independent_loss(config, N, d, K, soft):
    """The fused kernel against HIPS autograd of the loss written again: N = 1, K = 1, soft labels, many blocks."""
    import autograd

    name, l2, _ = config
    arrays = data(name, N, d, K, seed=N + d + K, soft=soft)
    H, grads = autograd.value_and_grad(independent_loss(name, l2), argnum=(0, 1))(*arrays)
    assert_all_close(module(*config).loss_and_grad(*arrays, **keywords(l2)), [H, *grads], 1e-10, 1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
def test_class_indices_are_one_hot_labels(dtype):
    """Integer labels (N,) give what their one-hot rows give, in both dtypes, without the (N, K) array."""
    gen = module("softmax", dtype=dtype)
    W, b, X, _ = data("softmax", 2 * BLOCK_ROWS + 7, 6, K=7, dtype=dtype)
    classes = np.random.default_rng(3).integers(0, 7, len(X))
    want = gen.loss_and_grad(W, b, X, np.eye(7, dtype=dtype)[classes])
    for labels in (classes, classes.astype(np.uint8), classes.astype(np.int32)):
        got = gen.loss_and_grad(W, b, X, labels)
        assert all(np.asarray(g).dtype == np.dtype(dtype) for g in got[1:])
        assert_all_close(got, want, 1e-12 if dtype == "float64" else 1e-6, 1e-12 if dtype == "float64" else 1e-7)
        assert gen.loss(W, b, X, labels) == pytest.approx(want[0], rel=1e-12 if dtype == "float64" else 1e-6)


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
    """Finite and exact at logits of +-1e3, in float64 and float32, without a floating-point warning."""
    gen = module(name, dtype=dtype)
    arrays, want = extreme(name)
    arrays = tuple(np.asarray(a, dtype) for a in arrays)
    with np.errstate(all="raise"):
        got = gen.loss_and_grad(*arrays)
    assert all(np.isfinite(g).all() for g in got)
    assert_all_close(got, want, 1e-6, 1e-7)
    if name == "softmax":
        assert_all_close(gen.loss_and_grad(*arrays[:3], np.array([1, 1])), want, 1e-6, 1e-7)


@pytest.mark.parametrize("config", MODELS, ids=IDS[:3])
def test_float32(config):
    """The float32 module computes in float32 and agrees with the float64 one; any real floating input."""
    name, _, _ = config
    gen32, gen64 = module(*config, dtype="float32"), module(*config)
    arrays = data(name, 2 * BLOCK_ROWS + 7, 6, K=4, dtype=np.float32, soft=True)
    got, want = gen32.loss_and_grad(*arrays), gen64.loss_and_grad(*arrays)
    assert all(np.asarray(g).dtype == np.float32 for g in got[1:] if not isinstance(g, float))
    assert_all_close(got, want, 1e-5, 1e-6)
    halves = tuple(a.astype(np.float16) if isinstance(a, np.ndarray) else a for a in arrays)
    assert_all_close(gen32.loss_and_grad(*halves), gen64.loss_and_grad(*halves), 1e-5, 1e-6)


def test_any_layout_of_the_inputs():
    """Fortran-ordered and strided arrays are read as well as C-ordered ones (converted once, in C order)."""
    gen = module("softmax")
    W, b, X, P = data("softmax", 50, 6, soft=True)
    want = gen.loss_and_grad(W, b, X, P)
    assert_all_close(gen.loss_and_grad(np.asfortranarray(W), b, np.asfortranarray(X), P[:, ::1]), want, 0, 0)
    wide = np.repeat(X, 2, axis=1)
    assert_all_close(gen.loss_and_grad(W, b, wide[:, ::2], P), want, 0, 0)


def test_the_same_bits_for_any_number_of_threads():
    """The blocks are fixed by BLOCK_ROWS and added up in order: 1 or 2 threads, the same result to the bit."""
    numba = pytest.importorskip("numba", reason=NUMBA)

    gen = module("softmax")
    arrays = data("softmax", 5 * BLOCK_ROWS + 3, 7, K=5, soft=True)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = gen.loss_and_grad(*arrays)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        many = gen.loss_and_grad(*arrays)
    finally:
        numba.set_num_threads(threads)
    assert_all_close(one, many, 0, 0)
    assert_all_close(gen.loss_and_grad(*arrays), many, 0, 0)


@pytest.mark.parametrize("bias", [1, 1.0, np.float32(1.0), np.int64(1), np.asarray(1.0)])
def test_scalar_bias_of_any_real_type(bias):
    gen = module("logistic")
    w, _, X, y = data("logistic", 5, 3)
    assert_all_close(gen.loss_and_grad(w, bias, X, y), gen.loss_and_grad(w, np.float64(1.0), X, y), 0, 0)


def test_compiled_once_and_cached():
    """A module imported from a file caches its kernel beside it; one run from a string (no file) cannot."""
    gen = module("softmax")
    gen.loss(*data("softmax", 3, 2))
    assert gen.CACHE is True and Path(gen._kernel.stats.cache_path) == MODULES / "__pycache__"
    assert sum(gen._kernel.stats.cache_hits.values()) + sum(gen._kernel.stats.cache_misses.values()) >= 1
    assert C.load_module(source("softmax"), "from_a_string").CACHE is False  # compiles on first call, per process


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda W, b, X, P: (W[:2], b, X, P),
            (
                r"^shapes W \(2, 3\), b \(3,\), X \(5, 3\), P \(5, 3\) do not fit W \(d, K\), b \(K,\), "
                r"X \(N, d\), P \(N, K\) or \(N,\), N >= 1$"
            ),
        ),
        (lambda W, b, X, P: (W, b[:2], X, P), r"b \(2,\)"),
        (lambda W, b, X, P: (W, b, X[None], P), r"X \(1, 5, 3\)"),
        (lambda W, b, X, P: (W, b, X[:0], P[:0]), r"N >= 1"),
        (lambda W, b, X, P: (W, b, X, P[:, 0]), r"^P has dtype float64: class indices \(N,\) must be integers$"),
        (lambda W, b, X, P: (W, b, X, P.astype(np.int32)), r"^P has dtype int32: only real floating dtypes are"),
        (lambda W, b, X, P: (W, b, X, P.argmax(axis=1) == 0), r"^P has dtype bool: class indices"),
        (lambda W, b, X, P: (W, b, X, P.argmax(axis=1) + 1), r"^class indices in P must be 0\.\.2, not 1\.\.3$"),
        (lambda W, b, X, P: (W, b, X, P.argmax(axis=1) - 1), r"^class indices in P must be 0\.\.2, not -1\.\."),
        (lambda W, b, X, P: (W.astype(np.complex64), b, X, P), r"^W has dtype complex64"),
        (lambda W, b, X, P: (W, b.astype(bool), X, P), r"^b has dtype bool"),
        (lambda W, b, X, P: (W.tolist(), b, X, P), r"^W, b, X and P must be NumPy arrays$"),
    ],
)
def test_bad_inputs_are_refused_before_the_kernel(change, message):
    """The checks are Python's, before the kernel: no compilation is needed to see them."""
    gen = module("softmax")
    for function in (gen.loss, gen.loss_and_grad, gen.grad):
        with pytest.raises(ValueError, match=message):
            function(*change(*data("softmax", 5, 3)))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda w, b, X, y: (w[:2], b, X, y), r"^shapes w \(2,\), b \(\), X \(5, 3\), y \(5,\) do not fit"),
        (lambda w, b, X, y: (w, b, X, y.astype(np.int64)), r"^y has dtype int64"),  # no class indices without classes
        (lambda w, b, X, y: (w, True, X, y), r"^b must be a real number, not bool of shape \(\)$"),
        (lambda w, b, X, y: (w, np.zeros(2), X, y), r"^b must be a real number, not ndarray of shape \(2,\)$"),
    ],
)
def test_bad_inputs_of_a_single_output_model(change, message):
    gen = module("logistic")
    with pytest.raises(ValueError, match=message):
        gen.loss_and_grad(*change(*data("logistic", 5, 3)))


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum', not 'max'"):
        module("softmax").loss(*data("softmax", 5, 3), reduction="max")


# --------------------------------------------------------------------------- the generated text

ALL = [(*config, dtype) for config in CONFIGS for dtype in DTYPES]


@pytest.mark.slow
def test_ruff_passes_on_every_generated_module(tmp_path):
    """ruff check and ruff format --check, with the project's settings, over every configuration and dtype."""
    for name, l2, smoothing, dtype in ALL:
        (tmp_path / C.module_name(dtype, configure(name, l2, smoothing), "numba")).write_text(
            source(name, l2, smoothing, dtype)
        )
    assert len(list(tmp_path.glob("*_numba*.py"))) == len(ALL)
    for check in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *check, "--config", str(ROOT / "pyproject.toml"), str(tmp_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


#: the one function whose parameters are not annotated: numba matches them to those of the lambdas it returns
UNANNOTATED = {"_compiled_label"}


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_typed_documented_and_importing_numpy_and_numba_alone(config):
    tree = ast.parse(source(*config))
    docstring = ast.get_docstring(tree)
    assert docstring.startswith(f"{configure(*config).title}: loss and gradients for a batch, compiled by Numba.")
    assert "Do not edit: regenerate with ``derive code --backend numba" in docstring
    imports = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imports |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    extra = {"numba.extending", "collections.abc"} if config[0] == "softmax" else set()
    assert imports == {"__future__", "numba", "numpy", *extra}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            assert ast.get_docstring(node), node.name
            assert node.returns is not None, node.name
            assert node.name in UNANNOTATED or all(a.annotation is not None for a in node.args.args), node.name


def test_the_kernel_is_fused_tiled_and_parallel():
    """One pass: prange over blocks, the tiles of both products (fastmath), the epilogue between them; cached."""
    text = source("softmax")
    assert text.count("@numba.njit(fastmath=FASTMATH, cache=CACHE)\n") == 2  # the products
    for line in (
        "@numba.njit(parallel=True, fastmath=False, cache=CACHE)\n",
        "    for block in numba.prange(blocks):\n",
        "        _product(X, WT, tile, rows, XW)\n",
        "                G[r, k] = (t1 / t3) * t2[k] - _label(P, n, k)\n",
        "            _transposed_product(G, X, tile, rows, XG)\n",
        "                s34 += x3 * w4\n",
        "                XG[j + 4, i] += g04 * x0 + g14 * x1 + g24 * x2 + g34 * x3\n",
        f"BLOCK_ROWS = {BLOCK_ROWS}\n",
    ):
        assert line in text
    assert "                s70 += x7 * w0\n" in source("logistic")  # 8 rows x 1 column for a single output


@pytest.mark.slow
def test_deterministic_across_processes():
    """Another process with another hash seed writes the same text (softmax, and logistic with L2 in float32)."""
    script = (
        "import sys\n"
        "from derive.app.code import module_source\n"
        "from derive.core import symbols as S\n"
        "from derive.core.models import configure\n"
        "sys.stdout.write(module_source('float64', backend='numba') + '\\0')\n"
        "sys.stdout.write(module_source('float32', configure('logistic', 0.1), {S.lam: 0.1}, 'numba'))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4243"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split("\0") == [source("softmax"), source("logistic", 0.1, dtype="float32")]


def test_cli_writes_the_module(tmp_path, capsys):
    assert cli.main(["code", "--backend", "numba", "--dtype", "float32", "-o", str(tmp_path)]) == 0
    path = tmp_path / "softmax_grad_numba_float32.py"
    assert capsys.readouterr().out == f"{path}\n"
    assert path.read_text() == source("softmax", dtype="float32")
