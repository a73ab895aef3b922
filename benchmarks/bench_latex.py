"""Wall time of `derive latex`, `derive latex --pdf` and `derive markdown`, end to end.

Like hyperfine: each command runs as a fresh subprocess (Python start-up,
imports, derivation, worked example, rendering, writing; pdflatex for --pdf)
after one warm-up run, and the median of the repeated runs is compared with
the goal of issue 3.  The CPU time (user + system) of the same runs is printed
beside it: on a shared machine the wall time grows with the load average (also
printed), the CPU time much less.

    python benchmarks/bench_latex.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: command line (after `python -m derive`) -> goal in seconds (None: a reference without a goal)
CASES = {
    ("gradient",): None,
    ("latex",): 2.0,
    ("latex", "--pdf"): 5.0,
    ("markdown",): 2.0,
}


def timings(argv: tuple[str, ...], runs: int, out: Path) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds of the child) of each timed run."""
    command = [sys.executable, "-m", "derive", *argv]
    if argv[0] != "gradient":
        command += ["-o", str(out)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)  # warm-up: file caches, .pyc
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command (default 7)")
    args = parser.parse_args()
    print(
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {args.runs} runs per command after a warm-up"
    )
    print(
        f"{'command':<22}{'wall median':>12}{'min':>8}{'max':>8}{'CPU median':>12}{'goal':>7}{'wall/goal':>11}{'CPU/goal':>10}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-latex-") as tmp:
        for argv, goal in CASES.items():
            name = "derive " + " ".join(argv)
            if "--pdf" in argv and shutil.which("pdflatex") is None:
                print(f"{name:<22}  skipped: pdflatex is not installed")
                continue
            wall, cpu = timings(argv, args.runs, Path(tmp))
            w, c = statistics.median(wall), statistics.median(cpu)
            ratios = f"{w / goal:>11.2f}{c / goal:>10.2f}" if goal else f"{'-':>11}{'-':>10}"
            goal_text = f"{goal:.0f} s" if goal else "-"
            print(f"{name:<22}{w:>11.2f}s{min(wall):>7.2f}s{max(wall):>7.2f}s{c:>11.2f}s{goal_text:>7}{ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
