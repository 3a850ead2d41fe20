"""Schedule ticks and leases on every backend: a due time is recorded once, a held lease makes
a tick skipped, an expired lease is handed back to exactly one caller."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from workbench.errors import InvalidNameError, StorageError
from workbench.storage import Storage

DUE = "2026-12-07T22:00:00+00:00"
NEXT = "2026-12-07T22:01:00+00:00"


def wait_until_expired(storage: Storage, schedule: str) -> None:
    deadline = time.monotonic() + 10
    while any(lease.schedule == schedule for lease in storage.runs.leases()):
        assert time.monotonic() < deadline, "the lease never expired"
        time.sleep(0.05)


def test_a_due_time_is_claimed_once_and_its_lease_makes_the_next_skipped(storage: Storage) -> None:
    runs = storage.runs
    first = runs.claim_tick("nightly", DUE, "sched-a", "r1", 30)
    assert first.run and first.lost is None
    assert (first.tick.outcome, first.tick.owner, first.tick.run_id) == ("claimed", "sched-a", "r1")
    again = runs.claim_tick("nightly", DUE, "sched-b", "r2", 30)
    assert not again.mine and not again.run and again.tick == first.tick
    overlap = runs.claim_tick("nightly", NEXT, "sched-b", "r3", 30)
    assert overlap.mine and not overlap.run
    assert (overlap.tick.outcome, overlap.tick.run_id) == ("skipped", "r1")  # names the run still going
    (lease,) = runs.leases()
    assert (lease.schedule, lease.owner, lease.run_id, lease.due) == ("nightly", "sched-a", "r1", DUE)
    assert lease.expires_at > time.time() + 20
    assert [t.due for t in runs.ticks("nightly")] == [NEXT, DUE]
    assert [t.due for t in runs.ticks("nightly", limit=1)] == [NEXT]
    assert runs.ticks("other") == []


def test_only_the_holder_renews_or_releases_and_a_released_schedule_claims_again(storage: Storage) -> None:
    runs = storage.runs
    runs.claim_tick("nightly", DUE, "sched-a", "r1", 30)
    assert not runs.renew_lease("nightly", "sched-b", "r1", 30)
    assert not runs.renew_lease("nightly", "sched-a", "r0", 30)
    assert not runs.release_lease("nightly", "sched-b", "r1")
    assert runs.renew_lease("nightly", "sched-a", "r1", 60)
    assert runs.leases()[0].expires_at > time.time() + 50
    assert runs.release_lease("nightly", "sched-a", "r1") and runs.leases() == []
    assert runs.take_expired() == []  # a released lease is no lost run
    later = runs.claim_tick("nightly", NEXT, "sched-b", "r2", 30)
    assert later.run and later.lost is None


def test_an_expired_lease_is_handed_back_once(storage: Storage) -> None:
    runs = storage.runs
    runs.claim_tick("nightly", DUE, "sched-a", "r1", 0.3)
    runs.claim_tick("hourly", DUE, "sched-a", "r5", 0.3)
    wait_until_expired(storage, "nightly")
    wait_until_expired(storage, "hourly")
    assert not runs.renew_lease("nightly", "sched-a", "r1", 30)  # too late: no renewing an expired lease
    taken = runs.claim_tick("nightly", NEXT, "sched-b", "r2", 30)  # a claim takes the expired lease over
    assert taken.run and taken.lost is not None
    assert (taken.lost.schedule, taken.lost.owner, taken.lost.run_id) == ("nightly", "sched-a", "r1")
    (swept,) = runs.take_expired()  # a sweep hands back the other one
    assert (swept.schedule, swept.run_id) == ("hourly", "r5")
    assert runs.take_expired() == []
    assert [lease.run_id for lease in runs.leases()] == ["r2"]


def test_bad_claims_are_refused(storage: Storage) -> None:
    with pytest.raises(StorageError, match="a lease lasts"):
        storage.runs.claim_tick("nightly", DUE, "sched-a", "r1", 0)
    with pytest.raises(StorageError, match="a lease owner"):
        storage.runs.claim_tick("nightly", DUE, "", "r1", 5)
    with pytest.raises(InvalidNameError):
        storage.runs.claim_tick("../x", DUE, "sched-a", "r1", 5)


def test_of_threads_claiming_one_due_time_exactly_one_runs_it(storage: Storage) -> None:
    barrier = threading.Barrier(6)
    claims = []

    def claim(n: int) -> None:
        barrier.wait()
        claims.append(storage.runs.claim_tick("nightly", DUE, f"sched-{n}", f"r{n}", 30))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(c.run for c in claims) == [False] * 5 + [True]
    assert len({c.tick for c in claims}) == 1


_CLAIMER = """
import sys, time
from workbench.storage import open_storage
with open_storage() as storage:
    storage.runs.leases()  # connected and schema read before the start line
    start = float(sys.argv[2])
    while time.time() < start:
        time.sleep(0.001)
    won = [storage.runs.claim_tick(f"s{i}", "2026-12-07T22:00:00+00:00", sys.argv[1], "r" + sys.argv[1], 30).run
           for i in range(20)]
    print(sum(won))
"""


@pytest.mark.timeout(120)
def test_of_processes_claiming_the_same_ticks_each_tick_runs_once(shared_store_url: str, tmp_path: Path) -> None:
    script = tmp_path / "claim.py"
    script.write_text(textwrap.dedent(_CLAIMER))
    start = time.time() + 2.5
    processes = [
        subprocess.Popen([sys.executable, str(script), f"p{n}", str(start)], stdout=subprocess.PIPE, text=True)
        for n in range(3)
    ]
    won = [int(p.communicate(timeout=60)[0].strip()) for p in processes]
    assert sum(won) == 20, won
