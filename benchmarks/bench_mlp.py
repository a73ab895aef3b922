"""The two-layer perceptron (derive's model file mlp): derivation time, CLI wall time, and the generated gradient.

Run from the repository root::

    python benchmarks/bench_mlp.py                      # N = 10000, d = 784, M = 128, K = 10
    python benchmarks/bench_mlp.py --rows 1000 --repeats 50

Prints, each beside its goal:

- the backpropagation through the MLP's model file in a fresh process (import excluded, parsing included);
- ``derive gradient --model-file mlp.toml`` wall time in a fresh process;
- the element-wise proof at d = 784, M = 128, K = 10 (101,770 entries; ``--no-proof`` skips it);
- ``loss_and_grad`` of the generated module (``derive code --model mlp``) beside a careful hand-written NumPy
  version, JAX ``jit(value_and_grad)`` and PyTorch autograd of the same loss, all checked against the
  generated one first; medians of ``--repeats`` calls after warm-up, the phases in turn ``--rounds`` times.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import fresh_seconds, median_seconds

from derive.app.code import load_module, network_module_source
from derive.graph import library

ROOT = Path(__file__).resolve().parent.parent


def fresh_derivation_seconds() -> float:
    """Seconds to read the mlp model file and backpropagate through it, in a new process (after imports)."""
    setup = "from derive.graph import library; from derive.graph.backprop import backprop"
    return fresh_seconds(setup, "backprop(library.builtin('mlp'))")


def cli_seconds() -> float:
    """Wall time of ``derive gradient --model-file mlp.toml`` in a new process."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mlp.toml"
        path.write_text(library.source("mlp"))
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "derive", "gradient", "--model-file", str(path)],
            capture_output=True,
            check=True,
            cwd=ROOT,
        )
        return time.perf_counter() - start


def data(N: int, d: int, M: int, K: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    V, c = rng.normal(0, 0.05, (d, M)), rng.normal(0, 0.1, M)
    W, b = rng.normal(0, 0.1, (M, K)), rng.normal(0, 0.1, K)
    x, P = rng.normal(0, 1, (N, d)), np.eye(K)[rng.integers(0, K, N)]
    return V, c, W, b, x, P


def hand_written(V, c, W, b, x, P) -> tuple:
    """A careful NumPy version: matmuls, one softmax pass, the textbook backward pass (labels sum to one)."""
    N = x.shape[0]
    g = np.tanh(x @ V + c)
    z = g @ W + b
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    loss = float(np.log(s).sum() - np.vdot(P, z)) / N
    dz = e / s - P
    du = (dz @ W.T) * (1.0 - g * g)
    return loss, x.T @ du / N, du.sum(axis=0) / N, g.T @ dz / N, dz.sum(axis=0) / N


def jax_impl() -> Callable | None:
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def loss(params, x, P):
        V, c, W, b = params
        z = jnp.tanh(x @ V + c) @ W + b
        return -jnp.mean(jnp.sum(P * jax.nn.log_softmax(z, axis=1), axis=1))

    step = jax.jit(jax.value_and_grad(loss))
    cache = {}

    def run(V, c, W, b, x, P):
        if id(x) not in cache:
            cache.clear()
            cache[id(x)] = (jnp.asarray(x), jnp.asarray(P))
        value, grads = step((V, c, W, b), *cache[id(x)])
        grads[0].block_until_ready()
        return (float(value), *map(np.asarray, grads))

    return run


def torch_impl() -> Callable | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    cache = {}

    def run(V, c, W, b, x, P):
        if id(x) not in cache:
            cache.clear()
            cache[id(x)] = (torch.from_numpy(x), torch.from_numpy(P))
        xt, Pt = cache[id(x)]
        params = [torch.tensor(a, requires_grad=True) for a in (V, c, W, b)]
        z = torch.tanh(xt @ params[0] + params[1]) @ params[2] + params[3]
        loss = -(Pt * torch.log_softmax(z, dim=1)).sum(dim=1).mean()
        loss.backward()
        return (float(loss.detach()), *(p.grad.numpy() for p in params))

    return run


def agrees(got: tuple, want: tuple) -> bool:
    return all(np.allclose(g, w, rtol=1e-7, atol=1e-10) for g, w in zip(got, want, strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--sizes", type=int, nargs=3, default=(784, 128, 10), metavar=("d", "M", "K"))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-proof", dest="proof", action="store_false", help="skip the element-wise proof (25 s)")
    args = parser.parse_args(argv)

    derivation = min(fresh_derivation_seconds() for _ in range(3))
    wall = min(cli_seconds() for _ in range(3))
    print(f"derivation of the MLP in a fresh process: {derivation:.3f} s   (goal < 1 s)")
    print(f"derive gradient --model-file mlp.toml, wall: {wall:.2f} s   (goal < 2 s)")
    if args.proof:
        from derive.verify.network_proof import prove

        proof = prove(library.builtin("mlp"), {"d": 784, "M": 128, "K": 10})
        print(f"element-wise proof, {proof.entries} entries: {proof.seconds:.1f} s   (goal < 30 s)")

    generated = load_module(network_module_source(library.builtin("mlp")), "mlp_grad").loss_and_grad
    arrays = data(args.rows, *args.sizes)
    reference = generated(*arrays)
    contenders = {"generated": generated, "hand-written NumPy": hand_written, "JAX jit(value_and_grad)": jax_impl()}
    contenders["PyTorch autograd"] = torch_impl()
    timed: dict[str, list[float]] = {}
    for name, fn in contenders.items():
        if fn is not None and not agrees(fn(*arrays), reference):
            raise SystemExit(f"{name} disagrees with the generated module")
    for _ in range(args.rounds):
        for name, fn in contenders.items():
            if fn is not None:
                timed.setdefault(name, []).append(median_seconds(fn, arrays, args.repeats))
    N, (d, M, K) = args.rows, args.sizes
    print(f"\nloss_and_grad, N = {N}, d = {d}, M = {M}, K = {K}, float64 (medians; ratio = time / generated)")
    base = min(timed["generated"])
    for name, fn in contenders.items():
        if fn is None:
            print(f"  {name:<26}not installed")
            continue
        best = min(timed[name])
        print(f"  {name:<26}{best * 1e3:9.2f} ms  {best / base:6.2f}")
    print("goals: generated within 1.1x of hand-written, faster than JAX and PyTorch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
