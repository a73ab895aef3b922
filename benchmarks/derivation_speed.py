"""How long `derive check` takes on whole derivations, against the goals of issue 13.

Run from the repository root:  python benchmarks/derivation_speed.py [--fuzzed N]

Goals: a five-line derivation judged in under 0.5 s in-process and under 2 s from the command
line (start-up included); the slowest of N fuzzed derivations (random sequences of derivation
pieces, as tests/test_derivations.py draws them) under 2 s.  Each figure is printed beside its
goal as a ratio.  "first call" is the first judgement in a fresh process after import (it builds
the parser and the engine's derivation); "warm" the best of three after it, as in a Jupyter session.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from derive.claims.judge import judge_text
from derive.core.models import ACCEPTED_DERIVATION
from derive.notation.bounds import ClaimError

IN_PROCESS, CLI, FUZZED = 0.5, 2.0, 2.0

TEXTBOOK_LINES = (
    r"\frac{\partial H}{\partial W_{ij}} = -\sum_k P_k \frac{\partial \log a_k}{\partial W_{ij}}",
    r"= -\sum_k P_k \frac{1}{a_k} \frac{\partial a_k}{\partial z_j} x_i",
    r"= -\sum_k P_k (\delta_{kj} - a_j) x_i",
    r"= (a_j \sum_k P_k - P_j) x_i",
    r"= (a_j - P_j) x_i",
)
TEXTBOOK = " \\\\ ".join(TEXTBOOK_LINES)
TWENTY = " \\\\ ".join([r"\frac{\partial H}{\partial W_{ij}} = (a_j - P_j) x_i"] + [r"= x_i a_j - x_i P_j"] * 19)
CASES = {
    "accepted answer (5 lines)": (ACCEPTED_DERIVATION, {}),
    "textbook (5 lines)": (TEXTBOOK, {}),
    "20 lines": (TWENTY, {}),
    "matrix form": (r"\nabla_W H = x(a - P)^\top \\ = (a - P) x^\top", {}),
    "batch form": (r"\nabla_W H = X^\top (A - P) \\ = X^\top(A - P)/N", {"batched": True}),
}
PIECES = [
    r"\frac{\partial H}{\partial W_{ij}}", "dH/dW_ij", r"\nabla_W H", "=", "&=", r"\\", "(a_j - P_j) x_i",
    r"\sum_k P_k", r"\frac{\partial}{\partial W_{ij}}", r"\left(", r"\right)", r"\log Q_k(x)", "x_i", "-", "+",
    r"\cdot", r"\frac{\partial a_k}{\partial z_j}", r"(\delta_{kj} - a_j)", "^\\top", "(x)", "X^T", "/N", "{", "}",
    r"\begin{align}", r"\end{align}", r"\text{chain}", "p_j", r"\hat{y}_j", "2", "0",
]  # fmt: skip


def best_of_three(text: str, options: dict) -> float:
    judge_text(text, **options)  # warm-up: the engine's derivation and the compiled evaluators are cached
    times = []
    for _ in range(3):
        start = time.perf_counter()
        judge_text(text, **options)
        times.append(time.perf_counter() - start)
    return min(times)


def cli_wall(text: str, options: dict) -> float:
    start = time.perf_counter()
    flags = ["--batch"] if options.get("batched") else []
    subprocess.run([sys.executable, "-m", "derive", "check", *flags, "--file", "-"], input=text.encode(), cwd=ROOT,
                   capture_output=True, check=False)  # fmt: skip
    return time.perf_counter() - start


FIRST_CALL = """
import sys, time
from derive.claims.judge import judge_text
text, batched = sys.stdin.read(), sys.argv[1] == "1"
start = time.perf_counter()
judge_text(text, batched=batched)
print(time.perf_counter() - start)
"""


def first_call(text: str, options: dict) -> float:
    """The first judgement in a fresh process after import: the engine's derivation and the parser built once."""
    done = subprocess.run([sys.executable, "-c", FIRST_CALL, "1" if options.get("batched") else "0"],
                          input=text.encode(), cwd=ROOT, capture_output=True, check=True)  # fmt: skip
    return float(done.stdout)


def fuzzed(count: int) -> tuple[float, str]:
    """The slowest of ``count`` random derivations (a verdict or a refusal), first run each: nothing cached."""
    rng = random.Random(13)
    worst = (0.0, "")
    for _ in range(count):
        text = " ".join(rng.choice(PIECES) for _ in range(rng.randint(1, 30))) or "="
        start = time.perf_counter()
        for batched in (False, True):
            try:
                judge_text(text, batched=batched)
            except ClaimError:
                pass
        worst = max(worst, (time.perf_counter() - start, text))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzzed", type=int, default=300, metavar="N", help="fuzzed derivations (default 300)")
    args = parser.parse_args()
    print(f"{'derivation':28} {'first call s':>12} {'/ 0.5 s':>8} {'warm s':>7} {'CLI wall s':>11} {'/ 2 s':>6}")
    for name, (text, options) in CASES.items():
        cold, warm, wall = first_call(text, options), best_of_three(text, options), cli_wall(text, options)
        print(f"{name:28} {cold:>12.3f} {cold / IN_PROCESS:>8.2f} {warm:>7.3f} {wall:>11.3f} {wall / CLI:>6.2f}")
    slowest, text = fuzzed(args.fuzzed)
    print(f"\nslowest of {args.fuzzed} fuzzed derivations (judged plain and as a batch form): {slowest:.3f} s"
          f" = {slowest / FUZZED:.2f} of the {FUZZED:.0f} s goal\n  {text[:100]!r}")  # fmt: skip


if __name__ == "__main__":
    main()
