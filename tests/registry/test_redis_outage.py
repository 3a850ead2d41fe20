"""Redis stopped or frozen: a typed error within timeout + 1 s, and nothing acknowledged lost."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import RedisServer, start_redis
from workbench.config import load_settings
from workbench.errors import StoreError, StoreUnavailableError
from workbench.redis_connection import RedisConnection
from workbench.registry import Registry
from workbench.registry.redis_store import RedisStore

TIMEOUT_S = 1.0


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path / "redis")
    yield server
    server.stop()


def _within_deadline(action: Callable[[], Any]) -> float:
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="did not answer"):
        action()
    return time.monotonic() - started


@pytest.mark.timeout(60)
def test_frozen_redis_gives_a_typed_error_in_time_and_keeps_acknowledged_versions(
    own_redis: RedisServer, model: Any
) -> None:
    registry = Registry(RedisStore.from_url(own_redis.url(timeout=TIMEOUT_S), load_settings()))
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
    registry.store.close()


@pytest.mark.timeout(60)
def test_stopped_redis_gives_a_typed_error_and_restart_loses_nothing_acknowledged(
    own_redis: RedisServer, model: Any
) -> None:
    registry = Registry(RedisStore.from_url(own_redis.url(timeout=TIMEOUT_S), load_settings()))
    for _ in range(3):
        registry.register(model, "churn")
    registry.promote("churn", 2, "production")
    own_redis.stop()
    assert _within_deadline(lambda: registry.register(model, "churn")) < TIMEOUT_S + 1
    assert _within_deadline(lambda: registry.load_model("churn")) < TIMEOUT_S + 1
    own_redis.start()
    assert [v.version for v in registry.model_versions("churn")] == [1, 2, 3]
    assert registry.get("churn", stage="production").version == 2
    assert registry.register(model, "churn").version == 4
    registry.store.close()


@pytest.mark.timeout(30)
def test_unreachable_redis_at_open_is_a_typed_error(tmp_path: Path) -> None:
    from tests.redis_server import free_port

    url = f"redis://127.0.0.1:{free_port()}/0?timeout={TIMEOUT_S}"
    assert _within_deadline(lambda: RedisStore.from_url(url, load_settings())) < TIMEOUT_S + 1


def test_every_redis_error_is_translated() -> None:
    """Any redis-py exception, current or future, leaves the store as a workbench error."""
    import redis.exceptions as rexc

    store = RedisConnection(f"redis://127.0.0.1:1/0?timeout={TIMEOUT_S}")
    classes = [c for c in vars(rexc).values() if isinstance(c, type) and issubclass(c, rexc.RedisError)]
    assert len(classes) > 20
    for cls in classes:

        def fail(cls: type[Exception] = cls) -> None:
            raise cls("1 127.0.0.1:7000")

        with pytest.raises(StoreError) as info:
            store.call(fail)
        assert isinstance(info.value.__cause__, cls)
        if issubclass(cls, rexc.ConnectionError | rexc.TimeoutError):
            assert isinstance(info.value, StoreUnavailableError)
    store.close()
