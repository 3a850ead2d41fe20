"""The loop store's contract on every backend: conditional writes that lose nothing to a concurrent
writer, leases that one owner holds at a time and that expire, writes fenced by the lease."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from workbench.errors import LeaseLostError, StorageConflictError, StorageError
from workbench.storage import Storage
from workbench.storage.loop_records import LoopEvent, LoopState


def _event(kind: str = "trigger", summary: str = "new data") -> LoopEvent:
    return LoopEvent(model="placeholder", kind=kind, summary=summary, evidence={"psi": {"x0": 0.31}})


def test_a_state_and_its_events_are_written_together_and_numbered(storage: Storage) -> None:
    loop = storage.loop
    assert loop.load("churn") is None and loop.states() == []
    fresh = loop.state("churn")
    assert (fresh.revision, fresh.events, fresh.phase) == (0, 0, "idle")
    written, events = loop.commit(fresh.evolve(phase="retraining"), [_event(), _event("retrain", "run r1")])
    assert (written.revision, written.events, written.updated_at is not None) == (1, 2, True)
    assert [(e.model, e.seq, e.kind) for e in events] == [("churn", 1, "trigger"), ("churn", 2, "retrain")]
    assert loop.load("churn") == written
    again, more = loop.commit(written.evolve(phase="gating"), [_event("retrained", "v2")])
    assert (again.revision, again.events, more[0].seq) == (2, 3, 3)
    stored = loop.events("churn")
    assert [e.seq for e in stored] == [1, 2, 3] and stored[0].evidence == {"psi": {"x0": 0.31}}
    assert [e.seq for e in loop.events("churn", after=1)] == [2, 3]
    assert [e.seq for e in loop.events("churn", after=1, limit=1)] == [2]
    assert loop.events("other") == []
    loop.commit(loop.state("another"))
    assert [s.model for s in loop.states()] == ["another", "churn"]


def test_a_write_from_a_stale_read_is_refused_and_writes_nothing(storage: Storage) -> None:
    loop = storage.loop
    first, _ = loop.commit(loop.state("churn"), [_event()])
    loop.commit(first.evolve(phase="retraining"), [_event("retrain")])
    with pytest.raises(StorageConflictError, match="changed since it was read"):
        loop.commit(first.evolve(paused={"by": "ana"}), [_event("paused")])
    with pytest.raises(StorageConflictError):
        loop.commit(loop.state("brand-new").evolve(revision=3))
    stored = loop.load("churn")
    assert stored is not None and (stored.phase, stored.paused, stored.events) == ("retraining", None, 2)
    assert [e.kind for e in loop.events("churn")] == ["trigger", "retrain"]


def test_one_owner_holds_a_lease_until_it_releases_it_or_it_expires(storage: Storage) -> None:
    loop = storage.loop
    assert loop.lease("churn") is None
    assert loop.claim("churn", "loop-a", 30)
    assert not loop.claim("churn", "loop-b", 30)
    assert loop.claim("churn", "loop-a", 30)  # the holder renews
    held = loop.lease("churn")
    assert held is not None and held.owner == "loop-a" and held.expires_at > time.time() + 20
    assert not loop.release("churn", "loop-b")
    assert loop.release("churn", "loop-a") and loop.lease("churn") is None
    assert loop.claim("churn", "loop-b", 0.3)
    deadline = time.monotonic() + 10
    while loop.lease("churn") is not None:  # expires by itself
        assert time.monotonic() < deadline, "the lease never expired"
        time.sleep(0.05)
    assert loop.claim("churn", "loop-a", 30)
    with pytest.raises(StorageError, match="a lease lasts"):
        loop.claim("churn", "loop-a", 0)
    with pytest.raises(StorageError, match="a lease owner"):
        loop.claim("churn", "", 5)


def test_a_write_under_a_lease_needs_the_lease(storage: Storage) -> None:
    loop = storage.loop
    assert loop.claim("churn", "loop-a", 30)
    state, _ = loop.commit(loop.state("churn"), [_event()], owner="loop-a")
    with pytest.raises(LeaseLostError, match="loop-b no longer holds the loop of churn"):
        loop.commit(state.evolve(phase="retraining"), [_event("retrain")], owner="loop-b")
    loop.release("churn", "loop-a")
    with pytest.raises(LeaseLostError):
        loop.commit(state.evolve(phase="retraining"), [_event("retrain")], owner="loop-a")
    assert loop.load("churn") == state and len(loop.events("churn")) == 1
    loop.commit(state.evolve(paused={"by": "ana"}))  # a person's write takes no lease


def test_concurrent_writers_that_retry_on_conflict_lose_nothing(storage: Storage) -> None:
    loop = storage.loop
    writers, each = 4, 10

    def write(name: str) -> None:
        for i in range(each):
            while True:
                state = loop.state("churn")
                count = (state.evidence or {}).get("count", 0)
                try:
                    loop.commit(state.evolve(evidence={"count": count + 1}), [_event("requested", f"{name} {i}")])
                    break
                except StorageConflictError:
                    continue

    threads = [threading.Thread(target=write, args=(f"w{n}",)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    final = loop.load("churn")
    assert final is not None and final.evidence == {"count": writers * each}
    assert [e.seq for e in loop.events("churn")] == list(range(1, writers * each + 1))


def test_of_many_claiming_at_once_exactly_one_wins(storage: Storage) -> None:
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def claim(owner: str) -> None:
        barrier.wait()
        results.append(storage.loop.claim("churn", owner, 30))

    threads = [threading.Thread(target=claim, args=(f"loop-{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [False] * 5 + [True]


_CLAIMER = """
import sys, time
from workbench.storage import open_storage
with open_storage() as storage:
    storage.loop.lease("churn")  # connected and schema read before the start line
    start = float(sys.argv[2])
    while time.time() < start:
        time.sleep(0.001)
    print(storage.loop.claim("churn", sys.argv[1], 30))
"""


@pytest.mark.timeout(120)
def test_of_processes_claiming_at_once_exactly_one_wins(shared_store_url: str, tmp_path: Path) -> None:
    script = tmp_path / "claim.py"
    script.write_text(textwrap.dedent(_CLAIMER))
    start = time.time() + 2.5
    processes = [
        subprocess.Popen([sys.executable, str(script), f"process-{n}", str(start)], stdout=subprocess.PIPE, text=True)
        for n in range(3)
    ]
    outputs = [p.communicate(timeout=60)[0].strip() for p in processes]
    assert sorted(outputs) == ["False"] * 2 + ["True"], outputs


def test_states_and_events_of_a_newer_writer_keep_their_known_fields(storage: Storage) -> None:
    state = LoopState.from_dict({"model": "churn", "phase": "idle", "from_the_future": 1})
    assert state.model == "churn"
    with pytest.raises(ValueError, match="unknown loop phase"):
        LoopState(model="churn", phase="sleeping")
    with pytest.raises(ValueError, match="unknown loop event kind"):
        LoopEvent(model="churn", kind="guess", summary="")
