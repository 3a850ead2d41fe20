"""One contract for every run store: memory, the embedded one and a real Redis."""

import pytest

from workbench.errors import RunNotFoundError
from workbench.storage import Storage
from workbench.storage.run_records import Run
from workbench.storage.run_store import RunStore
from workbench.storage.schedule_records import Schedule


@pytest.fixture
def any_store(storage: Storage) -> RunStore:
    return storage.runs


def make_run(run_id: str, job: str = "train", started: str = "2026-01-01T00:00:00+00:00") -> Run:
    return Run(run_id=run_id, job=job, notebook="nb.ipynb", started_at=started, parameters={"a": [1, "b"]})


def test_runs_round_trip_and_list_newest_first(any_store: RunStore) -> None:
    any_store.save_run(make_run("r1", started="2026-01-01T00:00:01+00:00"))
    any_store.save_run(make_run("r2", started="2026-01-01T00:00:03+00:00"))
    any_store.save_run(make_run("r3", job="score", started="2026-01-01T00:00:02+00:00"))
    assert [r.run_id for r in any_store.list_runs()] == ["r2", "r3", "r1"]
    assert [r.run_id for r in any_store.list_runs("train")] == ["r2", "r1"]
    assert [r.run_id for r in any_store.list_runs(limit=1)] == ["r2"]
    assert any_store.get_run("r1").parameters == {"a": [1, "b"]}


def test_saving_a_run_again_replaces_it(any_store: RunStore) -> None:
    run = make_run("r1")
    any_store.save_run(run)
    run.status, run.metrics = "succeeded", {"precision": 0.9}
    any_store.save_run(run)
    assert any_store.get_run("r1") == run
    assert len(any_store.list_runs()) == 1


def test_unknown_run_is_a_clear_error(any_store: RunStore) -> None:
    with pytest.raises(RunNotFoundError, match="no run 'nope'"):
        any_store.get_run("nope")
    with pytest.raises(RunNotFoundError):
        any_store.load_output("nope")


def test_outputs_are_kept_and_fetched_to_a_local_path(any_store: RunStore) -> None:
    any_store.save_run(make_run("r1"))
    any_store.save_output("r1", b'{"cells": []}')
    assert any_store.load_output("r1") == b'{"cells": []}'
    path = any_store.output_path("r1")
    assert path.read_bytes() == b'{"cells": []}'


def test_schedules_round_trip(any_store: RunStore) -> None:
    schedule = Schedule("nightly", "train.ipynb", "0 3 * * *", parameters={"n": 3})
    any_store.save_schedule(schedule)
    assert any_store.get_schedule("nightly") == schedule
    assert [s.name for s in any_store.list_schedules()] == ["nightly"]
    assert any_store.remove_schedule("nightly")
    assert not any_store.remove_schedule("nightly")
    assert any_store.get_schedule("nightly") is None


def test_run_ids_cannot_escape_the_runs_folder(any_store: RunStore) -> None:
    with pytest.raises(Exception, match="not allowed"):
        any_store.run_dir("../../etc")
