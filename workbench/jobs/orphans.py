"""Runs whose process died without a word (SIGKILL, a crash, power loss): found and marked.

A run record names its owner: host, pid and the process's start time (``pid_started``,
from psutil, so a pid reused by another process is not mistaken for the owner). A
``running`` run owned by a process of this host that no longer exists is marked failed
with the reason ``runner_lost``, and its output notebook gets the same status. A run owned
by another host is left alone: only that host can see its process (:func:`owner_state`
says ``unknown``; a lease or heartbeat can decide for it).

``workbench runs`` and ``workbench scheduler`` call :func:`mark_lost_runs` before they
read or run anything.
"""

from __future__ import annotations

import socket
from typing import Literal

from workbench.storage.run_records import Run, utc_now
from workbench.storage.run_store import RunStore

OwnerState = Literal["alive", "gone", "unknown"]

SCAN_LIMIT = 500
"""How many of the newest runs are checked: a lost run is found by the next command."""

START_TIME_TOLERANCE_S = 1.0
"""psutil's start times are rounded by the clock tick; more than this apart is another process."""


def owner_state(run: Run, host: str | None = None) -> OwnerState:
    """Whether the process that owns ``run`` still runs: ``unknown`` for another host's run,
    or a record that names no process."""
    import psutil

    if run.host != (host or socket.gethostname()) or run.pid <= 0:
        return "unknown"
    try:
        started = psutil.Process(run.pid).create_time()
    except psutil.NoSuchProcess:
        return "gone"
    except psutil.Error:
        return "unknown"
    if run.pid_started is not None and abs(started - run.pid_started) > START_TIME_TOLERANCE_S:
        return "gone"  # the pid now belongs to another process
    return "alive"


def _mark_output(run: Run, store: RunStore) -> None:
    """Give the run's output notebook, if any was saved, the run's final status."""
    from pathlib import Path

    import nbformat

    from workbench.fsutil import atomic_write_bytes
    from workbench.jobs.execution import Outcome, mark_failure

    if not run.output or not Path(run.output).is_file():
        return
    try:
        nb = nbformat.read(run.output, as_version=4)
    except (OSError, ValueError):
        return  # an unreadable progress save: the record alone tells the story
    outcome = Outcome(run.status, run.reason, None, run.error)
    mark_failure(nb, outcome)
    run.failed_cell = outcome.failed_cell
    meta = nb.metadata.setdefault("workbench", {})
    meta.update(status=run.status, reason=run.reason, error=run.error, failed_cell=run.failed_cell)
    data = nbformat.writes(nb).encode("utf-8")
    atomic_write_bytes(Path(run.output), data)
    store.save_output(run.run_id, data)


def mark_lost_runs(store: RunStore, host: str | None = None) -> list[Run]:
    """Mark every ``running`` run of this host whose owner process is gone as failed
    (``runner_lost``); returns the runs marked."""
    marked = []
    for run in store.list_runs(None, limit=SCAN_LIMIT):
        if run.status != "running" or owner_state(run, host) != "gone":
            continue
        run.status, run.reason, run.ended_at = "failed", "runner_lost", utc_now()
        run.error = f"the process running it (pid {run.pid} on {run.host}) ended without recording a result"
        _mark_output(run, store)
        store.save_run(run)
        marked.append(run)
    return marked


__all__ = ["SCAN_LIMIT", "OwnerState", "mark_lost_runs", "owner_state"]
