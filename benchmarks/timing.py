"""Timing helpers shared by the benchmarks: a statement timed in a fresh process, and the median of repeated calls."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fresh_seconds(setup: str, statement: str) -> float:
    """Seconds ``statement`` takes in a new Python process, after ``setup`` (its imports) has run."""
    code = f"import time\n{setup}\nt = time.perf_counter()\n{statement}\nprint(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout)


def median_seconds(fn: Callable, args: tuple, repeats: int) -> float:
    """The median of ``repeats`` timed calls of fn(*args), after one call that warms up."""
    fn(*args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
