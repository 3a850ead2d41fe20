"""Several "hosts" on this machine: process trees with their own working folder, HOME,
WORKBENCH_HOME and IPython directory, sharing only the store URL (a real Redis) they are given.

Used by the scaling tests and by ``bench/scaling.py``: two ``workbench scheduler`` processes
over shared schedules, one killed mid-run, and the check that every due time was run once
or recorded skipped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import psutil
from nbformat.v4 import new_code_cell, new_notebook

from workbench.storage.run_store import RunStore
from workbench.storage.tick_records import Tick

EXEC_LOG_CELL = (
    "import os, time\n"
    "time.sleep(pause)\n"
    "with open(log, 'a') as f:\n"
    "    f.write(os.environ['WORKBENCH_RUN_ID'] + '\\n')"
)


@dataclass
class Host:
    """One simulated machine: a folder holding its home, HOME and working directory."""

    name: str
    folder: Path
    store_url: str
    shared: dict[str, str] = field(default_factory=dict)  # settings overridden for this host (a shared home)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("WORKBENCH_", "JUPYTER_", "IPYTHON"))}
        for sub in ("home", "work", "ipython"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        base.update(
            HOME=str(self.folder / "home"),
            WORKBENCH_HOME=str(self.folder / "home" / ".workbench"),
            IPYTHONDIR=str(self.folder / "ipython"),
            WORKBENCH_STORE=self.store_url,
        )
        return {**base, **self.shared, **(extra or {})}

    def start(self, *command: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """``workbench COMMAND`` on this host, its output in ``<folder>/<command>.out|.err``."""
        work = self.folder / "work"
        env = self.env(extra_env)
        with (work / f"{command[0]}.out").open("ab") as out, (work / f"{command[0]}.err").open("ab") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "workbench.cli", *command], stdout=out, stderr=err, cwd=work, env=env
            )
        self.processes.append(process)
        return process

    def output(self, command: str) -> str:
        work = self.folder / "work"
        return "".join(p.read_text() for p in (work / f"{command}.out", work / f"{command}.err") if p.is_file())

    def stop(self) -> None:
        """SIGINT (a graceful stop), then SIGKILL after 30 s, for every process still running."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def exec_log_notebook(path: Path) -> Path:
    """A notebook that appends its run id to the file named by its ``log`` parameter, after ``pause`` seconds."""
    nb = new_notebook(cells=[new_code_cell("log = ''\npause = 0.0"), new_code_cell(EXEC_LOG_CELL)])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def kernels_of(pid: int) -> list[int]:
    """The pids of the Jupyter kernels a process started."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [c.pid for c in children if "ipykernel" in " ".join(_cmdline(c))]


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return []


def owner_pid(owner: str) -> int:
    """The pid in a scheduler's name (``host:pid:token``)."""
    return int(owner.split(":")[-2])


@dataclass
class FailoverReport:
    """What two schedulers did with the due times of shared schedules, one of them killed."""

    due_times: int  # due times recorded (claimed or skipped), all schedules
    claimed: int
    skipped: int
    succeeded: int
    runner_lost: int
    executions: int  # lines in the notebooks' execution log
    doubled: list[str]  # run ids executed more than once (must be empty)
    unrecorded: list[str]  # executions of no claimed tick (must be empty)
    unfinished: list[str]  # claimed runs left running or unrecorded, or succeeded without one execution (must be empty)
    failed: dict[str, str]  # claimed runs that ran once and failed for a reason of their own (kernel_died...)
    missed: list[str]  # cron due times in the observed span recorded by nobody (must be empty)
    takeover_s: float | None  # kill -> the killed scheduler's run marked runner_lost
    resumed_s: float | None  # kill -> first run claimed by the survivor for a schedule the killed one held
    by_owner: dict[str, int]

    @property
    def exactly_once(self) -> bool:
        return not (self.doubled or self.unrecorded or self.unfinished or self.missed)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**asdict(self), "exactly_once": self.exactly_once}


def failover_report(
    store: RunStore, schedules: list[str], cron: str, exec_log: Path, killed_at: float | None, killed_pid: int | None
) -> FailoverReport:
    """Compare the recorded ticks, the runs and the execution log (see :class:`FailoverReport`)."""
    from croniter import croniter

    ticks: list[Tick] = []
    for name in schedules:
        ticks += store.ticks(name, limit=10_000)
    lines = exec_log.read_text().split() if exec_log.is_file() else []
    executed = Counter(lines)
    claimed = {t.run_id: t for t in ticks if t.outcome == "claimed" and t.run_id}
    runs = {run_id: store.get_run(run_id) for run_id in claimed if _exists(store, run_id)}
    unfinished = [run_id for run_id in claimed if run_id not in runs or runs[run_id].status == "running"]
    unfinished += [r for r in runs if runs[r].status == "succeeded" and executed[r] != 1]
    failed = {
        r: f"{runs[r].reason}: {runs[r].error}"
        for r in runs
        if runs[r].status == "failed" and runs[r].reason != "runner_lost"
    }
    missed = []
    for name in schedules:
        dues = sorted(datetime.fromisoformat(t.due) for t in ticks if t.schedule == name)
        if len(dues) < 2:
            continue
        expected = croniter(cron, dues[0])
        while (next_due := expected.get_next(datetime)) < dues[-1]:
            if next_due not in dues:
                missed.append(f"{name}@{next_due.isoformat()}")
    lost = [runs[r] for r in runs if runs[r].reason == "runner_lost"]
    takeover = resumed = None
    if killed_at is not None and lost:
        victims = [r for r in lost if killed_pid and owner_pid(claimed[r.run_id].owner) == killed_pid]
        ends = [datetime.fromisoformat(r.ended_at).timestamp() for r in victims if r.ended_at]
        takeover = max(ends) - killed_at if ends else None
        held = {t.schedule for t in ticks if t.outcome == "claimed" and killed_pid and owner_pid(t.owner) == killed_pid}
        later = [
            t.at for t in ticks
            if t.outcome == "claimed" and t.schedule in held and t.at > killed_at and owner_pid(t.owner) != killed_pid
        ]
        resumed = min(later) - killed_at if later else None
    return FailoverReport(
        due_times=len(ticks),
        claimed=len(claimed),
        skipped=sum(t.outcome == "skipped" for t in ticks),
        succeeded=sum(r.status == "succeeded" for r in runs.values()),
        runner_lost=len(lost),
        executions=len(lines),
        doubled=sorted(r for r, n in executed.items() if n > 1),
        unrecorded=sorted(r for r in executed if r not in claimed),
        unfinished=sorted(unfinished),
        failed=failed,
        missed=missed,
        takeover_s=takeover,
        resumed_s=resumed,
        by_owner=dict(Counter(str(owner_pid(t.owner)) for t in ticks if t.outcome == "claimed")),
    )


def _exists(store: RunStore, run_id: str) -> bool:
    from workbench.errors import RunNotFoundError

    try:
        store.get_run(run_id)
    except RunNotFoundError:
        return False
    return True


def wait_for(condition: Any, seconds: float, what: str) -> Any:
    """Poll ``condition()`` until it returns something truthy; AssertionError naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")
        time.sleep(0.05)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()
