"""%wtime vs %timeit vs stdlib timeit, in one run, interleaved round by round.

Measures, for each tool:
- reported no-op time: what it reports per loop for ``pass`` (its in-loop overhead);
- cost of one measurement: wall seconds to finish a default measurement of ``pass``
  (loop calibration included), and of a fixed one (-n 10000 -r 7);
- spread: coefficient of variation of the headline number over repeated measurements
  of a fixed workload (sorting 2,000 floats): %timeit's mean, %wtime's median, and
  stdlib timeit's best of ``repeat`` (the usage its documentation recommends).

Writes bench/results/timing.json and prints a table. Usage: python bench/timing.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

from IPython.core.interactiveshell import InteractiveShell

RESULTS = Path(__file__).parent / "results" / "timing.json"
SETUP = "import random; random.seed(1); data = [random.random() for _ in range(2000)]"
WORKLOAD = "sorted(data)"


def tools(shell: InteractiveShell) -> dict[str, Callable[[str, str], float]]:
    """Each tool as f(options, stmt) -> its headline seconds per loop."""

    def wtime(options: str, stmt: str) -> float:
        result = shell.run_line_magic("wtime", f"-o -q {options} {stmt}")
        return float(result.median)

    def ipython_timeit(options: str, stmt: str) -> float:
        result = shell.run_line_magic("timeit", f"-o -q {options} {stmt}")
        return float(result.average)

    def stdlib_timeit(options: str, stmt: str) -> float:
        timer = timeit.Timer(stmt, globals=shell.user_ns)
        if options:
            number = int(options.split()[1])
            repeat = int(options.split()[3])
        else:
            number, _ = timer.autorange()
            repeat = 7
        return min(timer.repeat(repeat=repeat, number=number)) / number

    return {"%wtime": wtime, "%timeit": ipython_timeit, "timeit": stdlib_timeit}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="repeated measurements per tool")
    args = parser.parse_args()
    os.environ.setdefault("IPYTHONDIR", tempfile.mkdtemp())
    os.environ.setdefault("WORKBENCH_HOME", tempfile.mkdtemp())
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "workbench")
    shell.run_cell(SETUP)
    candidates = tools(shell)

    noop: dict[str, list[float]] = {name: [] for name in candidates}
    cost_default: dict[str, list[float]] = {name: [] for name in candidates}
    cost_fixed: dict[str, list[float]] = {name: [] for name in candidates}
    workload: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(args.rounds):
        for name, run in candidates.items():
            start = time.perf_counter()
            noop[name].append(run("", "pass"))
            cost_default[name].append(time.perf_counter() - start)
            start = time.perf_counter()
            run("-n 10000 -r 7", "pass")
            cost_fixed[name].append(time.perf_counter() - start)
            workload[name].append(run("", WORKLOAD))

    rows = {}
    for name in candidates:
        values = workload[name]
        rows[name] = {
            "noop_reported_ns": statistics.median(noop[name]) * 1e9,
            "measurement_seconds_default": statistics.median(cost_default[name]),
            "measurement_seconds_fixed": statistics.median(cost_fixed[name]),
            "workload_median_us": statistics.median(values) * 1e6,
            "workload_cv_percent": statistics.stdev(values) / statistics.fmean(values) * 100,
        }
    report = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "rounds": args.rounds,
        "workload": WORKLOAD,
        "tools": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    header = f"{'tool':<9} {'no-op/loop':>11} {'1 measure':>10} {'fixed n,r':>10} {'workload':>10} {'CV':>7}"
    print(header)
    for name, r in rows.items():
        print(
            f"{name:<9} {r['noop_reported_ns']:>8.1f} ns {r['measurement_seconds_default']:>8.2f} s "
            f"{r['measurement_seconds_fixed']:>8.3f} s {r['workload_median_us']:>7.1f} µs "
            f"{r['workload_cv_percent']:>6.2f}%"
        )
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
