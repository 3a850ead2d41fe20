"""Runs started from JupyterLab: a detached ``workbench run`` process, and cancelling one.

A run started from the Lab is an ordinary ``workbench run`` in a process of its own
session (``start_new_session``): it keeps running when the browser closes or the Lab
server stops, and it records itself in the run store as any run does. The server only
checks the parameters first (the same checks as ``workbench run -p``), chooses the run id
so the panel can follow it, and reaps the process when it ends.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workbench.errors import JobError
from workbench.jobs.runner import new_run_id, prepare
from workbench.jobs.schedule_cli import parameter_arguments
from workbench.names import validate_name
from workbench.storage.run_records import Run, utc_now
from workbench.storage.run_store import RunStore

CANCEL_GRACE_S = 10.0
"""How long a cancelled run's process has to stop its kernel and record itself before it is killed."""
CANCELLED = "cancelled"
LOG_FILE = "runner.log"


def start_run(
    store: RunStore,
    notebook: Path,
    parameters: Mapping[str, Any],
    *,
    name: str | None = None,
    cwd: Path | None = None,
) -> str:
    """Check ``parameters`` against ``notebook`` now, then start ``workbench run`` detached; return its run id.

    Raises :class:`~workbench.errors.BadParametersError` (nothing started) when the
    parameters are refused.
    """
    job = validate_name(name or notebook.stem, "job name")
    _, _, clean = prepare(notebook, parameters)
    run_id = new_run_id()
    folder = store.run_dir(run_id)
    command = [
        sys.executable, "-m", "workbench.cli", "run", str(notebook), "--name", job, "--run-id", run_id,
        *parameter_arguments(clean),
    ]
    with open(folder / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=str(cwd or Path.cwd()),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # recorded at once, so the panel shows it before the runner's own first record
    store.save_run(Run(run_id, job, str(notebook), parameters=clean, host=socket.gethostname(), pid=process.pid))
    # reap it when it ends (a Lab server restarted meanwhile leaves that to init)
    threading.Thread(target=process.wait, name=f"workbench-run-{run_id}", daemon=True).start()
    return run_id


def _runner_alive(run: Run) -> bool:
    """Whether the process recorded as running ``run`` is a live ``workbench run`` of it on this host."""
    import psutil

    if run.host != socket.gethostname() or run.pid <= 0:
        return False
    try:
        process = psutil.Process(run.pid)
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE and any(
            "workbench" in part for part in process.cmdline()
        )
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def cancel_run(store: RunStore, run_id: str, grace: float = CANCEL_GRACE_S) -> Run:
    """Stop a running run: interrupt its ``workbench run`` process (which stops the kernel), kill it
    after ``grace`` seconds, and record the run as failed with reason ``cancelled``."""
    run = store.require_run(run_id)
    if run.status != "running":
        raise JobError(f"run {run_id} is not running (it {run.status})", hint="only a running run can be cancelled")
    if run.host != socket.gethostname():
        raise JobError(
            f"run {run_id} runs on {run.host}, not on this machine",
            hint=f"cancel it on {run.host}",
        )
    if _runner_alive(run):
        os.kill(run.pid, signal.SIGINT)
        ends = time.monotonic() + grace
        while _runner_alive(run) and time.monotonic() < ends:
            time.sleep(0.05)
        if _runner_alive(run):
            os.kill(run.pid, signal.SIGKILL)
    stopped = store.require_run(run_id)
    stopped.status, stopped.reason = "failed", CANCELLED
    stopped.error = "cancelled from JupyterLab"
    stopped.ended_at = stopped.ended_at or utc_now()
    store.save_run(stopped)
    return stopped


__all__ = ["CANCELLED", "cancel_run", "start_run"]
