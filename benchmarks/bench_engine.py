"""Engine timings against the targets of the core engine issue, side by side in one run.

    python benchmarks/bench_engine.py [--repeats N]

Measures, each as a median over fresh processes where caching would flatter:
  * the generic derivation (dH/dW_ij and dH/db_j, with and without the assumption) after import;
  * `derive example` end to end (wall clock of the whole command);
  * the element-wise proof for K = 10, d = 784 (7,850 entries);
  * the naive route for comparison: plain `sympy.diff` of the fully expanded loss and
    `sympy.simplify` of each entry, at small K, d, and one entry of plain diff at K = 10, d = 784.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import sympy as sp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from derive.core import symbols as S
from derive.core.models import SOFTMAX
from derive.verify.proof import prove


def fresh_process(code: str) -> float:
    """Seconds printed by ``code`` run in a new interpreter."""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def wall(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "derive", *args], cwd=ROOT, capture_output=True, check=True)
    return time.perf_counter() - start


GENERIC = """
import time
from derive.core.derivation import derive
start = time.perf_counter()
for assume in (True, False):
    for wrt in ("W", "b"):
        derive("softmax", wrt, assume)
print(time.perf_counter() - start)
"""


def expanded_loss(classes: int, features: int) -> tuple[sp.Expr, list[sp.Symbol]]:
    """H written out in explicit symbols w_ij, b_j, x_i, P_j: the naive starting point."""
    explicit = S.Explicit(classes, features)
    logits = {explicit.symbol(S.z, (q,)): explicit(SOFTMAX.logit_definition, j=q) for q in range(1, classes + 1)}
    activation = {
        explicit.symbol(S.a, (q,)): explicit(SOFTMAX.activation_definition, k=q).xreplace(logits)
        for q in range(1, classes + 1)
    }
    loss = explicit(SOFTMAX.loss).xreplace(activation)
    params = [explicit.symbol(S.W, (i, j)) for i in range(1, features + 1) for j in range(1, classes + 1)]
    return loss, params + [explicit.symbol(S.b, (j,)) for j in range(1, classes + 1)]


def naive_per_entry(classes: int, features: int, simplify: bool, entries: int | None = None) -> float:
    loss, params = expanded_loss(classes, features)
    params = params[:entries] if entries else params
    start = time.perf_counter()
    for theta in params:
        derivative = sp.diff(loss, theta)
        if simplify:
            sp.simplify(derivative)
    return (time.perf_counter() - start) / len(params)


def row(name: str, seconds: float, target: float | None = None, note: str = "") -> None:
    goal = (
        f"target < {target:g} s: {'met' if seconds < target else 'MISSED'} ({seconds / target:.2f} of it)"
        if target
        else ""
    )
    print(f"  {name:<52} {seconds:9.3f} s   {goal} {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.repeats
    print(f"engine benchmark, medians of {n} runs (python {sys.version.split()[0]}, sympy {sp.__version__})")
    generic = statistics.median(fresh_process(GENERIC) for _ in range(n))
    row("generic derivation, 4 derivations, after import", generic, 0.5)
    example = statistics.median(wall(["example"]) for _ in range(n))
    row("`derive example` end to end (wall)", example, 1.5)
    proofs = [prove("softmax", 10, 784).seconds for _ in range(max(1, n // 2))]
    ours = statistics.median(proofs)
    row("element-wise proof, K = 10, d = 784 (7,850 entries)", ours, 5.0)
    print("\nnaive route for comparison (plain diff of the expanded loss, then sympy.simplify):")
    ours_small = statistics.median(prove("softmax", 3, 3).seconds for _ in range(n)) / 12
    for classes, features in ((2, 2), (3, 3)):
        per = naive_per_entry(classes, features, simplify=True)
        row(f"diff + simplify per entry, K = {classes}, d = {features}", per)
    simplify_33 = per
    row(
        "element-wise proof per entry, K = 3, d = 3",
        ours_small,
        note=f"(naive is {simplify_33 / ours_small:.0f}x slower)",
    )
    one = naive_per_entry(10, 784, simplify=False, entries=1)
    row("plain diff of one entry, K = 10, d = 784", one, note=f"(x 7,850 entries = {one * 7850 / 3600:.1f} h)")
    print(f"  ratio: naive diff alone at K = 10, d = 784 / element-wise proof = {one * 7850 / ours:.0f}x")


if __name__ == "__main__":
    main()
