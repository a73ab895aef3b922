"""Time the generated ``loss_and_grad`` against hand-written NumPy, autodiff frameworks and two GEMMs.

Run from the repository root::

    python benchmarks/bench_gradient.py                 # every size, float64 and float32
    python benchmarks/bench_gradient.py --sizes iris --repeats 200
    python benchmarks/bench_gradient.py --model logistic   # binary logistic regression (K is ignored)
    python benchmarks/bench_gradient.py --backends numpy numba torch jax --sizes mnist100k

Every implementation computes the same thing, the mean cross-entropy of
softmax(X W + b) against one-hot P and its gradients with respect to W and b
(with ``--model logistic``: the mean binary cross-entropy of sigmoid(X w + b)
against 0/1 labels y and its gradients with respect to w and the scalar b),
and is checked against the generated module before it is timed.  Each timing is
the median of up to ``--repeats`` samples (fewer when ``--budget`` seconds run
out), after warm-up calls (which also compile JAX); a sample is a batch of
consecutive calls (see ``sample_times``).  The phases (NumPy code, the same with
one BLAS thread, Numba, JAX, PyTorch) run in turn ``--rounds`` times, so that a slow
spell of a shared machine falls on all of them.  ``--busy N`` adds N spinning
processes, as on a busy machine; ``--block-rows`` sweeps the generated code's
BLOCK_ROWS.  Frameworks that are not installed are skipped.  Timings are
printed, never asserted.

``--backends`` also times the module that ``derive code --backend B`` writes for each
backend B named (numpy, numba, torch, jax: derive's registry), built in memory from
derive's code generator, in the phase of its framework; a backend whose package is
not installed is reported as skipped.  The Numba module is imported from a file in the
temporary directory, named by a hash of its text, so that numba compiles its kernel once
per machine (numba's cache) rather than in every run.  Beside every timing: the compute
floor, the time of one square GEMM with the FLOP count of the two products (4 N d K),
measured on the same machine in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from derive.app.code import load_module, module_name, module_source
from derive.render.backends import BACKENDS

SIZES = {
    "iris": (150, 4, 3),
    "mnist10k": (10_000, 784, 10),
    "mnist100k": (100_000, 784, 10),
    "million": (1_000_000, 100, 10),
}
Impl = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple]
#: the package each backend's generated module needs, and the phase it is timed in
BACKEND_PACKAGES = {"numpy": "numpy", "numba": "numba", "torch": "torch", "jax": "jax"}
BACKEND_PHASES = {"numpy": "numpy", "numba": "numba", "torch": "torch", "jax": "jax"}
#: where the Numba modules are imported from, so that numba's cache of their kernels outlives the run
MODULES = Path(tempfile.gettempdir()) / "derive-bench-modules"


def generated(dtype: str, model: str = "softmax", block_rows: int | None = None) -> types.ModuleType:
    """The generated module for ``dtype`` and ``model``, built in memory from derive's own code generator
    (with ``BLOCK_ROWS = block_rows`` when given)."""
    module = load_module(module_source(dtype, model), f"{model}_grad_{dtype}")
    if block_rows is not None:
        module.BLOCK_ROWS = block_rows
    return module


def installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def backend_module(backend: str, dtype: str, model: str = "softmax") -> types.ModuleType:
    """The module that ``derive code --backend backend`` writes, built in memory; Numba's imported from a file."""
    source = module_source(dtype, model, backend=backend)
    name = module_name(dtype, model, backend)[:-3]
    if backend != "numba":
        return load_module(source, name)
    stem = f"{name}_{hashlib.sha1(source.encode()).hexdigest()[:12]}"
    path = MODULES / f"{stem}.py"
    if not path.exists():
        MODULES.mkdir(exist_ok=True)
        part = path.with_suffix(f".{os.getpid()}.tmp")
        part.write_text(source)
        part.replace(path)
    spec = importlib.util.spec_from_file_location(stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[stem] = module  # numba's cache finds the kernels' globals by the module's name
    spec.loader.exec_module(module)
    return module


def backend_impl(backend: str, dtype: str, model: str = "softmax", labels: str = "given") -> Impl | None:
    """The generated module's loss_and_grad on NumPy arrays, the data converted once (as in a training loop);
    None when the backend's package is not installed.  ``labels="classes"``: class indices instead of P."""
    if not installed(BACKEND_PACKAGES[backend]):
        return None
    module = backend_module(backend, dtype, model)
    if backend in ("numpy", "numba"):
        if labels == "classes":
            return lambda W, b, X, P: module.loss_and_grad(W, b, X, P.argmax(axis=1) if P.ndim == 2 else P)
        return module.loss_and_grad
    if backend == "torch":
        return _torch_module(module)
    return _jax_module(module)


def _torch_module(module: types.ModuleType) -> Impl:
    import torch

    torch.set_num_threads(2)
    cache: dict[int, tuple] = {}

    def run(W, b, X, P):
        key = id(X)
        if key not in cache:
            cache.clear()
            cache[key] = (torch.from_numpy(X), torch.from_numpy(np.asarray(P)))
        Xt, Pt = cache[key]
        bt = torch.as_tensor(b)
        H, dW, db = module.loss_and_grad(torch.from_numpy(W), bt, Xt, Pt)
        return H.item(), dW.numpy(), db.numpy() if db.ndim else db.item()

    return run


def _jax_module(module: types.ModuleType) -> Impl:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    cache: dict[int, tuple] = {}

    def run(W, b, X, P):
        key = id(X)
        if key not in cache:
            cache.clear()
            cache[key] = (jnp.asarray(X), jnp.asarray(P))
        Xj, Pj = cache[key]
        H, (dW, db) = module.loss_and_grad(jnp.asarray(W), jnp.asarray(b, dtype=W.dtype), Xj, Pj)
        dW.block_until_ready()
        return float(H), np.asarray(dW), np.asarray(db) if np.ndim(db) else float(db)

    return run


def square_gemm(dtype: str) -> Impl:
    """The compute floor: one square GEMM, n x n times n x n, of the FLOP count of the two products
    (2 n^3 = 4 N d K); the matrices are made once per problem size."""
    cache: dict[tuple, tuple] = {}

    def run(W, b, X, P):
        key = (*X.shape, W.shape[1] if W.ndim == 2 else 1)
        if key not in cache:
            N, d, K = key
            n = max(1, round((2 * N * d * K) ** (1 / 3)))
            rng = np.random.default_rng(0)
            cache.clear()
            cache[key] = tuple(rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
        A, B = cache[key]
        return A @ B

    return run


def floor_size(size: tuple[int, int, int], model: str = "softmax") -> int:
    """n of the square GEMM that has the FLOP count of the two products at ``size``."""
    N, d, K = size
    return max(1, round((2 * N * d * (1 if model == "logistic" else K)) ** (1 / 3)))


FLOOR = "square GEMM (floor)"


def hand_written(W: np.ndarray, b: np.ndarray, X: np.ndarray, P: np.ndarray) -> tuple:
    """A careful hand-written NumPy version: the textbook gradient (labels sum to one), in place."""
    Z = X @ W
    Z += b
    Z -= Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    T = E.sum(axis=1, keepdims=True)
    n = X.shape[0]
    loss = (np.log(T).sum() - np.vdot(P, Z)) / n
    E /= T
    E -= P
    E *= 1.0 / n
    return float(loss), X.T @ E, E.sum(axis=0)


def gemm_pair(W: np.ndarray, b: np.ndarray, X: np.ndarray, P: np.ndarray) -> tuple:
    """The floor of the unfused form: X @ W and X.T @ G with G given (P stands in for it)."""
    return X @ W, X.T @ P


def gemm_pair_class_major(W: np.ndarray, b: np.ndarray, X: np.ndarray, P: np.ndarray) -> tuple:
    """W.T @ X.T, (K, N) as the generated code computes the logits, and G @ X with G (K, N) class-major:
    the orientation of the gradient's product that the generated code avoids (X.T @ G.T is the other)."""
    return W.T @ X.T, P.T @ X


def torch_impl(dtype: str) -> Impl | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)

    def run(W, b, X, P):
        Wt = torch.from_numpy(W).requires_grad_()
        bt = torch.from_numpy(b).requires_grad_()
        Xt, Pt = torch.from_numpy(X), torch.from_numpy(P)
        loss = -(Pt * torch.log_softmax(Xt @ Wt + bt, dim=1)).sum() / X.shape[0]
        loss.backward()
        return loss.item(), Wt.grad.numpy(), bt.grad.numpy()

    return run


def jax_impl(dtype: str) -> Impl | None:
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def loss(W, b, X, P):
        return -(P * jax.nn.log_softmax(X @ W + b, axis=1)).sum() / X.shape[0]

    step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    cache: dict[int, tuple] = {}

    def run(W, b, X, P):
        # the data live on the device once, as they would in a training loop
        key = id(X)
        if key not in cache:
            cache.clear()
            cache[key] = (jnp.asarray(X), jnp.asarray(P))
        Xj, Pj = cache[key]
        value, (dW, db) = step(jnp.asarray(W), jnp.asarray(b), Xj, Pj)
        dW.block_until_ready()
        return float(value), np.asarray(dW), np.asarray(db)

    return run


def autograd_impl(dtype: str) -> Impl | None:
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError:
        return None

    def loss(W, b, X, P):
        Z = X @ W + b
        Z = Z - anp.max(Z, axis=1, keepdims=True)
        return -anp.sum(P * (Z - anp.log(anp.sum(anp.exp(Z), axis=1, keepdims=True)))) / X.shape[0]

    value_and_grad = autograd.value_and_grad(loss, argnum=(0, 1))

    def run(W, b, X, P):
        value, (dW, db) = value_and_grad(W, b, X, P)
        return float(value), dW, db

    return run


#: name -> (phase, factory of the callable for a dtype); the first entry is the reference for the ratios.
#: Phases run one after the other over every size: NumPy-based code first (round robin), then the
#: same with BLAS limited to one thread, then JAX, then PyTorch, so that no framework's idle worker
#: threads compete with another's timings.
IMPLEMENTATIONS: dict[str, tuple[str, Callable[[str], Impl | None]]] = {
    "generated": ("numpy", lambda dtype: generated(dtype).loss_and_grad),
    "hand-written NumPy": ("numpy", lambda dtype: hand_written),
    "GEMM pair X@W, X.T@G": ("numpy", lambda dtype: gemm_pair),
    "GEMM pair W.T@X.T, G@X": ("numpy", lambda dtype: gemm_pair_class_major),
    FLOOR: ("numpy", square_gemm),
    "HIPS autograd": ("numpy", autograd_impl),
    "generated, 1 thread": ("one thread", lambda dtype: generated(dtype).loss_and_grad),
    "hand-written, 1 thread": ("one thread", lambda dtype: hand_written),
    "JAX jit(value_and_grad)": ("jax", jax_impl),
    "PyTorch autograd": ("torch", torch_impl),
}
PHASES = ("numpy", "one thread", "numba", "jax", "torch")


# --------------------------------------------------------------------------- binary logistic regression


def hand_written_logistic(w: np.ndarray, b: float, X: np.ndarray, y: np.ndarray) -> tuple:
    """A careful hand-written NumPy version: one exp and one log1p of e = exp(-|z|), in place.

    loss = max(z, 0) - y z + log1p(e); sigma = 1/(1 + e) for z >= 0 and e/(1 + e) otherwise.
    """
    z = X @ w
    z += b
    e = np.exp(-np.abs(z))
    n = X.shape[0]
    loss = (np.maximum(z, 0).sum() - np.dot(y, z) + np.log1p(e).sum()) / n
    g = np.where(z >= 0, 1.0, e)
    g /= 1 + e
    g -= y
    g *= 1.0 / n
    return float(loss), X.T @ g, float(g.sum())


def gemv_pair(w: np.ndarray, b: float, X: np.ndarray, y: np.ndarray) -> tuple:
    """The floor: X @ w and X.T @ g with g given (y stands in for it)."""
    return X @ w, X.T @ y


def torch_logistic(dtype: str) -> Impl | None:
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    torch.set_num_threads(2)

    def run(w, b, X, y):
        wt = torch.from_numpy(w).requires_grad_()
        bt = torch.tensor(b, dtype=wt.dtype, requires_grad=True)
        loss = F.binary_cross_entropy_with_logits(torch.from_numpy(X) @ wt + bt, torch.from_numpy(y))
        loss.backward()
        return loss.item(), wt.grad.numpy(), bt.grad.item()

    return run


def jax_logistic(dtype: str) -> Impl | None:
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def loss(w, b, X, y):
        z = X @ w + b
        return jnp.mean(y * jax.nn.softplus(-z) + (1 - y) * jax.nn.softplus(z))

    step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    cache: dict[int, tuple] = {}

    def run(w, b, X, y):
        key = id(X)
        if key not in cache:
            cache.clear()
            cache[key] = (jnp.asarray(X), jnp.asarray(y))
        Xj, yj = cache[key]
        value, (dw, db) = step(jnp.asarray(w), jnp.asarray(b, dtype=w.dtype), Xj, yj)
        dw.block_until_ready()
        return float(value), np.asarray(dw), float(db)

    return run


def autograd_logistic(dtype: str) -> Impl | None:
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError:
        return None

    def loss(w, b, X, y):
        z = anp.dot(X, w) + b
        return anp.mean(y * anp.logaddexp(0, -z) + (1 - y) * anp.logaddexp(0, z))

    value_and_grad = autograd.value_and_grad(loss, argnum=(0, 1))

    def run(w, b, X, y):
        value, (dw, db) = value_and_grad(w, b, X, y)
        return float(value), dw, float(db)

    return run


#: the competitors for --model logistic, as IMPLEMENTATIONS
LOGISTIC: dict[str, tuple[str, Callable[[str], Impl | None]]] = {
    "generated": ("numpy", lambda dtype: generated(dtype, model="logistic").loss_and_grad),
    "hand-written NumPy": ("numpy", lambda dtype: hand_written_logistic),
    "GEMV pair X@w, X.T@g": ("numpy", lambda dtype: gemv_pair),
    FLOOR: ("numpy", square_gemm),
    "HIPS autograd": ("numpy", autograd_logistic),
    "generated, 1 thread": (
        "one thread",
        lambda dtype: generated(dtype, model="logistic").loss_and_grad,
    ),
    "hand-written, 1 thread": ("one thread", lambda dtype: hand_written_logistic),
    "JAX jit(value_and_grad)": ("jax", jax_logistic),
    "PyTorch autograd": ("torch", torch_logistic),
}
#: the competitors of each model
MODELS = {"softmax": IMPLEMENTATIONS, "logistic": LOGISTIC}


def add_backends(backends: list[str], model: str = "softmax") -> None:
    """Time the generated module of each backend named, in its framework's phase (class indices too for Numba)."""
    for backend in backends:
        if backend == "numpy":
            continue  # the NumPy module is "generated", the reference of every ratio
        phase = BACKEND_PHASES[backend]
        MODELS[model][f"generated {backend}"] = (phase, lambda dtype, b=backend: backend_impl(b, dtype, model))
        if backend == "numba" and model == "softmax":
            MODELS[model]["generated numba, class indices"] = (
                phase,
                lambda dtype: backend_impl("numba", dtype, model, labels="classes"),
            )


def implementation(name: str, dtype: str, model: str = "softmax") -> Impl | None:
    """The callable called ``name`` for ``dtype`` and ``model``; None when its framework is not installed."""
    return MODELS[model][name][1](dtype)


def blas_limit(phase: str):
    """A fresh context that limits BLAS to one thread in the 'one thread' phase, else nothing.

    (threadpoolctl applies the limit when the object is made and lifts it on exit: one per use.)
    """
    if phase != "one thread":
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def phase_available(phase: str) -> bool:
    if phase != "one thread":
        return True
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        return False
    return True


def problem(size: tuple[int, int, int], dtype: str, seed: int = 0, model: str = "softmax") -> tuple[np.ndarray, ...]:
    """Random standard-normal features, small weights, one-hot labels (0/1 labels and a float bias for logistic)."""
    N, d, K = size
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, d), dtype=np.float64).astype(dtype)
    if model == "logistic":
        w = (0.01 * rng.standard_normal(d)).astype(dtype)
        return w, float(0.01 * rng.standard_normal()), X, rng.integers(0, 2, N).astype(dtype)
    W = (0.01 * rng.standard_normal((d, K))).astype(dtype)
    b = (0.01 * rng.standard_normal(K)).astype(dtype)
    P = np.eye(K, dtype=dtype)[rng.integers(0, K, N)]
    return W, b, X, P


def sample_times(runs: list[Callable[[], object]], repeats: int, budget: float) -> list[list[float]]:
    """Wall times per call of each of ``runs``, one per sample.

    A sample is a batch of consecutive calls of one run (as many as fill ~2 ms, at least one),
    timed together, as in a training loop that calls the same function again and again; the
    runs take turns sample by sample (round robin, so that load from other processes hits all
    alike) up to ``repeats`` samples each or until ``budget`` seconds (at least 3 rounds).
    Single interleaved calls would measure each run just after another one has filled the
    caches with its own data: at iris size that costs a run more than its own work.
    """
    batches = [_calls_per_sample(run) for run in runs]
    times: list[list[float]] = [[] for _ in runs]
    stop = time.perf_counter() + budget * len(runs)
    rounds = 0
    gc.collect()
    gc.disable()  # as timeit does: else one run's garbage (HIPS autograd's) is collected in another's sample
    try:
        while rounds < repeats and (rounds < 3 or time.perf_counter() < stop):
            for run, calls, spent in zip(runs, batches, times):
                start = time.perf_counter()
                for _ in range(calls):
                    run()
                spent.append((time.perf_counter() - start) / calls)
            rounds += 1
    finally:
        gc.enable()
    return times


def _calls_per_sample(run: Callable[[], object], target: float = 2e-3) -> int:
    """How many consecutive calls of ``run`` take about ``target`` seconds (after two warm-up calls)."""
    run(), run()
    start = time.perf_counter()
    run()
    once = time.perf_counter() - start
    return max(1, min(1000, round(target / max(once, 1e-7))))


def agrees(result: tuple, reference: tuple, dtype: str) -> bool:
    rtol = 1e-9 if dtype == "float64" else 2e-3
    return all(np.allclose(np.asarray(r), np.asarray(q), rtol=rtol, atol=rtol) for r, q in zip(result, reference))


#: seconds between phases: the frameworks' worker threads spin for a while after their last call
PAUSE = 0.5


def bench(
    cases: list[tuple[str, str]], repeats: int, budget: float, model: str = "softmax", rounds: int = 3
) -> dict[tuple[str, str], dict[str, float]]:
    """Median seconds per case (size name, dtype) and implementation.

    The phases run in turn ``rounds`` times, each time with a ``1/rounds`` share of the repeats
    and the budget, so that a slow spell of a shared machine falls on every phase alike; the
    median is over the samples of all rounds.  Every implementation is checked against the
    generated code once, before it is timed.
    """
    problems = {case: problem(SIZES[case[0]], case[1], model=model) for case in cases}
    references = {case: implementation("generated", case[1], model)(*problems[case]) for case in cases}
    contenders = {
        (phase, case): checked(phase, case, problems[case], references[case], model)
        for phase in PHASES
        if phase_available(phase)
        for case in cases
    }
    samples: dict[tuple[str, str], dict[str, list[float]]] = {case: {} for case in cases}
    for _ in range(rounds):
        for (phase, case), impls in contenders.items():
            if not impls:
                continue
            runs = [lambda impl=impl, args=problems[case]: impl(*args) for impl in impls.values()]
            with blas_limit(phase):
                times = sample_times(runs, max(3, repeats // rounds), budget / rounds)
            for name, spent in zip(impls, times):
                samples[case].setdefault(name, []).extend(spent)
            time.sleep(PAUSE)
    return {case: {name: float(np.median(t)) for name, t in timed.items()} for case, timed in samples.items()}


def checked(phase: str, case: tuple[str, str], args: tuple, reference: tuple, model: str) -> dict[str, Impl]:
    """The installed implementations of ``phase`` for ``case``, each checked against the generated code."""
    names = [name for name, (p, _) in MODELS[model].items() if p == phase]
    impls = {name: implementation(name, case[1], model) for name in names}
    impls = {name: impl for name, impl in impls.items() if impl is not None}
    for name, impl in impls.items():
        if not name.startswith(("GEMM", "GEMV", FLOOR)) and not agrees(impl(*args), reference, case[1]):
            raise SystemExit(f"{name} disagrees with the generated code at {case}")
    return impls


def report(size_name: str, dtype: str, timed: dict[str, float], model: str = "softmax") -> str:
    N, d, K = SIZES[size_name]
    rows = [(name, timed.get(name)) for name in MODELS[model]]
    ref, floor = rows[0][1], timed.get(FLOOR)
    shape = f"{N}x{d}" if model == "logistic" else f"{N}x{d}x{K}"
    n = floor_size(SIZES[size_name], model)
    lines = [
        f"\n{model} {shape} {dtype}   (floor: a square GEMM {n}x{n} @ {n}x{n}, the FLOP count of the two products)",
        f"  {'implementation':<32}{'median':>12}  {'time / generated':>16}  {'time / floor':>12}",
    ]
    for name, seconds in rows:
        if seconds is None:
            missing = BACKEND_PACKAGES.get(name.removeprefix("generated ").split(",")[0], "")
            lines.append(
                f"  {name:<32}{'skipped: ' + missing + ' is not installed' if missing else 'not installed':>12}"
            )
        else:
            ratio = f"{seconds / floor:>12.2f}" if floor else f"{'-':>12}"
            lines.append(f"  {name:<32}{_format(seconds):>12}  {seconds / ref:>16.2f}  {ratio}")
    return "\n".join(lines)


@contextlib.contextmanager
def busy_processes(count: int):
    """``count`` Python processes spinning in a loop for the duration: the load of a shared machine."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def _format(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=SIZES, default=list(SIZES))
    parser.add_argument("--dtypes", nargs="+", choices=("float64", "float32"), default=["float64", "float32"])
    parser.add_argument("--repeats", type=int, default=50, help="at most this many timed calls per entry")
    parser.add_argument("--budget", type=float, default=3.0, help="seconds of timed calls per entry")
    parser.add_argument(
        "--rounds", type=int, default=3, help="times the phases run in turn, sharing repeats and budget (default 3)"
    )
    parser.add_argument("--model", choices=MODELS, default="softmax", help="softmax (default) or logistic")
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=tuple(BACKENDS),
        default=[],
        metavar="BACKEND",
        help=f"also time the module derive code --backend BACKEND writes ({', '.join(BACKENDS)})",
    )
    parser.add_argument(
        "--busy",
        type=int,
        default=0,
        metavar="N",
        help="run N busy-looping processes while timing, as on a shared machine (default 0)",
    )
    parser.add_argument(
        "--block-rows",
        type=int,
        nargs="+",
        default=[],
        metavar="ROWS",
        help="also time the generated code with BLOCK_ROWS = ROWS (a sweep; the default is as generated)",
    )
    args = parser.parse_args(argv)
    if any(rows < 1 for rows in args.block_rows):
        parser.error("--block-rows must be at least 1")
    if args.busy < 0 or args.rounds < 1:
        parser.error("--busy must be at least 0 and --rounds at least 1")
    for rows in args.block_rows:
        MODELS[args.model][f"generated, {rows} rows"] = (
            "numpy",
            lambda dtype, rows=rows: generated(dtype, args.model, rows).loss_and_grad,
        )
    add_backends(args.backends, args.model)
    for backend in args.backends:
        if not installed(BACKEND_PACKAGES[backend]):
            print(f"backend {backend}: skipped ({BACKEND_PACKAGES[backend]} is not installed)")
    print(f"numpy {np.__version__}; medians; ratio = time / generated (below 1: faster than generated)")
    print("'1 thread': BLAS limited to one thread (threadpoolctl)")
    cases = [(size_name, dtype) for dtype in args.dtypes for size_name in args.sizes]
    with busy_processes(args.busy):
        timings = bench(cases, args.repeats, args.budget, args.model, args.rounds)
    for case in cases:
        print(report(*case, timings[case], args.model))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
