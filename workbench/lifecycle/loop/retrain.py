"""A retrain's training job: started in a process of its own under a run id recorded first, then
followed through the run store until it ends, whichever loop process started it.

The job is the policy's notebook run by :func:`workbench.jobs.run` (:mod:`.job`), with the
policy's parameters and the newest version of its dataset. Its output goes to
``<home>/loop/<run id>.log``. A job whose process is gone without a result, or that outlives
its time limit by :data:`GRACE_S`, is failed by the loop (the run is marked ``runner_died``
or ``timeout``), so a lost job never blocks the model's loop.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from workbench.config import Settings
from workbench.errors import RunNotFoundError
from workbench.lifecycle.loop.policy import Policy
from workbench.run_context import RUN_DIR_ENV, RUN_ID_ENV
from workbench.storage.run_records import Run, utc_now
from workbench.storage.run_store import RunStore

GRACE_S = 120.0
"""How long past its time limit a job may go before the loop stops waiting and kills it."""
START_GRACE_S = 60.0
"""How long a job process has to record its run before the loop, unable to see it, gives up."""


def job_name(policy: Policy) -> str:
    """The job name of a model's retrains in the run store."""
    return f"loop-{policy.model}"


def start_job(policy: Policy, settings: Settings, run_id: str, parameters: dict[str, Any]) -> subprocess.Popen[bytes]:
    """Start the training job as run ``run_id`` in a new session; its output goes to the run's log."""
    folder = settings.home / "loop"
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "notebook": str(policy.notebook),
        "parameters": parameters,
        "job": job_name(policy),
        "run_id": run_id,
        "timeout": policy.timeout_s,
    }
    env = {k: v for k, v in os.environ.items() if k not in (RUN_ID_ENV, RUN_DIR_ENV)}  # not a part of a caller's run
    env.update(WORKBENCH_HOME=str(settings.home), WORKBENCH_STORE=settings.store)
    with (folder / f"{run_id}.log").open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "workbench.lifecycle.loop.job", json.dumps(spec)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=settings.project_root or os.getcwd(),
            env=env,
            start_new_session=True,
        )


@dataclass(frozen=True)
class Outcome:
    """Where a retrain's job stands: ``running``, ``failed`` (``reason``, ``error``) or ``succeeded``
    with the ``version`` it registered."""

    status: str
    reason: str | None = None
    error: str | None = None
    run: Run | None = None
    version: int | None = None


def _alive(pid: int | None, host: str | None, child: subprocess.Popen[bytes] | None) -> bool | None:
    """Whether the job's process runs: ``None`` when it runs on another machine and cannot be seen."""
    if child is not None and (pid is None or child.pid == pid):
        return child.poll() is None
    if not pid:
        return False
    if host and host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def log_tail(settings: Settings, run_id: str) -> str:
    """The last line the job printed (why it could not start), at most 500 characters."""
    try:
        lines = (settings.home / "loop" / f"{run_id}.log").read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:500] if lines else ""


def kill(pid: int) -> None:
    """Stop a job's process group (the job and the kernel it started)."""
    for stop in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            stop()
        except (ProcessLookupError, PermissionError):
            continue


def follow(
    retrain: dict[str, Any],
    policy: Policy,
    runs: RunStore,
    settings: Settings,
    *,
    child: subprocess.Popen[bytes] | None,
    now: float,
) -> Outcome:
    """Where the job of ``retrain`` (the loop state's record of it) stands now."""
    run_id = str(retrain["run_id"])
    age = now - float(retrain["started"])
    try:
        run = runs.get_run(run_id)
    except RunNotFoundError:
        alive = _alive(retrain.get("pid"), retrain.get("host"), child)
        if alive or (alive is None and age < START_GRACE_S) or (not retrain.get("pid") and age < START_GRACE_S):
            return Outcome("running")
        tail = log_tail(settings, run_id)
        return Outcome("failed", "never_started", tail or "the job's process ended before recording a run")
    if run.status == "running":
        alive = _alive(run.pid, run.host, child)
        overdue = age > policy.timeout_s + GRACE_S
        if alive is False or overdue:
            if alive and run.pid:
                kill(run.pid)
            reason = "timeout" if overdue else "runner_died"
            run.status, run.reason, run.ended_at = "failed", reason, utc_now()
            run.error = (
                f"the job ran past its time limit of {policy.timeout_s:g} s and was stopped by the loop"
                if overdue
                else "the job's process ended without recording a result"
            )
            runs.save_run(run)
            return Outcome("failed", reason, run.error, run)
        return Outcome("running", run=run)
    if run.status != "succeeded":
        where = f" at cell {run.failed_cell}" if run.failed_cell is not None else ""
        return Outcome("failed", run.reason, f"{run.error or run.reason}{where}", run)
    versions = [int(m["version"]) for m in run.models if m.get("name") == policy.model]
    if not versions:
        registered = ", ".join(f"{m['name']} v{m['version']}" for m in run.models) or "nothing"
        error = f"the job succeeded but registered no version of {policy.model} (it registered {registered})"
        return Outcome("failed", "no_model", error, run)
    return Outcome("succeeded", run=run, version=versions[-1])


__all__ = ["GRACE_S", "START_GRACE_S", "Outcome", "follow", "job_name", "kill", "log_tail", "start_job"]
