"""How long `derive check` takes per claim, against the goal of 2 s for every claim, hostile ones included.

Run from the repository root:  python benchmarks/check_speed.py

Prints, for each group of claims, the slowest in-process time of ``derive.claims.verdict.check``
(after the engine's derivations are cached, as in one CLI call after start-up), the
ratio to the 2 s goal, and the wall time of whole CLI processes (start-up included).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from derive.claims.verdict import check
from derive.notation.bounds import MAX_SIZE, ClaimError

GOAL = 2.0

GROUPS = {
    "right answer, notations": [
        "(a_j - P_j)*x_i",
        "-P_j(1-a_j)x_i + a_j(1-P_j)x_i",
        r"\frac{\partial H}{\partial W_{i,j}} = \left(a_j - P_j\right) x_i",
        r"\sum_{k=1}^{K} P_k (a_j - \delta_{kj}) x_i",
        r"\frac{e^{z_j}}{\sum_m e^{z_m}} x_i - P_j x_i",
    ],
    "mistakes": ["-P_j*(1-a_j)*x_i", "-(1-a_j)*x_i*(P_1+P_2)", "(P_j - a_j)*x_i", "a_j - P_j", "(a_j - P_j)*x_i*K/2"],
    "largest accepted": [
        "(a_j+P_j+x_i+z_j+b_j)**4",
        "(a_j+P_j)**10*(a_j-P_j)*x_i",
        "log(a_j)**10*(x_i+P_j+a_j)**3",
        "exp(exp(exp(a_j)))*x_i",
        "sum_k(P_k**10*a_k**10)*(a_j-P_j)*x_i",
    ],
    "hostile": [
        "__import__('os').system('ls')",
        "x_i**(9**9**9)",
        "(" * 400 + "x_i" + ")" * 400,
        "x" * 1_000_000,
        "\u0420_j*x_i",
        "-" * 999 + "x_i",
        "(x_i+a_j+P_j+z_j+b_j)**10",
    ],
}


def timed(claim: str, classes: int, features: int, assume: bool) -> tuple[float, str]:
    start = time.perf_counter()
    try:
        verdict = check(claim, assume=assume, classes=classes, features=features).verdict
    except ClaimError:
        verdict = "bad input"
    return time.perf_counter() - start, verdict


def main() -> None:
    check("(a_j - P_j)*x_i")  # warm the engine's derivation cache, as one CLI call does at start-up
    check("(a_j - P_j)*x_i", assume=False)
    print(f"{'group':26} {'K=d':>4} {'assume':>7} {'slowest s':>10} {'/ goal':>7}  slowest claim")
    worst = 0.0
    for name, group in GROUPS.items():
        for size in (2, MAX_SIZE):
            for assume in (True, False):
                times = [(timed(c, size, size, assume)[0], c) for c in group]
                slowest, claim = max(times)
                worst = max(worst, slowest)
                print(f"{name:26} {size:>4} {assume!s:>7} {slowest:>10.3f} {slowest / GOAL:>7.2f}  {claim[:40]!r}")
    print(f"\nslowest claim overall: {worst:.3f} s = {worst / GOAL:.2f} of the {GOAL:.0f} s goal")
    for argv in (["-P_j*(1-a_j)*x_i"], ["(a_j - P_j)*x_i"], ["x" * 100_000]):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "derive", "check", *argv], cwd=ROOT, capture_output=True, check=False
        )
        wall = time.perf_counter() - start
        print(f"CLI process, start-up included: {argv[0][:24]!r:28} exit {done.returncode}  {wall:.3f} s")


if __name__ == "__main__":
    main()
