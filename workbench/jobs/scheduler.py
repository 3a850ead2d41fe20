"""``workbench scheduler``: runs scheduled jobs when they are due.

Policies (documented for users in the README):

- **No overlap.** A schedule whose previous run is still going when it falls due again
  skips that due time (logged); runs of one schedule never overlap.
- **Missed runs.** Due times missed while no scheduler was running are coalesced: at
  start, each schedule runs once if at least one due time was missed, not once per
  missed time.
- **Fast start.** For each (kernel, working folder) in use, one kernel is started ahead
  of time, with the next run's id already in its environment; a due job takes it and a
  fresh one is started for the next run. A kernel is never reused between runs.
- **Several schedulers, one store.** Any number of schedulers may share a store (Redis across
  machines, the local store on one machine). Each due time is claimed once, atomically
  (:meth:`RunStore.claim_tick`); the claimer holds the schedule's lease while the run is
  alive, renewing it every third of ``lease_seconds``. The overlap rule is the lease: a
  due time met while a lease is held is recorded ``skipped``. A scheduler that dies
  (SIGKILL, a lost host) stops renewing; within ``lease_seconds`` (plus a sweep) another
  scheduler takes the expired lease, marks the run failed (``runner_lost``) and runs the
  schedule's next due times. A lost run is never run again.
- **Signals.** SIGINT or SIGTERM stops starting runs and cancels the running ones (their
  kernels stopped, their records and output notebooks ``cancelled``), then the scheduler
  exits (:mod:`workbench.jobs.cancel`). At start, runs of this host left ``running`` by a
  process that died without a word are marked ``runner_lost`` (:mod:`workbench.jobs.orphans`).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from workbench.config import Settings, load_settings
from workbench.errors import JobError, StorageUnavailableError
from workbench.jobs.cancel import Cancellation
from workbench.storage import open_storage
from workbench.storage.run_records import Run, utc_now
from workbench.storage.run_store import RunStore
from workbench.storage.schedule_records import Schedule
from workbench.storage.tick_records import ScheduleLease

DEFAULT_LEASE_SECONDS = 30.0
OUTAGE_RETRY_S = 1.0

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
        self._stopping: list[threading.Thread] = []
        self._starting: set[tuple[str, Path]] = set()
        self._lock = threading.Lock()

    def _start(self, kernel: str, cwd: Path) -> _Ready:
        from workbench import run_context
        from workbench.jobs.execution import KERNEL_LOG, start_kernel
        from workbench.jobs.runner import new_run_id

        run_id = new_run_id()
        env = {run_context.RUN_ID_ENV: run_id, run_context.RUN_DIR_ENV: str(self.store.run_dir(run_id))}
        return _Ready(start_kernel(kernel, cwd, env, log=self.store.run_dir(run_id) / KERNEL_LOG), run_id)

    def warm(self, kernel: str, cwd: Path) -> None:
        """Start a kernel for (kernel, folder) unless one is ready or starting; the pool stays unlocked
        while it starts, so the tick loop never waits for a kernel."""
        slot = (kernel, cwd)
        with self._lock:
            if slot in self._ready or slot in self._starting:
                return
            self._starting.add(slot)
        try:
            ready = _on_a_thread_of_its_own(lambda: self._start(kernel, cwd))
        finally:
            with self._lock:
                self._starting.discard(slot)
        self.put_back(kernel, cwd, ready)

    def take(self, kernel: str, cwd: Path) -> _Ready | None:
        """A kernel started ahead of time for this run, if one is waiting (taken out of the pool)."""
        with self._lock:
            return self._ready.pop((kernel, cwd), None)

    def put_back(self, kernel: str, cwd: Path, ready: _Ready) -> None:
        """Put a started kernel in its slot (one reserved whose tick went elsewhere, or one just warmed).
        If the slot is full, the extra kernel is stopped in a thread of its own: the caller may be the
        tick loop."""
        with self._lock:
            if (kernel, cwd) not in self._ready:
                self._ready[(kernel, cwd)] = ready
                return
        stopping = threading.Thread(target=_stop_ready, args=(ready,), name="scheduler-kernel-stop", daemon=True)
        self._stopping.append(stopping)
        stopping.start()

    def close(self) -> None:
        from workbench.jobs.execution import stop_kernel

        with self._lock:
            ready, self._ready = list(self._ready.values()), {}
        for entry in ready:
            _on_a_thread_of_its_own(partial(stop_kernel, entry.km))
        for thread in self._stopping:
            thread.join()


def _stop_ready(ready: _Ready) -> None:
    """Stop an extra pool kernel on this thread of its own and close its loop (as :func:`_on_a_thread_of_its_own`)."""
    from workbench.jobs.execution import close_thread_event_loop, stop_kernel

    try:
        stop_kernel(ready.km)
    finally:
        close_thread_event_loop()


def run_schedule(
    schedule: Schedule,
    store: RunStore,
    pool: KernelPool | None = None,
    *,
    ready: _Ready | None = None,
    run_id: str | None = None,
    cancel: Cancellation | None = None,
    settings: Settings | None = None,
) -> Run:
    """Run a schedule's job now (a failed or cancelled run is recorded, not raised).

    With ``run_id`` (a claimed tick's) the run has that id: in ``ready``, a kernel reserved
    from ``pool`` with that id, or in a kernel started now. A schedule with an ``executor``
    runs on an engine of that cluster (``settings`` name the store the engine records in;
    ``cancel`` does not reach a run on an engine).
    """
    from workbench.jobs.runner import DEFAULT_KERNEL, _execute_once, prepare

    path, nb, clean = prepare(schedule.notebook, schedule.parameters, allow_new_params=True)
    kernel = schedule.kernel or nb.metadata.get("kernelspec", {}).get("name") or DEFAULT_KERNEL
    if schedule.executor:
        from workbench.jobs.on_cluster import ClusterExecutor

        with ClusterExecutor(schedule.executor, settings) as executor:
            return executor.execute(
                path, nb, clean, job=schedule.name, store=store, timeout=schedule.timeout,
                cell_timeout=schedule.cell_timeout, kernel=kernel, retry_of=None, schedule=schedule.name, run_id=run_id,
            )
    if ready is None and run_id is None and pool is not None:
        ready = pool.take(kernel, path.parent)
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
        run_id=ready.run_id if ready else run_id,
        cancel=cancel,
    )
    if pool and not (cancel is not None and cancel.requested):
        pool.warm(kernel, path.parent)
    return result


def scheduler_owner() -> str:
    """This scheduler's name in leases and ticks: ``host:pid:token``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Scheduler:
    """Claims due schedule ticks and starts each claimed run in its own thread, until :meth:`stop`.

    ``lease_seconds`` bounds how long a schedule stays with a scheduler that stopped
    renewing (see the module docstring).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        poll_seconds: float = 0.05,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        owner: str | None = None,
    ) -> None:
        if not 0 < lease_seconds <= 86_400:
            raise JobError(f"a scheduler lease lasts more than 0 and at most 86400 seconds, not {lease_seconds}")
        self.settings = settings or load_settings()
        self.storage = open_storage(self.settings)
        self.store = self.storage.runs
        self.pool = KernelPool(self.store)
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.owner = owner or scheduler_owner()
        self._stop = threading.Event()
        self.cancel = Cancellation()
        """Requested (by the CLI's SIGINT/SIGTERM handler) to cancel running jobs and stop."""
        self._running: dict[str, threading.Thread] = {}
        self._held: dict[str, str] = {}  # schedule -> run id whose lease this scheduler renews
        self._held_lock = threading.Lock()
        self._seen: dict[str, datetime] = {}  # due times another scheduler recorded
        self._swept = 0.0
        self.started: list[tuple[str, datetime, datetime]] = []  # schedule, due, started
        self.finished: list[Run] = []

    def _launch(self, schedule: Schedule, due: datetime, run_id: str, ready: _Ready | None) -> None:
        with self._held_lock:
            self._held[schedule.name] = run_id
        schedule.last_due = due.isoformat()
        try:
            self.store.save_schedule(schedule)  # spares the other schedulers a claim; the tick is the record
        except StorageUnavailableError as exc:
            log.warning("schedule %s: due time not saved (the claim stands): %s", schedule.name, exc)

        def work() -> None:
            from workbench.jobs.execution import close_thread_event_loop

            try:
                result = run_schedule(
                    schedule, self.store, self.pool, ready=ready, run_id=run_id, cancel=self.cancel,
                    settings=self.settings,
                )
                self.finished.append(result)
                log.info("schedule %s: run %s %s", schedule.name, result.run_id, result.status)
            except Exception:
                log.exception("schedule %s could not run", schedule.name)
            finally:
                with self._held_lock:
                    self._held.pop(schedule.name, None)
                try:
                    if not self.store.release_lease(schedule.name, self.owner, run_id):
                        log.error("schedule %s: run %s outlived its lease", schedule.name, run_id)
                except StorageUnavailableError as exc:
                    log.warning("schedule %s: lease not released (it expires by itself): %s", schedule.name, exc)
                close_thread_event_loop()

        thread = threading.Thread(target=work, name=f"schedule-{schedule.name}", daemon=True)
        self._running[schedule.name] = thread
        self.started.append((schedule.name, due, datetime.now(UTC)))
        thread.start()

    def _kernel_slot(self, schedule: Schedule) -> tuple[str, Path] | None:
        """(kernel name, working folder) of a schedule's runs here; None when they run on a
        cluster or its notebook cannot be read."""
        from workbench.jobs.runner import DEFAULT_KERNEL, read_notebook

        if schedule.executor:
            return None  # its kernels start on the cluster's engines
        path = Path(schedule.notebook).resolve()
        try:
            spec = read_notebook(path).metadata.get("kernelspec", {}).get("name")
        except JobError:
            return None
        return schedule.kernel or spec or DEFAULT_KERNEL, path.parent

    def tick(self, now: datetime | None = None) -> None:
        """Claim and start every schedule due at ``now``; a due time met while the schedule's
        previous run (on any scheduler) is alive is recorded skipped."""
        from workbench.jobs.runner import new_run_id

        now = now or datetime.now(UTC)
        for schedule in self.store.list_schedules():
            due = None if schedule.paused else schedule.due_since(now)
            seen = self._seen.get(schedule.name)
            if due is None or (seen is not None and due <= seen):
                continue
            slot = self._kernel_slot(schedule)
            ready = self.pool.take(*slot) if slot else None
            run_id = ready.run_id if ready else new_run_id()
            try:
                claim = self.store.claim_tick(schedule.name, due.isoformat(), self.owner, run_id, self.lease_seconds)
            except BaseException:
                if ready and slot:
                    self.pool.put_back(*slot, ready)
                raise
            if claim.lost is not None:
                self.mark_lost(claim.lost)
            if claim.run:
                self._launch(schedule, due, run_id, ready)
                continue
            if ready and slot:
                self.pool.put_back(*slot, ready)
            if claim.mine:  # recorded skipped: the previous run is still going
                log.warning(
                    "schedule %s is still running (run %s); skipping its run due at %s",
                    schedule.name,
                    claim.tick.run_id,
                    due,
                )
                schedule.last_due = due.isoformat()
                self.store.save_schedule(schedule)
            else:
                self._seen[schedule.name] = due  # another scheduler's; not tried again

    def renew(self) -> None:
        """Renew the lease of every run this scheduler is running (a lost one is logged)."""
        with self._held_lock:
            held = dict(self._held)
        for schedule, run_id in held.items():
            if not self.store.renew_lease(schedule, self.owner, run_id, self.lease_seconds):
                log.error(
                    "schedule %s: lost the lease of run %s (it expired); another scheduler marks it runner_lost",
                    schedule,
                    run_id,
                )

    def sweep(self) -> list[ScheduleLease]:
        """Take every expired lease (a scheduler that stopped) and mark its run ``runner_lost``."""
        lost = self.store.take_expired()
        for lease in lost:
            self.mark_lost(lease)
        return lost

    def mark_lost(self, lease: ScheduleLease, why: str | None = None) -> None:
        """Mark the run of an expired lease failed (``runner_lost``) unless it already ended."""
        from workbench.errors import RunNotFoundError

        try:
            run = self.store.get_run(lease.run_id)
        except RunNotFoundError:  # the scheduler stopped between its claim and the run's first record
            schedule = self.store.get_schedule(lease.schedule)
            notebook = schedule.notebook if schedule else ""
            run = Run(lease.run_id, lease.schedule, notebook, schedule=lease.schedule)
        if run.status != "running":
            return
        run.status, run.reason = "failed", "runner_lost"
        run.error = why or (
            f"scheduler {lease.owner} stopped renewing its lease on schedule {lease.schedule} "
            "(killed, frozen or cut off from the store) before the run ended"
        )
        run.ended_at = utc_now()
        self.store.save_run(run)
        log.warning("schedule %s: run %s lost its scheduler %s (runner_lost)", lease.schedule, run.run_id, lease.owner)

    def warm(self) -> None:
        """Start a kernel ahead of time for every schedule's (kernel, folder)."""
        for schedule in self.store.list_schedules():
            slot = self._kernel_slot(schedule)
            if slot is not None:
                self.pool.warm(*slot)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                self.renew()
            except StorageUnavailableError as exc:
                log.warning("leases not renewed: %s", exc)

    def serve(self) -> None:
        """Run until :meth:`stop` or a cancel request, then wait for running jobs (cancelled
        by the request) and stop kernels. Marks this host's lost runs first.

        A store outage is logged and retried every :data:`OUTAGE_RETRY_S`; leases not renewed
        meanwhile may expire.
        """
        from workbench.jobs.orphans import mark_lost_runs

        try:
            for lost in mark_lost_runs(self.store):
                log.warning("run %s of %s marked failed (runner_lost): %s", lost.run_id, lost.job, lost.error)
        except StorageUnavailableError as exc:
            log.warning("lost runs not looked for (the store did not answer): %s", exc)
        heartbeat = threading.Thread(target=self._heartbeat, name="scheduler-leases", daemon=True)
        heartbeat.start()
        sweep_every = min(1.0, self.lease_seconds / 4)
        warmed = False
        try:
            while not self._stop.is_set() and not self.cancel.requested:
                try:
                    if not warmed:  # kernels ahead of the first due times, once the store answers
                        self.warm()
                        warmed = True
                    if time.monotonic() - self._swept >= sweep_every:
                        self._swept = time.monotonic()
                        self.sweep()
                    self.tick()
                except StorageUnavailableError as exc:
                    log.warning("store unavailable, retrying in %g s: %s", OUTAGE_RETRY_S, exc)
                    self._stop.wait(OUTAGE_RETRY_S)
                    continue
                self._stop.wait(self.poll_seconds)
        finally:
            for thread in list(self._running.values()):
                thread.join()
            self._stop.set()
            heartbeat.join()
            self._abandon_unstarted()
            self.pool.close()
            self.storage.close()

    def _abandon_unstarted(self) -> None:
        """Mark and release the leases of ticks claimed but never started (a stop that came
        between a claim and its launch): their runs are recorded ``runner_lost`` now instead of
        waiting for another scheduler's sweep."""
        try:
            for lease in self.store.leases():
                if lease.owner == self.owner:
                    self.mark_lost(lease, f"scheduler {self.owner} stopped between claiming the run and starting it")
                    self.store.release_lease(lease.schedule, self.owner, lease.run_id)
        except StorageUnavailableError as exc:
            log.warning("leases of unstarted runs left to expire: %s", exc)

    def stop(self) -> None:
        self._stop.set()


__all__ = ["DEFAULT_LEASE_SECONDS", "KernelPool", "Scheduler", "run_schedule", "scheduler_owner"]
