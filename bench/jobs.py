"""`workbench run` vs plain papermill on one trivial notebook, interleaved; and how soon a
scheduled job starts executing after it is due, with a kernel started ahead of time.

Writes bench/results/jobs.json and prints a table. Usage: python bench/jobs.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

RESULTS = Path(__file__).parent / "results" / "jobs.json"
BIN = Path(sys.executable).parent


def trivial_notebook(folder: Path) -> Path:
    nb = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("y = x + 1"), new_code_cell("print(y)")])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "trivial.ipynb"
    nbformat.write(nb, path)
    return path


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def cli_comparison(notebook: Path, runs: int, env: dict[str, str]) -> dict[str, list[float]]:
    out = notebook.parent / "out.ipynb"
    commands = {
        "papermill CLI": [str(BIN / "papermill"), "--no-progress-bar", str(notebook), str(out), "-p", "x", "2"],
        "workbench run": [str(BIN / "workbench"), "run", str(notebook), "-p", "x", "2"],
    }
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            seconds[name].append(timed(command, env))
    return seconds


def start_delays(notebook: Path, runs: int) -> list[float]:
    """Seconds from a job's due time to its first cell starting, with the kernel pool warm."""
    from workbench.jobs.scheduler import Scheduler
    from workbench.storage.run_records import Schedule

    scheduler = Scheduler()
    delays = []
    try:
        scheduler.store.save_schedule(Schedule("bench", str(notebook), "* * * * *"))
        scheduler.warm()
        for i in range(runs):
            due = datetime.now(UTC)
            schedule = scheduler.store.get_schedule("bench")
            assert schedule is not None
            schedule.last_due = (due - timedelta(minutes=2 + i)).isoformat()
            scheduler.store.save_schedule(schedule)
            scheduler.tick(due + timedelta(minutes=1))
            for thread in list(scheduler._running.values()):
                thread.join()
            latest = scheduler.store.list_runs("bench", limit=1)[0]
            executed = nbformat.read(latest.output, as_version=4)
            first = next(c for c in executed.cells if c.cell_type == "code")
            started = datetime.fromisoformat(first.metadata["papermill"]["start_time"])
            if started.tzinfo is None:
                started = started.replace(tzinfo=UTC)
            delays.append((started - due).total_seconds())
    finally:
        scheduler.pool.close()
        scheduler.store.close()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--delays", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    os.environ["WORKBENCH_HOME"] = str(folder / "home")
    env = dict(os.environ)
    notebook = trivial_notebook(folder)
    seconds = cli_comparison(notebook, args.runs, env)
    delays = start_delays(notebook, args.delays)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    report = {
        "runs": args.runs,
        "median_seconds": medians,
        "ratio_workbench_to_papermill": medians["workbench run"] / medians["papermill CLI"],
        "start_delay_seconds": {"median": statistics.median(delays), "worst": max(delays), "n": len(delays)},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    for name, value in medians.items():
        print(f"{name:<15} median {value:.2f} s over {args.runs} runs")
    print(f"ratio workbench/papermill: {report['ratio_workbench_to_papermill']:.2f}x")
    d = report["start_delay_seconds"]
    print(f"scheduled start delay: median {d['median'] * 1000:.0f} ms, worst {d['worst'] * 1000:.0f} ms over {d['n']}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
