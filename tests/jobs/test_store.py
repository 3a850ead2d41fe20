"""One contract for every run store: the embedded one and a real Redis."""

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import RedisServer
from workbench.config import load_settings
from workbench.errors import RunNotFoundError, StoreUnavailableError
from workbench.jobs.local_store import LocalRunStore
from workbench.jobs.redis_store import RedisRunStore
from workbench.jobs.run import Run
from workbench.jobs.schedule import Schedule
from workbench.jobs.store import RunStore, open_run_store


@pytest.fixture(params=["local", "redis"])
def any_store(request: pytest.FixtureRequest, isolated_environment: Path) -> Iterator[RunStore]:
    if request.param == "local":
        store: RunStore = LocalRunStore(isolated_environment)
    else:
        prefix = "t" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]
        url = request.getfixturevalue("redis_server").url(prefix=prefix)
        store = RedisRunStore.from_url(url, isolated_environment)
    yield store
    store.close()


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


def test_the_configured_store_is_used(monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer) -> None:
    assert isinstance(open_run_store(), LocalRunStore)
    monkeypatch.setenv("WORKBENCH_STORE", redis_server.url(prefix="cfg"))
    store = open_run_store()
    assert isinstance(store, RedisRunStore)
    store.close()


def test_unreachable_redis_is_a_typed_error_within_the_timeout(isolated_environment: Path) -> None:
    from tests.redis_server import free_port

    with pytest.raises(StoreUnavailableError, match="did not answer"):
        RedisRunStore.from_url(f"redis://127.0.0.1:{free_port()}/0?timeout=0.5", load_settings().home)
