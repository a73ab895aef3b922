"""The generated PyTorch modules (``derive code --backend torch``) for every model and add-on.

Each module is checked against the NumPy module of the same configuration and against PyTorch's
own autograd of an independently written loss: random inputs, soft and unnormalised labels,
extreme logits (+-1e3), float32, N = 1, K = 1; ``torch.autograd.gradcheck`` in float64; the
module's ``loss`` inside a ``torch.nn`` model; bad shapes, dtypes, devices and types; ruff, types,
docstrings, imports and determinism of the generated text.  Modules are generated once per
configuration and shared by the tests.
"""

from __future__ import annotations

import ast
import itertools
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
from derive.codegen.program import DTYPES, Program
from derive.core import symbols as S
from derive.core.models import configure
from derive.core.primitives import softplus
from derive.printing.torch import torch_code
from derive.render import code as render_code

torch = pytest.importorskip("torch", reason="the PyTorch backend's tests need torch (pip install torch==2.13.0)")

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


@cache
def program(name: str, l2: float | None = None, smoothing: float | None = None) -> Program:
    """The configuration's program (lowered, stabilised kernels), made once and printed by every backend and dtype."""
    return PR.program(configure(name, l2, smoothing), exact=True)


@cache
def source(name: str, l2: float | None = None, smoothing: float | None = None, dtype: str = "float64", backend="torch"):
    """The module's text as ``derive code`` writes it, once per configuration, dtype and backend for all the tests here.

    (That ``derive code`` writes this text, with the program made anew, is test_cli_writes_the_module's job.)
    """
    model = configure(name, l2, smoothing)
    constants = {**model.constants, **({S.lam: l2} if l2 is not None else {})}
    command = C.command_line(model, dtype, constants, backend)
    return render_code.module_source(program(name, l2, smoothing), dtype, constants, command, backend)


@cache
def module(name: str, l2: float | None = None, smoothing: float | None = None, dtype: str = "float64", backend="torch"):
    model = configure(name, l2, smoothing)
    return C.load_module(source(name, l2, smoothing, dtype, backend), C.module_name(dtype, model, backend)[:-3])


def reference_module(name, l2=None, smoothing=None, dtype="float64"):
    return module(name, l2, smoothing, dtype, "numpy")


def data(name, N=40, d=5, K=3, seed=0, soft=False):
    """NumPy float64 (parameters..., X, labels); soft: unnormalised labels in [0, 2)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, d))
    if name == "softmax":
        P = rng.random((N, K)) * 2 if soft else np.eye(K)[rng.integers(0, K, N)]
        return rng.standard_normal((d, K)), rng.standard_normal(K), X, P
    y = rng.random(N) if name == "logistic" else rng.standard_normal(N)
    return rng.standard_normal(d), np.float64(rng.standard_normal()), X, y


def tensors(arrays, dtype=torch.float64):
    return tuple(torch.tensor(np.asarray(a), dtype=dtype) for a in arrays)


def keywords(l2):
    return {"l2": LAM} if l2 is not None else {}


def independent_loss(name, l2):
    """The model's loss written again in PyTorch, for its autograd: log_softmax, logaddexp, the squared error."""
    import torch.nn.functional as F

    def total(W, b, X, Y):
        Z = X @ W + b
        if name == "softmax":
            data_term = -(Y * F.log_softmax(Z, dim=1)).sum() / X.shape[0]
        elif name == "logistic":
            zero = torch.zeros_like(Z)
            data_term = (Y * torch.logaddexp(zero, -Z) + (1 - Y) * torch.logaddexp(zero, Z)).mean()
        else:
            data_term = ((Z - Y) ** 2).mean() / 2
        return data_term + (LAM / 2 * (W**2).sum() if l2 is not None else 0.0)

    return total


def assert_close(got, want, rtol, atol=0.0):
    np.testing.assert_allclose(
        np.asarray(got.detach().cpu() if isinstance(got, torch.Tensor) else got), want, rtol, atol
    )


def backward(gen, arrays, dtype=torch.float64, **kw):
    """loss(...).backward() on leaf parameters: (H, their .grad)."""
    W, b, X, Y = tensors(arrays, dtype)
    W.requires_grad_()
    b.requires_grad_()
    H = gen.loss(W, b, X, Y, **kw)
    H.backward()
    return H, W.grad, b.grad


# --------------------------------------------------------------------------- the printer

X, G, W, b, P, Sh, t0, t1, y = sp.symbols("X G W b P S t0 t1 y")


@pytest.mark.parametrize(
    "expr, code",
    [
        (AR.Dot(AR.Transposed(X), G), "X.T @ G"),
        (AR.Dot(AR.Transposed(W), AR.Transposed(X)), "(X @ W).T"),
        (AR.scale * AR.Dot(AR.Transposed(X), AR.Transposed(G)), "scale * (G @ X).T"),
        (AR.Column(b) + AR.Dot(AR.Transposed(W), AR.Transposed(X)), "b[:, None] + (X @ W).T"),
        (AR.SumOver(sp.exp(Sh), 0), "torch.exp(S).sum(dim=0)"),
        (AR.MaxOver(X + W, 0), "(W + X).amax(dim=0)"),
        (AR.Contiguous(AR.Transposed(P)), "P.T.contiguous()"),
        (-AR.scale * AR.Inner(P, Sh - sp.log(t1)), "-scale * (P * (S - torch.log(t1))).sum()"),
        (AR.scale * AR.Inner(t0, t0) / 2, "scale * (t0**2).sum() / 2"),
        (AR.Total(G), "G.sum()"),
        (softplus(-X), "-torch.nn.functional.logsigmoid(X)"),
        (sp.exp(-softplus(-X)) - y, "torch.exp(torch.nn.functional.logsigmoid(X)) - y"),
        (-2 * y * softplus(X) / t1, "(2 * y / t1) * torch.nn.functional.logsigmoid(-X)"),
        (1 / t1, "1 / t1"),
        (t0 * AR.Grouped(AR.SumOver(P, 0) / t1) - P, "t0 * (P.sum(dim=0) / t1) - P"),
    ],
)
def test_printer(expr, code):
    """SymPy's TorchPrinter with the NumPy printer's array operations, in PyTorch's spelling."""
    assert torch_code(expr) == code


# --------------------------------------------------------------------------- numerics


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_agrees_with_the_numpy_module(config, dtype):
    """loss_and_grad, grad and loss(...).backward() give what the NumPy module of the same configuration gives."""
    name, l2, _ = config
    gen, ref = module(*config, dtype=dtype), reference_module(*config, dtype=dtype)
    arrays = data(name, soft=True)
    rtol = 1e-12 if dtype == "float64" else 2e-5
    want = ref.loss_and_grad(*arrays, **keywords(l2))
    got = gen.loss_and_grad(*tensors(arrays), **keywords(l2))
    assert all(g.dtype == getattr(torch, dtype) for g in got) and got[0].shape == ()
    for g, w in zip(got, want):
        assert_close(g, w, rtol, atol=rtol)
    for g, w in zip(backward(gen, arrays, **keywords(l2)), want):
        assert_close(g, w, rtol, atol=rtol)
    for g, w in zip(
        gen.grad(*tensors(arrays), reduction="sum", **keywords(l2)), ref.grad(*arrays, "sum", **keywords(l2))
    ):
        assert_close(g, w, rtol, atol=rtol)
    assert_close(
        gen.loss(*tensors(arrays), reduction="sum", **keywords(l2)), ref.loss(*arrays, "sum", **keywords(l2)), rtol
    )


@pytest.mark.parametrize("config, N, d, K, soft", SHAPES, ids=SHAPE_IDS)
def test_agrees_with_autograd_of_an_independent_loss(config, N, d, K, soft):
    """The derived backward against PyTorch's autograd of the loss written again: N = 1, K = 1, soft labels."""
    name, l2, _ = config
    gen = module(*config)
    arrays = data(name, N, d, K, seed=N + d + K, soft=soft)
    W, b, X, Y = tensors(arrays)
    W.requires_grad_()
    b.requires_grad_()
    H = independent_loss(name, l2)(W, b, X, Y)
    dW, db = torch.autograd.grad(H, (W, b))
    for got in (backward(gen, arrays, **keywords(l2)), gen.loss_and_grad(*tensors(arrays), **keywords(l2))):
        assert_close(got[0], H.detach(), 1e-12, 1e-15)
        assert_close(got[1], dW, 1e-10, 1e-14)
        assert_close(got[2], db, 1e-10, 1e-14)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_gradcheck(config):
    """torch.autograd.gradcheck in float64: the derived backward against finite differences of the forward."""
    name, l2, _ = config
    gen = module(*config)
    W, b, X, Y = tensors(data(name, 6, 3, soft=True))
    assert torch.autograd.gradcheck(
        lambda W_, b_: gen.loss(W_, b_, X, Y, **keywords(l2)), (W.requires_grad_(), b.requires_grad_())
    )


def extreme(name, dtype):
    """Logits of +-1e3 with their exact loss and gradients: (arrays, H, dW, db)."""
    X = np.array([[1.0], [-1.0]])
    if name == "softmax":
        # logits (1000, -1000, 0) and (-1000, 1000, 0), labels class 2 and class 2: losses 2000 and 0; a - P = (1, -1, 0), 0
        arrays = (np.array([[1000.0, -1000.0, 0.0]]), np.zeros(3), X, np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]))
        return arrays, 1000.0, np.array([[0.5, -0.5, 0.0]]), np.array([0.5, -0.5, 0.0])
    # logits 1000 and -1000, labels 0 and 0: losses 1000 and 0 (mean 500); sigma - y = 1, 0
    return (np.array([1000.0]), np.float64(0.0), X, np.zeros(2)), 500.0, np.array([0.5]), 0.5


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax", "logistic"])
def test_extreme_logits(name, dtype):
    """Finite and exact at logits of +-1e3, in float64 and float32, through loss_and_grad and the backward."""
    gen = module(name, dtype=dtype)
    arrays, H, dW, db = extreme(name, dtype)
    for got in (
        gen.loss_and_grad(*tensors(arrays, getattr(torch, dtype))),
        backward(gen, arrays, getattr(torch, dtype)),
    ):
        assert all(torch.isfinite(g).all() for g in got)
        assert_close(got[0], H, 1e-6)
        assert_close(got[1], dW, 1e-6, 1e-7)
        assert_close(got[2], db, 1e-6, 1e-7)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_float32(config):
    """The float32 module computes in float32 and agrees with the float64 one; float32 parameters get float32 grads."""
    name, l2, _ = config
    gen32, gen64 = module(*config, dtype="float32"), module(*config)
    arrays = data(name, 50, 6)
    got = gen32.loss_and_grad(*tensors(arrays, torch.float32), **keywords(l2))
    want = gen64.loss_and_grad(*tensors(arrays), **keywords(l2))
    for g, w in zip(got, want):
        assert g.dtype == torch.float32
        assert_close(g, w.numpy(), 1e-4, 1e-5)
    H, dW, db = backward(gen64, arrays, torch.float32, **keywords(l2))  # float32 in, float64 inside
    assert H.dtype == torch.float64 and dW.dtype == db.dtype == torch.float32
    assert_close(dW, want[1].numpy(), 1e-6, 1e-7)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_other_floating_dtypes_are_converted(dtype):
    gen = module("softmax")
    arrays = tensors(data("softmax", 8, 3), dtype)
    want = gen.loss_and_grad(*(a.to(torch.float64) for a in arrays))
    for g, w in zip(gen.loss_and_grad(*arrays), want):
        assert g.dtype == torch.float64
        torch.testing.assert_close(g, w, rtol=0, atol=0)


@pytest.mark.parametrize(
    "bias", [1, 1.0, np.float32(1.0), np.int64(1), torch.tensor(1.0), torch.tensor(1, dtype=torch.float16)]
)
def test_scalar_bias_of_any_real_type(bias):
    gen = module("logistic")
    w, _, X, y = tensors(data("logistic", 5, 3))
    want = gen.loss_and_grad(w, torch.tensor(1.0, dtype=torch.float64), X, y)
    for g, v in zip(gen.loss_and_grad(w, bias, X, y), want):
        torch.testing.assert_close(g, v, rtol=0, atol=0)


def test_drops_into_a_pytorch_model():
    """The loss of an nn.Linear layer's weight (a transposed view) and bias: the same gradients as F.cross_entropy."""
    gen = module("softmax")
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 3, dtype=torch.float64)
    X = torch.randn(16, 4, dtype=torch.float64)
    labels = torch.randint(0, 3, (16,))
    gen.loss(layer.weight.T, layer.bias, X, torch.nn.functional.one_hot(labels, 3).to(torch.float64)).backward()
    derived = layer.weight.grad.clone(), layer.bias.grad.clone()
    layer.zero_grad()
    torch.nn.functional.cross_entropy(layer(X), labels).backward()
    torch.testing.assert_close(derived, (layer.weight.grad, layer.bias.grad), rtol=1e-12, atol=1e-15)
    optimiser = torch.optim.SGD(layer.parameters(), lr=0.5)
    P = torch.nn.functional.one_hot(labels, 3).to(torch.float64)
    losses = []
    for _ in range(20):
        optimiser.zero_grad()
        H = gen.loss(layer.weight.T, layer.bias, X, P)
        H.backward()
        optimiser.step()
        losses.append(H.item())
    assert all(later < earlier for earlier, later in itertools.pairwise(losses)) and losses[-1] < 0.6 * losses[0]


def test_the_backward_is_derives():
    """autograd records one node, the module's Function, and no graph of the loss's operations; no second derivative."""
    gen = module("softmax")
    W, b, X, P = tensors(data("softmax", 5, 2))
    H = gen.loss(W.requires_grad_(), b, X, P)
    assert type(H.grad_fn).__name__ == "_LossBackward"
    assert {type(f[0]).__name__ for f in H.grad_fn.next_functions if f[0] is not None} == {"AccumulateGrad"}
    (dW,) = torch.autograd.grad(H, W, create_graph=True)
    assert not dW.requires_grad  # once differentiable: no graph for a second derivative
    assert gen.loss(*tensors(data("softmax", 5, 2))).grad_fn is None
    with torch.no_grad():
        assert gen.loss(W, b, X, P).grad_fn is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_cuda(config):
    """On the inputs' device: CUDA tensors in, CUDA tensors out, the same numbers as on the CPU."""
    name, l2, _ = config
    gen = module(*config)
    arrays = data(name)
    got = gen.loss_and_grad(*(t.cuda() for t in tensors(arrays)), **keywords(l2))
    assert all(g.device.type == "cuda" for g in got)
    for g, w in zip(got, gen.loss_and_grad(*tensors(arrays), **keywords(l2))):
        torch.testing.assert_close(g.cpu(), w, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- bad inputs


def softmax_inputs():
    return tensors(data("softmax", 5, 3))


@pytest.mark.parametrize(
    "change, error, message",
    [
        (
            lambda W, b, X, P: (W[:2], b, X, P),
            ValueError,
            r"^shapes W \(2, 3\), b \(3,\), X \(5, 3\), P \(5, 3\) do not",
        ),
        (lambda W, b, X, P: (W, b[:2], X, P), ValueError, r"b \(2,\)"),
        (lambda W, b, X, P: (W, b, X[None], P), ValueError, r"X \(1, 5, 3\)"),
        (lambda W, b, X, P: (W, b, X[:0], P[:0]), ValueError, r"N >= 1"),
        (lambda W, b, X, P: (W, b, X, P.to(torch.int64)), ValueError, r"^P has dtype torch.int64: only real floating"),
        (lambda W, b, X, P: (W.to(torch.complex128), b, X, P), ValueError, r"^W has dtype torch.complex128"),
        (lambda W, b, X, P: (W, b.bool(), X, P), ValueError, r"^b has dtype torch.bool"),
        (lambda W, b, X, P: (W, b, X.numpy(), P), TypeError, r"^W, b, X and P must be torch tensors, not X: ndarray$"),
        (lambda W, b, X, P: (W, b, X, P.to("meta")), ValueError, r"must be on one device, not W on cpu, .* P on meta"),
    ],
)
def test_bad_inputs(change, error, message):
    gen = module("softmax")
    for function in (gen.loss, gen.loss_and_grad, gen.grad):
        with pytest.raises(error, match=message):
            function(*change(*softmax_inputs()))


@pytest.mark.parametrize(
    "bias, message", [(True, "not bool"), ("0", "not str"), (1j, "not complex"), (np.zeros(2), "not ndarray")]
)
def test_bad_scalar_bias(bias, message):
    w, _, X, y = tensors(data("logistic", 5, 3))
    with pytest.raises(TypeError, match=f"^b must be a 0-d tensor or a real number, {message}$"):
        module("logistic").loss_and_grad(w, bias, X, y)
    with pytest.raises(ValueError, match=r"b \(2,\)"):
        module("logistic").loss(w, torch.zeros(2), X, y)


def test_features_or_labels_requiring_grad_are_refused():
    """The engine derives the gradients of the parameters only: a silently missing gradient of X would be wrong."""
    gen = module("softmax")
    W, b, X, P = softmax_inputs()
    with pytest.raises(ValueError, match="^derive's backward gives the gradients of W and b only: X and P must not"):
        gen.loss(W.requires_grad_(), b, X.requires_grad_(), P)
    with torch.no_grad():
        gen.loss(W, b, X, P)
    assert gen.loss_and_grad(W, b, X, P)[0].grad_fn is None  # loss_and_grad records nothing: X may require grad


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum', not 'max'"):
        module("softmax").loss(*softmax_inputs(), reduction="max")


# --------------------------------------------------------------------------- the generated text

ALL = [(*config, dtype) for config in CONFIGS for dtype in DTYPES]


@pytest.mark.slow
def test_ruff_passes_on_every_generated_module(tmp_path):
    """ruff check and ruff format --check, with the project's settings, over every configuration and dtype."""
    for name, l2, smoothing, dtype in ALL:
        (tmp_path / C.module_name(dtype, configure(name, l2, smoothing), "torch")).write_text(
            source(name, l2, smoothing, dtype)
        )
    assert len(list(tmp_path.glob("*_torch*.py"))) == len(ALL)
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
def test_typed_documented_and_importing_torch_alone(config):
    tree = ast.parse(source(*config))
    docstring = ast.get_docstring(tree)
    assert docstring.startswith(f"{configure(*config[:1]).title}")
    assert "Generated by derive" in docstring and "``derive code --backend torch" in docstring
    assert "Do not edit: regenerate with ``derive code --backend torch" in docstring
    imports = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imports |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imports <= {"torch", "numbers", "__future__"} and "torch" in imports
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            assert ast.get_docstring(node) or node.name in ("forward", "backward"), node.name
        if isinstance(node, ast.FunctionDef):
            assert node.returns is not None, node.name
            assert all(a.annotation is not None for a in node.args.args), node.name


def test_the_kernel_is_the_lowered_closed_form():
    """The printed kernel: class-major logits, the max shift, one exp, the derived gradient G = a * (Sum_k P_k / T) - P."""
    text = source("softmax")
    for line in (
        "    Z = b[:, None] + (X @ W).T\n",
        "    S = Z - Z.amax(dim=0)\n",
        "    t0 = P.T.contiguous()\n",
        "    t4 = t2 * (t1 / t3) - t0\n",
        "    return -scale * ((S * t0).sum() - (t1 * torch.log(t3)).sum()), scale * (t4 @ X).T, scale * t4.sum(dim=1)\n",
    ):
        assert line in text
    assert "    t0 = -torch.nn.functional.logsigmoid(Z)\n" in source("logistic")


@pytest.mark.slow
def test_deterministic_across_processes():
    """Another process with another hash seed writes the same text (softmax, and logistic with L2 in float32)."""
    script = (
        "import sys\n"
        "from derive.app.code import module_source\n"
        "from derive.core import symbols as S\n"
        "from derive.core.models import configure\n"
        "sys.stdout.write(module_source('float64', backend='torch') + '\\0')\n"
        "sys.stdout.write(module_source('float32', configure('logistic', 0.1), {S.lam: 0.1}, 'torch'))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split("\0") == [source("softmax"), source("logistic", 0.1, dtype="float32")]


def test_cli_writes_the_module(tmp_path, capsys):
    assert cli.main(["code", "--backend", "torch", "--model", "logistic", "--l2", "0.1", "-o", str(tmp_path)]) == 0
    path = tmp_path / "logistic_l2_grad_torch.py"
    assert capsys.readouterr().out == f"{path}\n"
    assert path.read_text() == source("logistic", 0.1)
