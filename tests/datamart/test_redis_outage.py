"""Redis frozen or stopped under the datamart: a typed error within the timeout plus a second,
no hang, and every acknowledged version intact after the server comes back.

Every call needs Redis, including a read of a pinned version whose bytes are in the local
cache: the cache holds bytes by SHA-256, while the version listing (what exists, what was
deleted) lives in Redis alone, so a cached copy is never served for a version the store no
longer lists.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from tests.redis_server import RedisServer
from workbench import datamart
from workbench.errors import StorageUnavailableError

TIMEOUT_S = 1.0


def _fails_in_time(action: Callable[[], Any]) -> None:
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError, match=r"Redis store at 127\.0\.0\.1:\d+/0 did not answer within 1 s"):
        action()
    assert time.monotonic() - started < TIMEOUT_S + 1


def _every_call(stored: Any) -> list[Callable[[], Any]]:
    return [
        lambda: datamart.put("events", pd.DataFrame({"a": [9, 9, 9]})),
        lambda: datamart.get("events"),
        lambda: datamart.get("events", stored.version),  # cached by the earlier read, still refused
        datamart.list,
        lambda: datamart.versions("events"),
        lambda: datamart.info("events"),
        lambda: datamart.delete("events", stored.version),
    ]


def _intact(acknowledged: list[Any]) -> None:
    listed = list(datamart.versions("events"))
    assert [v.version for v in listed] == [v.version for v in acknowledged]
    for version in listed:  # every listed version reads back, its bytes matching their hash
        assert len(datamart.get("events", version.version)) == version.rows


@pytest.mark.timeout(60)
def test_frozen_redis_is_a_typed_error_in_time(redis_store_down_soon: RedisServer) -> None:
    acknowledged = [datamart.put("events", pd.DataFrame({"a": list(range(n))})) for n in (1, 2)]
    datamart.get("events", acknowledged[0].version)
    redis_store_down_soon.signal(signal.SIGSTOP)
    try:
        for action in _every_call(acknowledged[0]):
            _fails_in_time(action)
    finally:
        redis_store_down_soon.signal(signal.SIGCONT)
    _intact(acknowledged)
    assert datamart.put("events", pd.DataFrame({"a": [9, 9, 9]})).rows == 3


@pytest.mark.timeout(60)
def test_stopped_redis_is_a_typed_error_and_restart_loses_nothing(redis_store_down_soon: RedisServer) -> None:
    acknowledged = [datamart.put("events", pd.DataFrame({"a": list(range(n))})) for n in (1, 2)]
    datamart.get("events", acknowledged[0].version)
    redis_store_down_soon.stop()
    for action in _every_call(acknowledged[0]):
        _fails_in_time(action)
    redis_store_down_soon.start()
    _intact(acknowledged)
    assert [v.name for v in datamart.list()] == ["events"]
