"""Wall time of `derive latex`, `derive latex --pdf` and `derive markdown`, end to end.

Like hyperfine: each command runs as a fresh subprocess (Python start-up,
imports, derivation, worked example, rendering, writing; pdflatex for --pdf)
after one warm-up run, and the median of the repeated runs is compared with
the goal of issue 3.

    python benchmarks/bench_latex.py [--runs N]
"""

from __future__ import annotations

import argparse
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


def wall_times(argv: tuple[str, ...], runs: int, out: Path) -> list[float]:
    command = [sys.executable, "-m", "derive", *argv]
    if argv[0] != "gradient":
        command += ["-o", str(out)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)  # warm-up: file caches, .pyc
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command (default 7)")
    args = parser.parse_args()
    print(f"{'command':<28}{'median':>9}{'min':>9}{'max':>9}{'goal':>8}{'median/goal':>13}")
    with tempfile.TemporaryDirectory(prefix="bench-latex-") as tmp:
        for argv, goal in CASES.items():
            if "--pdf" in argv and shutil.which("pdflatex") is None:
                print(f"{'derive ' + ' '.join(argv):<28}  skipped: pdflatex is not installed")
                continue
            times = wall_times(argv, args.runs, Path(tmp))
            median = statistics.median(times)
            ratio = f"{median / goal:.2f}" if goal else "-"
            goal_text = f"{goal:.1f} s" if goal else "-"
            print(f"{'derive ' + ' '.join(argv):<28}{median:>8.2f}s{min(times):>8.2f}s{max(times):>8.2f}s{goal_text:>8}{ratio:>13}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
