"""A paused schedule is skipped by the scheduler; resumed, it runs at its next due time, not for those it missed."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.jobs.conftest import NotebookFactory
from workbench.jobs.scheduler import Scheduler
from workbench.jupyter.service import set_paused
from workbench.storage.schedule_records import Schedule

pytestmark = pytest.mark.timeout(120)


def test_a_paused_schedule_does_not_run_and_resuming_skips_what_it_missed(make_notebook: NotebookFactory) -> None:
    path = make_notebook("job", "x = 1", "x")
    scheduler = Scheduler()
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    store = scheduler.store
    store.save_schedule(Schedule("hourly", str(path), "* * * * *", created_at=hour_ago))
    try:
        set_paused(store, "hourly", True)
        scheduler.tick()
        assert scheduler.started == [] and store.list_runs("hourly") == []
        resumed = set_paused(store, "hourly", False)
        assert resumed.paused is False
        scheduler.tick()  # the due times missed while paused are not caught up
        assert scheduler.started == []
        scheduler.tick(datetime.now(UTC) + timedelta(minutes=1))
        assert [name for name, _, _ in scheduler.started] == ["hourly"]
    finally:
        scheduler.stop()
        for thread in scheduler._running.values():
            thread.join(60)
        scheduler.pool.close()
        scheduler.storage.close()
