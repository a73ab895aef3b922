"""Wall time of the interactive pieces: `derive shell` to its first answer, and the example notebook.

Each case runs as a fresh subprocess after one warm-up run; the median is
compared with the goal of issue 6 (the notebook executes in under 60 s; the
shell has no stated goal and is printed for reference).

    python benchmarks/bench_session.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "from derive.app.notebook import execute; execute('examples/softmax_cross_entropy.ipynb')"

#: name -> (command, stdin, goal in seconds or None)
CASES = {
    "derive shell, one command": ([sys.executable, "-m", "derive", "shell"], "dW.result\n", None),
    "example notebook executed": ([sys.executable, "-c", NOTEBOOK], None, 60.0),
}


def timings(command: list[str], stdin: str | None, runs: int, env: dict) -> list[float]:
    def once() -> float:
        start = time.perf_counter()
        subprocess.run(command, input=stdin, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        return time.perf_counter() - start

    once()  # warm-up: file caches, .pyc
    return [once() for _ in range(runs)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per case (default 5)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {args.runs} runs per case after a warm-up")
    print(f"{'case':28s} {'median':>8s} {'min':>7s} {'max':>7s} {'goal':>6s} {'median/goal':>12s}")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "IPYTHONDIR": tmp}
        for name, (command, stdin, goal) in CASES.items():
            wall = timings(command, stdin, args.runs, env)
            ratio = f"{statistics.median(wall) / goal:.2f}" if goal else "-"
            goal_text = f"{goal:.0f} s" if goal else "-"
            print(
                f"{name:28s} {statistics.median(wall):7.2f}s {min(wall):6.2f}s {max(wall):6.2f}s {goal_text:>6s} {ratio:>12s}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
