"""Change notices: on Redis every stage change reaches a subscriber at once; the other backends
send none and say so (readers poll)."""

from __future__ import annotations

import threading
import time
from typing import Any

from workbench.registry import ModelStore, Registry
from workbench.storage.change_notices import RedisChangeWatch


def test_a_stage_change_is_a_notice_on_redis_and_nothing_elsewhere(store: ModelStore, model: Any) -> None:
    registry = Registry(store)
    seen: list[str | None] = []
    arrived = threading.Event()

    def on_change(name: str | None) -> None:
        seen.append(name)
        if name is not None:
            arrived.set()

    watch = store.watch(on_change)
    if not isinstance(watch, RedisChangeWatch):
        assert watch is None  # no notices: serving polls
        return
    try:
        assert watch.wait_subscribed(10)
        version = registry.register(model, "churn").version
        assert not arrived.wait(0.3)  # registering is no stage change
        started = time.monotonic()
        registry.record_stage("churn", version, "production")
        assert arrived.wait(5), seen
        assert time.monotonic() - started < 1.0
        assert seen[0] is None and seen[-1] == "churn"  # a look at everything once subscribed, then the name
    finally:
        watch.close()
