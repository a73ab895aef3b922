"""Second order: the symbolic Hessian's time, and the generated hvp beside two gradient evaluations and JAX.

Run from the repository root::

    python benchmarks/bench_hessian.py                  # N = 100000, d = 784, K = 10, float64
    python benchmarks/bench_hessian.py --rows 10000 --repeats 10

Prints, each beside its goal: the engine's second derivatives of softmax regression in a fresh process (goal < 1 s),
and the median time of the generated ``hvp`` (``derive code --model-file softmax.toml --hessian``) beside two calls
of the same module's ``loss_and_grad`` and JAX's forward-over-reverse ``jvp(grad)`` under ``jit`` (goals: no slower
than two gradient evaluations, faster than JAX), each checked against the generated ``hessian @ v`` on a small
problem first.  Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import fresh_seconds, median_seconds

from derive.app.code import load_module, network_module_source
from derive.graph import library

ROOT = Path(__file__).resolve().parent.parent


def fresh_hessian_seconds() -> float:
    setup = "from derive.graph import library; from derive.graph.hessian import second_derivatives"
    return fresh_seconds(setup, "second_derivatives(library.builtin('softmax'))")


def data(N: int, d: int, K: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    W, b = rng.normal(0, 0.05, (d, K)), rng.normal(0, 0.1, K)
    x, P = rng.normal(0, 1, (N, d)), np.eye(K)[rng.integers(0, K, N)]
    vW, vb = rng.normal(size=(d, K)), rng.normal(size=K)
    return W, b, x, P, vW, vb


def jax_hvp():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def loss(params, x, P):
        W, b = params
        z = x @ W + b
        return -jnp.mean(jnp.sum(P * jax.nn.log_softmax(z, axis=1), axis=1))

    @jax.jit
    def hvp(params, directions, x, P):
        return jax.jvp(lambda p: jax.grad(loss)(p, x, P), (params,), (directions,))[1]

    cache = {}

    def run(W, b, x, P, vW, vb):
        if id(x) not in cache:
            cache.clear()
            cache[id(x)] = (jnp.asarray(x), jnp.asarray(P))
        out = hvp((W, b), (vW, vb), *cache[id(x)])
        out[0].block_until_ready()
        return tuple(np.asarray(o) for o in out)

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--sizes", type=int, nargs=2, default=(784, 10), metavar=("d", "K"))
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)

    print(
        f"symbolic second derivatives of softmax regression, fresh process: {fresh_hessian_seconds():.2f} s (goal < 1 s)"
    )
    module = load_module(network_module_source(library.builtin("softmax"), hessian=True), "softmax_grad")
    small = data(50, 5, 3, seed=1)
    matrix = module.hessian(*small[:4])
    want = matrix @ np.concatenate([small[4].ravel(), small[5]])
    contenders = {
        "generated hvp": lambda W, b, x, P, vW, vb: module.hvp(W, b, x, P, vW, vb),
        "2 x generated loss_and_grad": lambda W, b, x, P, vW, vb: (
            module.loss_and_grad(W, b, x, P),
            module.loss_and_grad(W, b, x, P),
        ),
        "JAX jit(jvp(grad))": jax_hvp(),
    }
    for name in ("generated hvp", "JAX jit(jvp(grad))"):
        fn = contenders[name]
        if fn is not None:
            got = np.concatenate([np.ravel(g) for g in fn(*small)])
            if not np.allclose(got, want, rtol=1e-8, atol=1e-10):
                raise SystemExit(f"{name} disagrees with the generated hessian @ v")
    problem = data(args.rows, *args.sizes)
    N, (d, K) = args.rows, args.sizes
    print(f"\nH v, N = {N}, d = {d}, K = {K}, float64 (medians of {args.repeats}; ratio = time / generated hvp)")
    base = median_seconds(contenders["generated hvp"], problem, args.repeats)
    for name, fn in contenders.items():
        if fn is None:
            print(f"  {name:<30}not installed")
            continue
        seconds = base if name == "generated hvp" else median_seconds(fn, problem, args.repeats)
        print(f"  {name:<30}{seconds * 1e3:9.1f} ms  {seconds / base:6.2f}")
    print("goals: generated hvp no slower than two gradient evaluations, faster than JAX jvp(grad)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
