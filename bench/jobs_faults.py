"""SIGTERM, SIGINT and SIGKILL of `workbench run` and of `workbench scheduler` mid-run, N times each.

Each trial is a real process on a notebook whose cell is running when the signal comes
(tests/jobs/fault_harness.py). Counted: runs left `running` after the next `workbench runs`,
records with the wrong status or reason, output notebooks disagreeing with their record,
wrong exit codes, tracebacks or extra lines printed, kernels left alive; and the seconds
from the signal to the process's exit.

Writes bench/results/jobs_faults.json and prints a table.
Usage: python bench/jobs_faults.py [--trials 20] [--parallel 3]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the harness lives with the tests

from tests.jobs.fault_harness import Trial, trial  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "jobs_faults.json"
SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGKILL]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=3)
    args = parser.parse_args()
    cases = [(command, sig, i) for i in range(args.trials) for command in ("run", "scheduler") for sig in SIGNALS]
    with tempfile.TemporaryDirectory(prefix="jobs-faults-") as tmp:

        def one(case: tuple[str, signal.Signals, int]) -> Trial:
            command, sig, i = case
            return trial(command, sig, Path(tmp) / f"{command}-{sig.name}-{i}")

        with ThreadPoolExecutor(args.parallel) as pool:
            trials = list(pool.map(one, cases))
    rows = []
    summary: dict[str, dict[str, object]] = {}
    for command in ("run", "scheduler"):
        for sig in SIGNALS:
            group = [t for t in trials if t.command == command and t.signal == sig.name]
            seconds = sorted(t.seconds_to_exit for t in group)
            figures = {
                "trials": len(group),
                "left_running": sum(1 for t in group for s, _ in t.statuses if s == "running"),
                "wrong_record": sum(1 for t in group if any("expected" in p and "run " in p for p in t.problems)),
                "wrong_exit_code": sum(1 for t in group if any(p.startswith("exit code") for p in t.problems)),
                "noisy_output": sum(1 for t in group if any(p.startswith("printed") for p in t.problems)),
                "kernels_left": sum(len(t.kernels_left) for t in group),
                "trials_with_problems": sum(1 for t in group if not t.ok),
                "exit_s_median": round(statistics.median(seconds), 2),
                "exit_s_max": round(seconds[-1], 2),
                "problems": [p for t in group for p in t.problems],
            }
            summary[f"{command} {sig.name}"] = figures
            rows.append((f"workbench {command}", sig.name, *(figures[k] for k in list(figures)[:9])))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    header = ("command", "signal", "trials", "left running", "wrong record", "wrong exit code", "noisy output",
              "kernels left", "trials with problems", "exit s median", "exit s max")
    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join("---" for _ in header) + " |")
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |")
    return 0 if all(t.ok for t in trials) else 1


if __name__ == "__main__":
    sys.exit(main())
