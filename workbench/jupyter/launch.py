"""Runs started from JupyterLab: detached runner processes, and cancelling a run.

A run started from the Lab runs as ``workbench run`` does, in a process of its own session
(``start_new_session``): it keeps running when the browser closes or the Lab server stops,
and it records itself in the run store as any run does. The server only checks the
parameters first (the same checks as ``workbench run -p``), chooses the run id so the panel
can follow it, and reaps the process when it ends.
"""

from __future__ import annotations

import json
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
from workbench.jobs.runner import DEFAULT_KERNEL, new_run_id, prepare
from workbench.jobs.schedule_cli import parameter_arguments
from workbench.names import validate_name
from workbench.storage.run_records import Run, utc_now
from workbench.storage.run_store import RunStore

CANCEL_GRACE_S = 10.0
"""How long a cancelled run's process has to stop its kernel and record itself before it is killed."""
CANCELLED = "cancelled"
LOG_FILE = "runner.log"
REWARM_S = 30.0


class Launcher:
    """Starts the Lab's runs, keeping one runner ready (imports done, kernel started) for the next.

    The ready runner waits in the Lab's root folder with the default kernel; a notebook of
    another folder or kernel gets a fresh kernel in the same process. Without a ready runner
    (the first run, or two runs in a row) the run is a plain ``workbench run`` process. Both
    kinds run in a session of their own and survive the Lab server.
    """

    def __init__(self, store: RunStore, root: Path, kernel: str = DEFAULT_KERNEL) -> None:
        self.store = store
        self.root = root
        self.kernel = kernel
        self._lock = threading.Lock()
        self._ready: tuple[subprocess.Popen[bytes], str] | None = None
        self._warmed_at = 0.0

    def _spawn(self, command: list[str], run_id: str, stdin: int) -> subprocess.Popen[bytes]:
        with open(self.store.run_dir(run_id) / LOG_FILE, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", *command],
                cwd=str(self.root),
                stdin=stdin,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # reap it when it ends (a Lab server restarted meanwhile leaves that to init)
        threading.Thread(target=process.wait, name=f"workbench-run-{run_id}", daemon=True).start()
        return process

    def warm(self) -> None:
        """Have a runner ready for the next run (idempotent).

        A runner that ended without a run (its kernel could not start, say) is replaced at most
        every ``REWARM_S`` seconds; runs meanwhile start as plain processes."""
        with self._lock:
            if self._ready is not None and self._ready[0].poll() is None:
                return
            if self._ready is not None and time.monotonic() - self._warmed_at < REWARM_S:
                return
            self._warmed_at = time.monotonic()
            run_id = new_run_id()
            command = ["workbench.jupyter.warm", "--run-id", run_id, "--kernel", self.kernel, "--cwd", str(self.root)]
            self._ready = (self._spawn(command, run_id, subprocess.PIPE), run_id)

    def start(self, notebook: Path, parameters: Mapping[str, Any], *, name: str | None = None) -> str:
        """Check ``parameters`` against ``notebook`` now, then start the run; return its id.

        Raises :class:`~workbench.errors.BadParametersError` (nothing started) when the
        parameters are refused.
        """
        job = validate_name(name or notebook.stem, "job name")
        _, _, clean = prepare(notebook, parameters)
        with self._lock:
            ready, self._ready = self._ready, None
        run_id = ready[1] if ready is not None and self._hand_over(ready[0], ready[1], job, notebook, clean) else None
        if run_id is None:
            run_id = new_run_id()
            command = ["workbench.cli", "run", str(notebook), "--name", job, "--run-id", run_id,
                       *parameter_arguments(clean)]
            process = self._spawn(command, run_id, subprocess.DEVNULL)
            self._record(run_id, job, notebook, clean, process.pid)
        self.warm()
        return run_id

    def _hand_over(
        self, process: subprocess.Popen[bytes], run_id: str, job: str, notebook: Path, parameters: dict[str, Any]
    ) -> bool:
        """Give the job to a ready runner; False when it is gone (then the run starts as a plain process)."""
        if process.poll() is not None or process.stdin is None:
            return False
        self._record(run_id, job, notebook, parameters, process.pid)
        order = json.dumps({"notebook": str(notebook), "parameters": parameters, "name": job}) + "\n"
        try:
            process.stdin.write(order.encode())
            process.stdin.close()
        except BrokenPipeError:
            stopped = self.store.require_run(run_id)
            stopped.status, stopped.reason, stopped.error = "failed", "runner_died", "the ready runner had stopped"
            stopped.ended_at = utc_now()
            self.store.save_run(stopped)
            return False
        return True

    def _record(self, run_id: str, job: str, notebook: Path, parameters: dict[str, Any], pid: int) -> None:
        """Recorded at once, so the panel shows the run before the runner's own first record."""
        self.store.save_run(Run(run_id, job, str(notebook), parameters=parameters, host=socket.gethostname(), pid=pid))

    def close(self) -> None:
        """Let the ready runner go: end of its input stops its kernel and ends it."""
        with self._lock:
            ready, self._ready = self._ready, None
        if ready is not None and ready[0].stdin is not None:
            ready[0].stdin.close()


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


__all__ = ["CANCELLED", "Launcher", "cancel_run"]
