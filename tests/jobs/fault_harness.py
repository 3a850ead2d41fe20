"""Killing ``workbench run`` and ``workbench scheduler`` mid-run, for real, and judging what is left.

A trial starts the command in a process of its own (own session, own workbench home) on a
notebook whose second cell writes a marker file and then sleeps; once the marker exists
(the cell is running), it sends the signal, waits for the process to end, runs
``workbench runs`` (the next command that reads the history) and then checks: no run
left ``running``, the record's status and reason, the output notebook's status, the exit
code, what was printed, and that every kernel the command had started is gone (psutil).
Used by tests/jobs/test_faults.py (short form) and bench/jobs_faults.py (20 of each).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
import psutil
from nbformat.v4 import new_code_cell, new_notebook

EXPECTED = {
    signal.SIGTERM: (143, "cancelled", "terminated"),
    signal.SIGINT: (130, "cancelled", "interrupted"),
    signal.SIGKILL: (-signal.SIGKILL, "failed", "runner_lost"),
}
"""Per signal: the command's exit code, then the run's status and reason after the next ``workbench runs``."""

START_DEADLINE_S = 90.0
EXIT_DEADLINE_S = 30.0
KERNEL_GONE_DEADLINE_S = 15.0


def slow_notebook(folder: Path) -> Path:
    """A notebook whose second cell writes the file named by ``marker`` and then sleeps."""
    nb = new_notebook(
        cells=[
            new_code_cell("marker = ''"),
            new_code_cell("import time\nopen(marker, 'w').close()\ntime.sleep(120)"),
            new_code_cell("print('never')"),
        ]
    )
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "slow.ipynb"
    nbformat.write(nb, path)
    return path


@dataclass
class Trial:
    """What one signal to one command left behind."""

    command: str
    signal: str
    exit_code: int | None = None
    printed: str = ""
    statuses: list[tuple[str, str | None]] = field(default_factory=list)
    notebook_statuses: list[str | None] = field(default_factory=list)
    kernels_left: list[int] = field(default_factory=list)
    seconds_to_exit: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env["WORKBENCH_HOME"] = str(home)
    return env


def workbench(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args],
        capture_output=True, text=True, env=_env(home), cwd=home.parent, timeout=timeout,
    )


def _kernels_of(process: psutil.Process) -> list[psutil.Process]:
    try:
        children = process.children(recursive=True)
    except psutil.Error:
        return []
    found = []
    for child in children:
        try:
            if "ipykernel" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


def _alive(kernels: list[psutil.Process]) -> list[int]:
    left = []
    for kernel in kernels:
        try:
            if kernel.is_running() and kernel.status() != psutil.STATUS_ZOMBIE:
                left.append(kernel.pid)
        except psutil.Error:
            continue
    return left


class Started:
    """A ``workbench run`` or ``workbench scheduler`` process, waiting for its signal."""

    def __init__(self, command: str, folder: Path) -> None:
        self.command = command
        self.home = folder / "wbhome"
        self.marker = folder / "cell-started"
        self.output = folder / "printed.txt"
        notebook = slow_notebook(folder)
        if command == "run":
            argv = ["run", str(notebook), "-r", "marker", str(self.marker)]
        else:
            hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
            self._add_schedule(notebook, hour_ago)
            argv = ["scheduler"]
        with open(self.output, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "workbench.cli", *argv],
                stdout=out, stderr=subprocess.STDOUT, env=_env(self.home), cwd=folder, start_new_session=True,
            )
        self.ps = psutil.Process(self.process.pid)

    def _add_schedule(self, notebook: Path, created: str) -> None:
        """A schedule due every minute, created an hour ago: a missed run the scheduler starts at once."""
        code = (
            "from workbench.storage import open_storage\n"
            "from workbench.storage.schedule_records import Schedule\n"
            "with open_storage() as s:\n"
            f"    s.runs.save_schedule(Schedule('slow', {str(notebook)!r}, '* * * * *', "
            f"{{'marker': {str(self.marker)!r}}}, created_at={created!r}))\n"
        )
        subprocess.run([sys.executable, "-c", code], env=_env(self.home), check=True, timeout=60)

    def wait_for_cell(self) -> list[psutil.Process]:
        """Wait until the slow cell runs; the kernels the command has started then."""
        deadline = time.monotonic() + START_DEADLINE_S
        while not self.marker.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"workbench {self.command} ended early:\n{self.output.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cell never started:\n{self.output.read_text()}")
            time.sleep(0.05)
        return _kernels_of(self.ps)

    def stop(self, sig: signal.Signals, kernels: list[psutil.Process]) -> Trial:
        trial = Trial(self.command, sig.name)
        sent = time.monotonic()
        self.process.send_signal(sig)
        try:
            trial.exit_code = self.process.wait(EXIT_DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            trial.exit_code = self.process.wait()
            trial.problems.append(f"still running {EXIT_DEADLINE_S:g} s after {sig.name}")
        trial.seconds_to_exit = time.monotonic() - sent
        trial.printed = self.output.read_text()
        self._judge(trial, sig, kernels)
        return trial

    def _judge(self, trial: Trial, sig: signal.Signals, kernels: list[psutil.Process]) -> None:
        exit_code, status, reason = EXPECTED[sig]
        if trial.exit_code != exit_code:
            trial.problems.append(f"exit code {trial.exit_code}, expected {exit_code}")
        if sig != signal.SIGKILL:
            lines = [line for line in trial.printed.splitlines() if line.strip()]
            if self.command == "scheduler":  # its log lines aside
                lines = [line for line in lines if line.startswith("workbench:")]
            if "Traceback" in trial.printed or len(lines) != 1:
                trial.problems.append(f"printed a traceback or not one line:\n{trial.printed}")
        history = workbench(self.home, "runs")  # the next command that reads the history
        if history.returncode != 0:
            trial.problems.append(f"workbench runs failed: {history.stderr}")
        from workbench.config import load_settings
        from workbench.storage import open_storage

        with open_storage(load_settings(home=self.home, store="local", environ={})) as storage:
            runs = storage.runs.list_runs(None, limit=100)
        trial.statuses = [(r.status, r.reason) for r in runs]
        if not runs:
            trial.problems.append("no run recorded")
        for run in runs:
            if run.status == "running":
                trial.problems.append(f"run {run.run_id} left running")
            elif (run.status, run.reason) != (status, reason):
                trial.problems.append(f"run {run.run_id} is {run.status} ({run.reason}), expected {status} ({reason})")
            meta = json.loads(Path(run.output).read_text())["metadata"] if run.output else {}
            trial.notebook_statuses.append(meta.get("workbench", {}).get("status"))
            if run.output and meta.get("workbench", {}).get("status") != run.status:
                trial.problems.append(f"output notebook of {run.run_id} says {meta.get('workbench')}")
        deadline = time.monotonic() + KERNEL_GONE_DEADLINE_S
        while _alive(kernels) and time.monotonic() < deadline:
            time.sleep(0.1)
        trial.kernels_left = _alive(kernels)
        if trial.kernels_left:
            trial.problems.append(f"kernels left running: {trial.kernels_left}")
            for pid in trial.kernels_left:
                os.kill(pid, signal.SIGKILL)
        if not kernels:
            trial.problems.append("no kernel process was seen while the cell ran")


def trial(command: str, sig: signal.Signals, folder: Path) -> Trial:
    """Start ``command``, wait for its cell, send ``sig``, judge what is left."""
    folder.mkdir(parents=True, exist_ok=True)
    started = Started(command, folder)
    try:
        kernels = started.wait_for_cell()
    except BaseException:
        started.process.kill()
        started.process.wait()
        raise
    return started.stop(sig, kernels)


__all__ = ["EXPECTED", "Started", "Trial", "slow_notebook", "trial", "workbench"]
