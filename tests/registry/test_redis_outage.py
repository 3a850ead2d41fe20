"""Redis stopped or frozen: a typed error within timeout + 1 s, and nothing acknowledged lost."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import RedisServer
from workbench.errors import StorageError, StorageUnavailableError
from workbench.registry import Registry
from workbench.storage import open_storage
from workbench.storage.redis_connection import RedisConnection

TIMEOUT_S = 1.0


def _within_deadline(action: Callable[[], Any]) -> float:
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError, match="did not answer"):
        action()
    return time.monotonic() - started


@pytest.mark.timeout(60)
def test_frozen_redis_gives_a_typed_error_in_time_and_keeps_acknowledged_versions(
    own_redis: RedisServer, model: Any
) -> None:
    storage = open_storage(url=own_redis.url(timeout=TIMEOUT_S))
    registry = Registry(storage.models)
    acknowledged = [registry.register(model, "churn").version for _ in range(3)]
    own_redis.signal(signal.SIGSTOP)
    try:
        for action in (
            lambda: registry.register(model, "churn"),
            lambda: registry.load_model("churn", version=1),
            registry.models,
        ):
            assert _within_deadline(action) < TIMEOUT_S + 1
    finally:
        own_redis.signal(signal.SIGCONT)
    versions = [v.version for v in registry.model_versions("churn")]
    assert versions[:3] == acknowledged == [1, 2, 3]
    assert registry.register(model, "churn").version == versions[-1] + 1
    storage.close()


@pytest.mark.timeout(60)
def test_stopped_redis_gives_a_typed_error_and_restart_loses_nothing_acknowledged(
    own_redis: RedisServer, model: Any
) -> None:
    storage = open_storage(url=own_redis.url(timeout=TIMEOUT_S))
    registry = Registry(storage.models)
    for _ in range(3):
        registry.register(model, "churn")
    registry.record_stage("churn", 2, "production")
    own_redis.stop()
    assert _within_deadline(lambda: registry.register(model, "churn")) < TIMEOUT_S + 1
    assert _within_deadline(lambda: registry.load_model("churn")) < TIMEOUT_S + 1
    own_redis.start()
    assert [v.version for v in registry.model_versions("churn")] == [1, 2, 3]
    assert registry.get("churn", stage="production").version == 2
    assert registry.register(model, "churn").version == 4
    storage.close()


@pytest.mark.timeout(30)
def test_unreachable_redis_at_open_is_a_typed_error(tmp_path: Path) -> None:
    from tests.redis_server import free_port

    url = f"redis://127.0.0.1:{free_port()}/0?timeout={TIMEOUT_S}"
    assert _within_deadline(lambda: open_storage(url=url).models) < TIMEOUT_S + 1


def test_every_redis_error_is_translated() -> None:
    """Any redis-py exception, current or future, leaves the store as a workbench error."""
    import redis.exceptions as rexc

    store = RedisConnection(f"redis://127.0.0.1:1/0?timeout={TIMEOUT_S}")
    classes = [c for c in vars(rexc).values() if isinstance(c, type) and issubclass(c, rexc.RedisError)]
    assert len(classes) > 20
    for cls in classes:

        def fail(cls: type[Exception] = cls) -> None:
            raise cls("1 127.0.0.1:7000")

        with pytest.raises(StorageError) as info:
            store.call(fail)
        assert isinstance(info.value.__cause__, cls)
        if issubclass(cls, rexc.ConnectionError | rexc.TimeoutError):
            assert isinstance(info.value, StorageUnavailableError)
    store.close()
