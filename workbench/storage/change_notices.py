"""Change notices: a store that can tell readers "a model's stages changed" as it happens.

Serving replicas poll the registry every ``--reload-seconds``; a backend that can push a
notice (Redis pub/sub) lets them look at once instead, so a promotion reaches every replica
in milliseconds, with the poll as the fallback for a notice lost to a dropped connection.
A backend without notices returns ``None`` from :meth:`ModelStore.watch` and readers poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("workbench.storage")

RECONNECT_S = 1.0
"""Pause before subscribing again after the connection to the store dropped."""


class ChangeWatch(Protocol):
    """A subscription started by :meth:`ModelStore.watch`; :meth:`close` ends it."""

    def close(self) -> None: ...


class RedisChangeWatch:
    """Calls ``on_change(name)`` from a daemon thread for every notice published on ``channel``.

    After (re)subscribing it calls ``on_change(None)`` once, as notices published while it
    was not subscribed are lost: the reader looks at everything then.
    """

    def __init__(self, client: object, channel: str, on_change: Callable[[str | None], None]) -> None:
        self.client = client
        self.channel = channel
        self.on_change = on_change
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="workbench-change-notices", daemon=True)
        self._thread.start()

    def wait_subscribed(self, seconds: float) -> bool:
        """True once the subscription is live (tests and benchmarks wait for it)."""
        return self._subscribed.wait(seconds)

    def _listen(self) -> None:
        while not self._stop.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[attr-defined]
            try:
                pubsub.subscribe(self.channel)
                self._subscribed.set()
                self.on_change(None)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None and message.get("type") == "message":
                        data = message["data"]
                        self.on_change(data.decode() if isinstance(data, bytes) else str(data))
            except Exception as exc:  # a dropped connection: the poll covers the gap, resubscribe
                self._subscribed.clear()
                log.warning("change notices interrupted (%s); subscribing again in %g s", exc, RECONNECT_S)
                self._stop.wait(RECONNECT_S)
            finally:
                try:
                    pubsub.close()
                except Exception:  # closing a broken connection may raise again; nothing to do
                    log.debug("closing the notice subscription failed", exc_info=True)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


__all__ = ["RECONNECT_S", "ChangeWatch", "RedisChangeWatch"]
