"""workbench in JupyterLab: how soon a run starts and how soon the panel sees it end.

Against a real JupyterLab (the test suite's set-up: ``python -m jupyterlab --port 0`` with
the workbench extensions, a tmp folder and homes), through the same REST calls the Lab
extension makes when "Run" is pressed in the form and while the panel long-polls:

- **Run to first cell**: from sending ``POST /workbench/api/runs`` to the first cell's start
  (papermill's ``start_time`` in the output notebook), with the ready runner the Lab keeps
  (imports done, kernel started) and without it (two runs in a row: the second gets a
  plain ``workbench run`` process).
- **End to panel**: from the run's ``ended_at`` to the arrival of the panel's long-poll answer
  that shows the run ended.

Usage: python bench/lab.py [--rounds 5]. Writes bench/results/lab.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.lab.conftest import Lab, new_lab
from workbench.jupyter.warm import READY_FILE

RESULTS = Path(__file__).parent / "results" / "lab.json"
QUICK = {
    "cells": [
        {"cell_type": "code", "execution_count": None, "id": "p", "metadata": {"tags": ["parameters"]},
         "outputs": [], "source": ["seconds = 1.0"]},
        {"cell_type": "code", "execution_count": None, "id": "w", "metadata": {}, "outputs": [],
         "source": ["import time\n", "time.sleep(seconds)"]},
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def _time(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def _first_cell_start(lab: Lab, run_id: str) -> float:
    with __import__("workbench.storage", fromlist=["open_storage"]).open_storage(lab.settings) as storage:
        nb = json.loads(storage.runs.load_output(run_id))
    return min(_time(c["metadata"]["papermill"]["start_time"]) for c in nb["cells"]
               if c["cell_type"] == "code" and c["metadata"].get("papermill", {}).get("start_time"))


def one_run(lab: Lab) -> dict[str, float]:
    """Start a run as the form does, follow it as the panel does; both delays in seconds."""
    fingerprint = lab.state()["fingerprint"]
    sent = time.time()
    run_id = lab.post("runs", {"path": "quick.ipynb", "parameters": {"seconds": "1.0"}}).json()["run_id"]
    while True:  # the panel's long poll
        answer = lab.get("state", params={"since": fingerprint}).json()
        arrived = time.time()
        fingerprint = answer["fingerprint"]
        run = next((r for r in answer["runs"] if r["run_id"] == run_id), None)
        if run and run["status"] != "running":
            break
    assert run["status"] == "succeeded", run
    started = _first_cell_start(lab, run_id)
    return {"run_to_first_cell": started - sent, "end_to_panel": arrived - _time(run["ended_at"])}


def wait_ready(lab: Lab, timeout: float = 120.0) -> None:
    """Until the Lab's ready runner has its kernel up (its marker file in the store)."""
    ends = time.monotonic() + timeout
    while not list((lab.home / "runs").glob(f"*/{READY_FILE}")):
        if time.monotonic() > ends:
            raise TimeoutError("no runner became ready")
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lab = new_lab(Path(tmp))
        (lab.folder / "quick.ipynb").write_text(json.dumps(QUICK))
        lab.start()
        warm: list[dict[str, float]] = []
        cold: list[dict[str, float]] = []
        try:
            for _ in range(args.rounds):
                wait_ready(lab)
                warm.append(one_run(lab))
                cold.append(one_run(lab))  # right after: no runner ready yet, a plain `workbench run`
        finally:
            lab.stop()

    def median(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    results: dict[str, Any] = {"rounds": args.rounds, "warm": warm, "cold": cold}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print("| measure | median | worst |\n| --- | ---: | ---: |")
    for label, rows, key in (
        ("Run to first cell, ready runner", warm, "run_to_first_cell"),
        ("Run to first cell, no runner ready", cold, "run_to_first_cell"),
        ("run end to panel", warm + cold, "end_to_panel"),
    ):
        print(f"| {label} | {median(rows, key) * 1000:.0f} ms | {max(r[key] for r in rows) * 1000:.0f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
