"""This serving process as one replica among many: its name, its traffic, its reports.

Every ``workbench serve`` process counts the rows it answers per version
(:class:`TrafficCounter`, on the request path: one lock, one addition) and a
:class:`ReplicaReporter` thread writes a :class:`~workbench.storage.replica_records.ReplicaReport`
to the prediction store every :data:`REPORT_SECONDS` (kept :data:`REPORT_TTL` seconds), so
the dashboard shows every replica on the store: the versions it answers with and its rows
per minute, beside the combined live figures of the shared prediction log.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter, deque

from workbench.errors import WorkbenchError
from workbench.serving.factory import ModelFactory
from workbench.storage.prediction_store import PredictionStore
from workbench.storage.replica_records import ReplicaReport, check_replica

log = logging.getLogger("workbench.serving")

REPORT_SECONDS = 1.0
REPORT_TTL = 5.0
"""A replica that stopped reporting this long ago (killed, cut off) leaves the dashboard."""
MINUTE = 60.0


def replica_name(name: str | None = None, *, per_process: bool = False) -> str:
    """``name`` (``--replica-name``), else ``host:pid``; with ``per_process`` (``--workers``) ``name:pid``."""
    if name is None:
        return f"{socket.gethostname()}:{os.getpid()}"
    return check_replica(f"{name}:{os.getpid()}" if per_process else name)


class TrafficCounter:
    """Rows answered per (model, version) since start, and per model over the last minute."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: Counter[tuple[str, int]] = Counter()
        self._recent: deque[tuple[float, str, int]] = deque()

    def add(self, name: str, version: int, rows: int) -> None:
        now = time.monotonic()
        with self._lock:
            self._rows[(name, version)] += rows
            self._recent.append((now, name, rows))

    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        """(``"<model> v<version>"`` -> rows since start, model -> rows in the last minute)."""
        cutoff = time.monotonic() - MINUTE
        with self._lock:
            while self._recent and self._recent[0][0] < cutoff:
                self._recent.popleft()
            totals = {f"{name} v{version}": n for (name, version), n in sorted(self._rows.items())}
            minute: Counter[str] = Counter()
            for _, name, n in self._recent:
                minute[name] += n
        return totals, dict(sorted(minute.items()))


class ReplicaReporter:
    """Writes this replica's report every ``every`` seconds in a daemon thread, until :meth:`stop`."""

    def __init__(
        self,
        replica: str,
        factory: ModelFactory,
        traffic: TrafficCounter,
        store: PredictionStore,
        *,
        every: float = REPORT_SECONDS,
        ttl: float = REPORT_TTL,
    ) -> None:
        self.replica = check_replica(replica)
        self.factory = factory
        self.traffic = traffic
        self.store = store
        self.every = every
        self.ttl = ttl
        self.started_at = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def report(self) -> ReplicaReport:
        """Build and write one report now (raises the store's error)."""
        rows, last_minute = self.traffic.snapshot()
        routes = self.factory.routes()
        report = ReplicaReport(
            replica=self.replica,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=self.started_at,
            seen_at=time.time(),
            serving={r.name: r.production.version.version for r in routes},
            challengers={r.name: r.challenger.version.version for r in routes if r.challenger is not None},
            rows=rows,
            rows_last_minute=last_minute,
        )
        self.store.report_replica(report, self.ttl)
        return report

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="workbench-replica-report", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.report()
            except WorkbenchError as exc:  # an outage: the dashboard shows this replica again once it passes
                log.warning("replica report not written: %s", exc)
            except Exception:
                log.exception("replica report failed; retrying in %g s", self.every)
            if self._stop.wait(self.every):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


__all__ = ["REPORT_SECONDS", "REPORT_TTL", "ReplicaReporter", "TrafficCounter", "replica_name"]
