"""The scheduler: due detection, no overlap, missed runs coalesced, kernels started ahead."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.jobs.conftest import NotebookFactory
from tests.redis_server import RedisServer
from workbench.jobs.scheduler import Scheduler
from workbench.storage.schedule_records import Schedule

pytestmark = pytest.mark.timeout(120)

EVERY_MINUTE = "* * * * *"


def wait_idle(scheduler: Scheduler, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    for thread in list(scheduler._running.values()):
        thread.join(max(0.0, deadline - time.monotonic()))
        assert not thread.is_alive(), "scheduled run did not finish"


def test_due_times_follow_the_cron_expression() -> None:
    schedule = Schedule("s", "nb.ipynb", "*/15 * * * *", created_at="2026-01-01T10:02:00+00:00")
    assert schedule.next_due(datetime(2026, 1, 1, 10, 2, tzinfo=UTC)) == datetime(2026, 1, 1, 10, 15, tzinfo=UTC)
    assert schedule.due_since(datetime(2026, 1, 1, 10, 14, tzinfo=UTC)) is None
    assert schedule.due_since(datetime(2026, 1, 1, 10, 31, tzinfo=UTC)) == datetime(2026, 1, 1, 10, 30, tzinfo=UTC)


def test_missed_runs_are_coalesced_into_one(make_notebook: NotebookFactory) -> None:
    path = make_notebook("job", "x = 1", "import workbench as wb\nwb.record('x', x)")
    scheduler = Scheduler()
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    scheduler.store.save_schedule(Schedule("hourly", str(path), EVERY_MINUTE, {"x": 5}, created_at=hour_ago))
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    try:
        scheduler.tick(now)
        wait_idle(scheduler)
        scheduler.tick(now + timedelta(seconds=1))  # nothing newly due within the same minute (the clock is pinned)
        wait_idle(scheduler)
        runs = scheduler.store.list_runs("hourly")
        assert len(runs) == 1  # 60 missed minutes, one run
        assert (runs[0].status, runs[0].schedule, runs[0].metrics) == ("succeeded", "hourly", {"x": 5})
    finally:
        scheduler.pool.close()
        scheduler.store.close()


def test_a_schedule_never_overlaps_itself(make_notebook: NotebookFactory) -> None:
    path = make_notebook("slow", "x = 1", "import time\ntime.sleep(4)")
    scheduler = Scheduler()
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    scheduler.store.save_schedule(
        Schedule("slow", str(path), EVERY_MINUTE, created_at=(start - timedelta(minutes=1)).isoformat())
    )
    try:
        scheduler.tick(start + timedelta(seconds=1))
        scheduler.tick(start + timedelta(minutes=1, seconds=1))  # due again while the first still runs
        wait_idle(scheduler)
        assert len(scheduler.store.list_runs("slow")) == 1
        assert scheduler.store.get_schedule("slow").last_due == (start + timedelta(minutes=1)).isoformat()
    finally:
        scheduler.pool.close()
        scheduler.store.close()


def test_a_kernel_is_ready_before_the_job_is_due(make_notebook: NotebookFactory) -> None:
    path = make_notebook("warm", "x = 1", "import os, workbench as wb\nwb.record('pid', os.getpid())")
    scheduler = Scheduler()
    scheduler.store.save_schedule(Schedule("warm", str(path), EVERY_MINUTE))
    try:
        scheduler.warm()
        (ready,) = scheduler.pool._ready.values()
        kernel_pid = ready.km.provisioner.pid
        scheduler.tick(datetime.now(UTC) + timedelta(minutes=1))
        wait_idle(scheduler)
        (result,) = scheduler.store.list_runs("warm")
        assert result.run_id == ready.run_id
        assert result.metrics["pid"] == kernel_pid  # ran in the kernel started ahead of time
        (next_ready,) = scheduler.pool._ready.values()
        assert next_ready.run_id != ready.run_id  # a fresh kernel for the next run, never reused
    finally:
        scheduler.pool.close()
        scheduler.store.close()


def test_two_schedulers_on_one_local_store_run_a_due_time_once(make_notebook: NotebookFactory) -> None:
    path = make_notebook("once", "x = 1", "import workbench as wb\nwb.record('x', x)")
    first, second = Scheduler(lease_seconds=5), Scheduler(lease_seconds=5)
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    schedule = Schedule("once", str(path), EVERY_MINUTE, created_at=(start - timedelta(minutes=1)).isoformat())
    first.store.save_schedule(schedule)
    try:
        first.tick(start + timedelta(seconds=1))
        second.store.save_schedule(schedule)  # as if the second read the schedule before the first saved its due time
        second.tick(start + timedelta(seconds=1))  # the same due time, already claimed: nothing to do
        wait_idle(first)
        wait_idle(second)
        (run,) = first.store.list_runs("once")
        (tick,) = first.store.ticks("once")
        assert (tick.outcome, tick.owner, tick.run_id, run.status) == ("claimed", first.owner, run.run_id, "succeeded")
        assert second.started == [] and first.store.leases() == []  # released when the run ended
    finally:
        for scheduler in (first, second):
            scheduler.pool.close()
            scheduler.store.close()


def test_the_run_of_a_scheduler_that_stopped_renewing_is_marked_runner_lost() -> None:
    from workbench.storage.run_records import Run

    scheduler = Scheduler(lease_seconds=5)
    try:
        store = scheduler.store
        store.save_schedule(Schedule("nightly", "nb.ipynb", EVERY_MINUTE))
        store.save_run(Run("r-lost", "nightly", "nb.ipynb", schedule="nightly"))
        store.claim_tick("nightly", "2026-12-07T22:00:00+00:00", "gone-host:1:abc", "r-lost", 0.2)
        store.claim_tick("other", "2026-12-07T22:00:00+00:00", "gone-host:1:abc", "r-unsaved", 0.2)
        deadline = time.monotonic() + 10
        while store.leases():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert sorted(lease.run_id for lease in scheduler.sweep()) == ["r-lost", "r-unsaved"]
        for run_id in ("r-lost", "r-unsaved"):  # a run whose record was never written gets one
            run = store.get_run(run_id)
            assert (run.status, run.reason) == ("failed", "runner_lost")
            assert "gone-host:1:abc stopped renewing its lease" in (run.error or "")
        assert scheduler.sweep() == []
        # a stop between its own claim and the launch: recorded at once, the lease released
        store.claim_tick("nightly", "2026-12-07T22:01:00+00:00", scheduler.owner, "r-unstarted", 30)
        scheduler._abandon_unstarted()
        assert store.leases() == []
        run = store.get_run("r-unstarted")
        assert (run.status, run.reason) == ("failed", "runner_lost") and "between claiming" in (run.error or "")
    finally:
        scheduler.pool.close()
        scheduler.store.close()


def test_a_scheduler_outlives_a_store_outage(
    redis_store_down_soon: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    import threading

    scheduler = Scheduler(lease_seconds=5)
    serving = threading.Thread(target=scheduler.serve)
    with caplog.at_level("WARNING", logger="workbench.scheduler"):
        serving.start()
        try:
            redis_store_down_soon.stop()
            deadline = time.monotonic() + 20
            while "store unavailable, retrying" not in caplog.text:
                assert serving.is_alive() and time.monotonic() < deadline, caplog.text
                time.sleep(0.05)
            assert serving.is_alive()
        finally:
            scheduler.stop()
            serving.join(timeout=30)
    assert not serving.is_alive()
