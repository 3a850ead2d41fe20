"""``workbench scheduler``: runs scheduled jobs when they are due.

Policies (documented for users in the README):

- **No overlap.** A schedule whose previous run is still going when it falls due again
  skips that due time (logged); runs of one schedule never overlap.
- **Missed runs.** Due times missed while no scheduler was running are coalesced: at
  start, each schedule runs once if at least one due time was missed, not once per
  missed time.
- **Fast start.** For each (kernel, working folder) in use, one kernel is started ahead
  of time; a due job takes it (the run's id, made at that moment so ids sort by start
  time, is set in the kernel's environment) and a fresh one is started for the next run.
  A kernel is never reused between runs.
- **Signals.** SIGINT or SIGTERM stops starting runs and cancels the running ones (their
  kernels stopped, their records and output notebooks ``cancelled``), then the scheduler
  exits (:mod:`workbench.jobs.cancel`). At start, runs of this host left ``running`` by a
  process that died without a word are marked ``runner_lost`` (:mod:`workbench.jobs.orphans`).

One scheduler per store: two schedulers on one store would both start due jobs.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from workbench.config import Settings, load_settings
from workbench.jobs.cancel import Cancellation
from workbench.storage import open_storage
from workbench.storage.run_records import Run
from workbench.storage.run_store import RunStore
from workbench.storage.schedule_records import Schedule

log = logging.getLogger("workbench.scheduler")
T = TypeVar("T")


@dataclass
class _Ready:
    km: Any
    run_id: str


def _on_a_thread_of_its_own(work: Callable[[], T]) -> T:
    """Run ``work`` on a new thread whose event loop is closed when it ends.

    Kernel managers hold zmq.asyncio sockets, and a loop that saw a socket which another
    thread later closes keeps a stale registration of its file descriptor; a client that
    reuses that descriptor on the loop then never wakes (a run that hangs). Pool kernels
    move between threads, so the pool starts and stops them on loops nobody reuses.
    """
    from workbench.jobs.execution import close_thread_event_loop

    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # handed to the caller below
            error.append(exc)
        finally:
            close_thread_event_loop()

    thread = threading.Thread(target=target, name="workbench-kernel-pool", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


class KernelPool:
    """One started kernel per (kernel name, working folder), waiting for its next run."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self._ready: dict[tuple[str, Path], _Ready] = {}
        self._lock = threading.Lock()

    def _start(self, kernel: str, cwd: Path) -> _Ready:
        from workbench import run_context
        from workbench.jobs.execution import KERNEL_LOG, start_kernel
        from workbench.jobs.runner import new_run_id

        run_id = new_run_id()
        env = {run_context.RUN_ID_ENV: run_id, run_context.RUN_DIR_ENV: str(self.store.run_dir(run_id))}
        return _Ready(start_kernel(kernel, cwd, env, log=self.store.run_dir(run_id) / KERNEL_LOG), run_id)

    def warm(self, kernel: str, cwd: Path) -> None:
        with self._lock:
            if (kernel, cwd) not in self._ready:
                self._ready[(kernel, cwd)] = _on_a_thread_of_its_own(lambda: self._start(kernel, cwd))

    def take(self, kernel: str, cwd: Path) -> _Ready | None:
        """A kernel started ahead of time for this run, if one is waiting and answers; it
        gets a run id made now."""
        with self._lock:
            ready = self._ready.pop((kernel, cwd), None)
        if ready is None:
            return None
        try:
            _on_a_thread_of_its_own(partial(self._retarget, ready))
        except Exception as exc:  # the waiting kernel died or stopped answering
            log.warning("the kernel started ahead for %s did not answer (%s); starting another", cwd, exc)
            _on_a_thread_of_its_own(partial(_stop, ready.km))
            return None
        return ready

    def _retarget(self, ready: _Ready) -> None:
        """Set a run id made now in the waiting kernel's environment (ids sort by start time)."""
        from jupyter_core.utils import run_sync

        from workbench import run_context
        from workbench.jobs.execution import KERNEL_LOG
        from workbench.jobs.runner import new_run_id

        old = ready.run_id
        run_id = new_run_id()
        env = {run_context.RUN_ID_ENV: run_id, run_context.RUN_DIR_ENV: str(self.store.run_dir(run_id))}
        kc = ready.km.client()
        kc.start_channels()
        try:
            reply = run_sync(kc.execute_interactive)(
                f"import os as _wb_os\n_wb_os.environ.update({env!r})\ndel _wb_os",
                silent=True, store_history=False, timeout=30, output_hook=lambda msg: None,
            )
        finally:
            kc.stop_channels()
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"setting the run id in the kernel failed: {reply['content']}")
        ready.run_id = run_id
        old_folder = self.store.home / "runs" / old  # made at start; the run is filed under the new id
        try:
            os.replace(old_folder / KERNEL_LOG, self.store.run_dir(run_id) / KERNEL_LOG)  # the kernel writes on
            old_folder.rmdir()
        except OSError:
            pass

    def close(self) -> None:
        with self._lock:
            ready, self._ready = list(self._ready.values()), {}
        for entry in ready:
            _on_a_thread_of_its_own(partial(_stop, entry.km))


def _stop(km: Any) -> None:
    from workbench.jobs.execution import stop_kernel

    stop_kernel(km)


def run_schedule(
    schedule: Schedule,
    store: RunStore,
    pool: KernelPool | None = None,
    cancel: Cancellation | None = None,
    settings: Settings | None = None,
) -> Run:
    """Run a schedule's job now (a failed or cancelled run is recorded, not raised); on an
    engine of its ``executor`` cluster when it has one (``settings`` name the store the
    engine records in; ``cancel`` does not reach a run on an engine)."""
    from workbench.jobs.runner import DEFAULT_KERNEL, _execute_once, prepare

    path, nb, clean = prepare(schedule.notebook, schedule.parameters, allow_new_params=True)
    kernel = schedule.kernel or nb.metadata.get("kernelspec", {}).get("name") or DEFAULT_KERNEL
    if schedule.executor:
        from workbench.jobs.on_cluster import ClusterExecutor

        with ClusterExecutor(schedule.executor, settings) as executor:
            return executor.execute(
                path, nb, clean, job=schedule.name, store=store, timeout=schedule.timeout,
                cell_timeout=schedule.cell_timeout, kernel=kernel, retry_of=None, schedule=schedule.name,
            )
    ready = pool.take(kernel, path.parent) if pool else None
    result = _execute_once(
        path,
        nb,
        clean,
        job=schedule.name,
        store=store,
        timeout=schedule.timeout,
        cell_timeout=schedule.cell_timeout,
        kernel=kernel,
        retry_of=None,
        schedule=schedule.name,
        km=ready.km if ready else None,
        run_id=ready.run_id if ready else None,
        cancel=cancel,
    )
    if pool and not (cancel is not None and cancel.requested):
        pool.warm(kernel, path.parent)
    return result


class Scheduler:
    """Starts due schedules, each in its own thread, until :meth:`stop`."""

    def __init__(self, settings: Settings | None = None, *, poll_seconds: float = 0.05) -> None:
        self.settings = settings or load_settings()
        self.storage = open_storage(self.settings)
        self.store = self.storage.runs
        self.pool = KernelPool(self.store)
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self.cancel = Cancellation()
        """Requested (by the CLI's SIGINT/SIGTERM handler) to cancel running jobs and stop."""
        self._running: dict[str, threading.Thread] = {}
        self.started: list[tuple[str, datetime, datetime]] = []  # schedule, due, started
        self.finished: list[Run] = []

    def _launch(self, schedule: Schedule, due: datetime) -> None:
        schedule.last_due = due.isoformat()
        self.store.save_schedule(schedule)

        def work() -> None:
            from workbench.jobs.execution import close_thread_event_loop

            try:
                result = run_schedule(schedule, self.store, self.pool, self.cancel, self.settings)
                self.finished.append(result)
                log.info("schedule %s: run %s %s", schedule.name, result.run_id, result.status)
            except Exception:
                log.exception("schedule %s could not run", schedule.name)
            finally:
                close_thread_event_loop()

        thread = threading.Thread(target=work, name=f"schedule-{schedule.name}", daemon=True)
        self._running[schedule.name] = thread
        self.started.append((schedule.name, due, datetime.now(UTC)))
        thread.start()

    def tick(self, now: datetime | None = None) -> None:
        """Start every schedule that is due at ``now`` and not already running."""
        now = now or datetime.now(UTC)
        for schedule in self.store.list_schedules():
            due = schedule.due_since(now)
            if due is None:
                continue
            running = self._running.get(schedule.name)
            if running is not None and running.is_alive():
                log.warning("schedule %s is still running; skipping its run due at %s", schedule.name, due)
                schedule.last_due = due.isoformat()
                self.store.save_schedule(schedule)
                continue
            self._launch(schedule, due)

    def warm(self) -> None:
        """Start a kernel ahead of time for every schedule's (kernel, folder)."""
        from workbench.jobs.runner import DEFAULT_KERNEL, read_notebook

        for schedule in self.store.list_schedules():
            if schedule.executor:
                continue  # its kernels start on the cluster's engines
            path = Path(schedule.notebook).resolve()
            kernel = schedule.kernel or read_notebook(path).metadata.get("kernelspec", {}).get("name") or DEFAULT_KERNEL
            self.pool.warm(kernel, path.parent)

    def serve(self) -> None:
        """Run until :meth:`stop` or a cancel request, then wait for running jobs (cancelled
        by the request) and stop kernels. Marks this host's lost runs first."""
        from workbench.jobs.orphans import mark_lost_runs

        for lost in mark_lost_runs(self.store):
            log.warning("run %s of %s marked failed (runner_lost): %s", lost.run_id, lost.job, lost.error)
        try:
            if not self.cancel.requested:
                self.warm()
            while not self._stop.is_set() and not self.cancel.requested:
                self.tick()
                self._stop.wait(self.poll_seconds)
        finally:
            for thread in list(self._running.values()):
                thread.join()
            self.pool.close()
            self.storage.close()

    def stop(self) -> None:
        self._stop.set()


__all__ = ["KernelPool", "Scheduler", "run_schedule"]
