"""A thread that reads the stores about once a second and publishes a state only when it changed.

The published state is the snapshot plus its freshness: ``ok``, ``starting`` (no read
has succeeded yet) or ``stale`` (the last read failed: the previous data is kept with the
time it went stale, never replaced by zeros). Its fingerprint (SHA-256 of the JSON)
decides whether the live channel pushes anything.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

from workbench.config import Settings
from workbench.dashboard.snapshot import Sources, build_snapshot

log = logging.getLogger("workbench.dashboard")

LIVE_HISTORY = 200
"""Live windows kept per (model, version, arm) for the chart; older ones are dropped."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SnapshotPoller:
    """The dashboard's view of the stores, refreshed every ``interval`` seconds in a daemon thread."""

    def __init__(self, settings: Settings, interval: float = 1.0) -> None:
        self.interval = interval
        self._sources = Sources(settings)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._history: dict[tuple[str, int, str], deque[dict[str, Any]]] = {}
        self._state: dict[str, Any] = {"status": "starting", "updated_at": None, "stale_since": None, "data": None}
        self._fingerprint = ""
        self._body = b""
        self._sequence = 0
        self._publish(dict(self._state))

    def start(self) -> None:
        """Start polling (idempotent): the first read happens before this returns."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name="workbench-dashboard-poller", daemon=True)
        self.poll_once()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        self._sources.close()

    def current(self) -> tuple[int, str, bytes]:
        """The sequence number (grows with each change), fingerprint and JSON body of the state."""
        with self._lock:
            return self._sequence, self._fingerprint, self._body

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll_once()

    def poll_once(self) -> None:
        """Read the stores once and publish the result if it differs from the current state."""
        state = dict(self._state)
        try:
            data = build_snapshot(self._sources)
        # the poller must outlive any failure of a store (an outage, a corrupt row): it shows it as stale
        except Exception as exc:
            log.warning("dashboard: the stores could not be read: %s", exc)
            self._sources.close()
            if state["status"] != "stale":
                state.update(status="stale", stale_since=_now())
            self._publish(state)
            return
        self._add_history(data)
        if data != state["data"] or state["status"] != "ok":
            state.update(status="ok", stale_since=None, data=data, updated_at=_now())
        self._publish(state)

    def _add_history(self, data: dict[str, Any]) -> None:
        """Attach to each version the live windows seen so far (a new point whenever a window moves)."""
        for model in data["models"]:
            for version in model["versions"]:
                points: list[dict[str, Any]] = []
                for report in version["live"]:
                    key = (model["name"], version["version"], str(report.get("arm", "")))
                    kept = self._history.setdefault(key, deque(maxlen=LIVE_HISTORY))
                    point = {k: report.get(k) for k in ("arm", "last_at", "precision", "recall", "n")}
                    if not kept or kept[-1] != point:
                        kept.append(point)
                    points.extend(kept)
                version["live_history"] = points

    def _publish(self, state: dict[str, Any]) -> None:
        ordered = {k: state[k] for k in ("status", "stale_since", "updated_at", "data")}
        fingerprint = hashlib.sha256(json.dumps({**ordered, "updated_at": None}, sort_keys=True).encode()).hexdigest()
        with self._lock:
            if fingerprint == self._fingerprint:
                return
            self._state = state
            self._fingerprint = fingerprint
            self._body = json.dumps({**ordered, "fingerprint": fingerprint}, allow_nan=False).encode()
            self._sequence += 1


__all__ = ["LIVE_HISTORY", "SnapshotPoller"]
