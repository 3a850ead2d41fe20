"""One storage layer: backends chosen by URL through entry points, each giving every kind of
store or refused at open; one error branch; one schema-version rule."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import RedisServer
from workbench import cli
from workbench.config import load_settings
from workbench.errors import (
    DatamartError,
    PluginNotFoundError,
    RegistryError,
    StorageError,
    StorageUnavailableError,
    StoreError,
    StoreUnavailableError,
    WorkbenchError,
)
from workbench.storage import BACKENDS, KINDS, Storage, open_storage
from workbench.storage.local import LocalStorage
from workbench.storage.memory import MemoryStorage, forget_places
from workbench.storage.memory.datamarts import MemoryDatamartStore
from workbench.storage.memory.models import MemoryModelStore
from workbench.storage.memory.runs import MemoryRunStore
from workbench.storage.redis import RedisStorage
from workbench.storage.run_records import Run


def test_backends_are_entry_point_plugins_chosen_by_url(redis_server: RedisServer) -> None:
    assert {"local", "memory", "redis"} <= set(BACKENDS.names())
    for url, kind in [
        ("local", LocalStorage),
        ("memory", MemoryStorage),
        ("memory://scratch", MemoryStorage),
        (redis_server.url(prefix="pick"), RedisStorage),
        (redis_server.url(prefix="pick").replace("redis://", "rediss://"), RedisStorage),
    ]:
        storage = open_storage(url=url)
        assert type(storage) is kind and storage.url == url
        storage.close()
    assert open_storage().url == "local"  # the default, from the settings


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("mongodb://db:27017", PluginNotFoundError, "no store named 'mongodb'; available: local, memory, redis"),
        ("../x://y", StorageError, "malformed store URL"),
        ("local://elsewhere", StorageError, "the local store takes no options"),
        ("memory://not a name", StorageError, "malformed memory store URL"),
        ("redis://127.0.0.1:1/0?prefix=a*b", StorageError, r"prefix 'a\*b' is not allowed"),
        ("redis://127.0.0.1:1/0?keys=*", StorageError, "unknown Redis store options: keys"),
        ("redis://127.0.0.1:1/0?timeout=0", StorageError, "timeout must be in"),
        ("redis://127.0.0.1:notaport/0", StorageError, "malformed Redis URL"),
    ],
)
def test_bad_urls_are_refused_at_open(url: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        open_storage(url=url)


class _ModelsOnly(Storage):
    """A third-party backend that keeps models and runs only."""

    def open_models(self) -> MemoryModelStore:
        return MemoryModelStore()

    def open_runs(self) -> MemoryRunStore:
        return MemoryRunStore(self.settings.home)


class _Complete(_ModelsOnly):
    """A third-party backend that keeps every kind (memory stores of its own)."""

    def open_datamarts(self) -> MemoryDatamartStore:
        return MemoryStorage("memory://thirdparty", self.settings).open_datamarts()

    def open_predictions(self) -> Any:
        return MemoryStorage("memory://thirdparty", self.settings).open_predictions()

    def open_loop(self) -> Any:
        return MemoryStorage("memory://thirdparty", self.settings).open_loop()


class _OldRegistryStore:
    """What the group held before storage backends: a registry store class."""


@pytest.fixture
def third_party() -> Any:
    yield BACKENDS
    for name in ("partial", "complete", "oldstyle"):
        BACKENDS.unregister(name)
    forget_places()


def test_a_backend_lacking_a_kind_of_store_is_refused_at_open_naming_what_it_lacks(third_party: Any) -> None:
    third_party.register("partial", _ModelsOnly)
    with pytest.raises(StorageError, match="has no datamarts, loop, predictions store") as info:
        open_storage(url="partial://somewhere")
    assert info.value.fields["lacking"] == ["datamarts", "loop", "predictions"]
    third_party.register("oldstyle", _OldRegistryStore)
    with pytest.raises(StorageError, match="is not a workbench storage backend"):
        open_storage(url="oldstyle://")


def test_a_third_party_backend_is_one_class_and_one_name(third_party: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import workbench as wb

    third_party.register("complete", _Complete)
    monkeypatch.setenv("WORKBENCH_STORE", "complete://anywhere")
    with open_storage() as storage:
        assert type(storage) is _Complete
        assert [getattr(storage, kind) is not None for kind in KINDS] == [True] * len(KINDS)
    wb.datamart.put("through-plugin", {"a": [1, 2]})
    assert wb.datamart.get("through-plugin", as_="numpy")["a"].tolist() == [1, 2]


def test_memory_places_are_shared_within_a_process_and_separate_by_name() -> None:
    first, second, other = (open_storage(url=url) for url in ("memory://a", "memory://a", "memory://b"))
    first.runs.save_run(Run("r1", "train", "nb.ipynb"))
    first.close()  # closing one open leaves the place to the others
    assert second.runs.get_run("r1").job == "train"
    assert other.runs.list_runs() == []
    second.close()
    other.close()
    forget_places()


def test_storage_errors_are_one_branch_under_workbench_error() -> None:
    assert StorageError.__bases__ == (WorkbenchError,)
    assert issubclass(StorageUnavailableError, StorageError)
    assert not issubclass(StorageError, RegistryError | DatamartError)
    assert (StoreError, StoreUnavailableError) == (StorageError, StorageUnavailableError)  # 0.1 names


def _newer(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA user_version = 99")


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("models", "registry/registry.sqlite3"),
        ("runs", "jobs.sqlite"),
        ("predictions", "serving/predictions.sqlite3"),
        ("loop", "loop.sqlite3"),
    ],
)
def test_sqlite_data_of_a_newer_schema_is_refused_not_misread(kind: str, path: str, isolated_environment: Path) -> None:
    with open_storage(url="local") as storage:
        getattr(storage, kind)
    with sqlite3.connect(isolated_environment / path) as conn:
        _newer(conn)
    conn.close()
    with open_storage(url="local") as storage, pytest.raises(StorageError, match="has schema version 99; this"):
        getattr(storage, kind)


@pytest.mark.parametrize(
    ("kind", "key"), [("models", "schema"), ("runs", "jobs:schema"), ("datamarts", "datamart:schema"),
                      ("predictions", "predlog:schema"), ("loop", "loop:schema")]
)
def test_redis_data_of_a_newer_schema_is_refused_and_older_is_upgraded(
    kind: str, key: str, redis_server: RedisServer, request: pytest.FixtureRequest
) -> None:
    url = redis_server.url(prefix=f"schema-{kind}")
    with open_storage(url=url) as storage:
        getattr(storage, kind)
        client = storage.connection.client  # type: ignore[attr-defined]
        current = int(client.get(f"schema-{kind}:{key}"))
        client.set(f"schema-{kind}:{key}", 99)
    with open_storage(url=url) as storage, pytest.raises(StorageError, match="has schema version 99; this"):
        getattr(storage, kind)
    with open_storage(url=url) as storage:
        client = storage.connection.client  # type: ignore[attr-defined]
        client.set(f"schema-{kind}:{key}", current - 1)
        getattr(storage, kind)
        assert int(client.get(f"schema-{kind}:{key}")) == current
        client.delete(f"schema-{kind}:{key}")


def test_a_damaged_run_database_is_a_one_line_storage_error(
    isolated_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    isolated_environment.mkdir(parents=True)
    (isolated_environment / "jobs.sqlite").write_bytes(b"not a database, written by something else" * 100)
    assert cli.main(["runs"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("workbench: error: cannot open the run store") and "file is not a database" in err
    assert err.count("\n") == 1


def test_an_unwritable_home_is_a_storage_error_for_every_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("the home cannot be made below a file")
    monkeypatch.setenv("WORKBENCH_HOME", str(blocker / "home"))
    for kind in KINDS:
        with open_storage(load_settings(), url="local") as storage, pytest.raises(StorageUnavailableError):
            store = getattr(storage, kind)
            if kind == "datamarts":  # files are made on first write
                store.publish(*_dataset())


def _dataset() -> tuple[Any, bytes]:
    from datetime import UTC, datetime

    from workbench.datamart import codec
    from workbench.storage import arrow_files
    from workbench.storage.datamart_records import DatasetVersion

    table = codec.to_table({"a": [1, 2]})
    data = codec.encode(table)
    digest = arrow_files.sha256(data)
    meta = DatasetVersion("d", arrow_files.version_of(digest), datetime.now(UTC).isoformat(), 2, ("a",), ("int64",),
                          len(data), digest)
    return meta, data
