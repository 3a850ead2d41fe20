"""Two ``workbench scheduler`` processes on one Redis, as on two machines, one killed mid-run:
every due time is run exactly once or recorded skipped, and the survivor takes over within
the lease."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import key_prefix
from tests.hosts import Host, exec_log_notebook, failover_report, kernels_of, owner_pid, wait_for
from tests.redis_server import RedisServer
from workbench.storage import open_storage
from workbench.storage.schedule_records import Schedule

pytestmark = pytest.mark.timeout(150)

EVERY_3_S = "* * * * * */3"
PERIOD_S = 3.0
LEASE_S = 3.0
SCHEDULES = ["report-a", "report-b"]


def test_a_killed_scheduler_loses_no_run_and_doubles_none(
    redis_server: RedisServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = redis_server.url(prefix=key_prefix(request))
    notebook = exec_log_notebook(tmp_path / "shared" / "report.ipynb")
    exec_log = tmp_path / "shared" / "executed.log"
    with open_storage(url=url) as storage:
        store = storage.runs
        for name in SCHEDULES:
            parameters = {"log": str(exec_log), "pause": 1.0}
            store.save_schedule(Schedule(name, str(notebook), EVERY_3_S, parameters, created_at=_now()))
        hosts = [Host(n, tmp_path / n, url) for n in ("host-a", "host-b")]
        schedulers = [host.start("scheduler", "--lease", str(LEASE_S)) for host in hosts]
        try:
            # both schedulers claim runs; then kill one holding a lease while its run is going
            def each_claimed_a_run() -> bool:
                owners = {owner_pid(t.owner) for n in SCHEDULES for t in store.ticks(n) if t.outcome == "claimed"}
                return {p.pid for p in schedulers} <= owners

            wait_for(each_claimed_a_run, 60, "both schedulers to claim runs")
            pids = {p.pid for p in schedulers}
            victim = wait_for(
                lambda: next((owner_pid(x.owner) for x in store.leases() if owner_pid(x.owner) in pids), None),
                30,
                "a scheduler to hold a lease",
            )
            kernels = kernels_of(victim)
            os.kill(victim, signal.SIGKILL)
            killed_at = time.time()
            survivor = next(p for p in schedulers if p.pid != victim)

            def the_survivor_runs_again() -> bool:
                report = failover_report(store, SCHEDULES, EVERY_3_S, exec_log, killed_at, victim)
                return report.runner_lost >= 1 and report.resumed_s is not None

            wait_for(the_survivor_runs_again, 30, "the survivor to take over")
            wait_for(lambda: not [k for k in kernels if _alive(k)], 15, "the killed scheduler's kernels to exit")
        finally:
            for host in hosts:
                host.stop()
        # stopped with SIGINT: running jobs cancelled, exit 130 (docs/jobs.md)
        assert survivor.returncode == 130, hosts[0].output("scheduler") + hosts[1].output("scheduler")
        report = failover_report(store, SCHEDULES, EVERY_3_S, exec_log, killed_at, victim)
    print(report.to_dict())
    assert report.exactly_once, report
    assert report.runner_lost >= 1 and report.succeeded >= 2
    assert report.takeover_s is not None and report.takeover_s <= LEASE_S + 2.0, report
    # the survivor's next run of a schedule the killed one held: the lease, then the next due time
    assert report.resumed_s is not None and report.resumed_s <= LEASE_S + PERIOD_S + 2.0, report


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _now() -> str:
    return datetime.now(UTC).isoformat()
