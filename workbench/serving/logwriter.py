"""The prediction log's writer: requests append to a buffer, a background thread writes batches.

A predict must never wait for the store, and a store outage must not fail it: see
:class:`LogWriter` for the batching, retry and drop rules. A request appends its whole
answer as one entry (:meth:`LogWriter.add_answer`); the per-row records (and the SHA-256
of each input row) are made on the writer's thread, so a request does no per-row work for
the log.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

from workbench.errors import WorkbenchError
from workbench.serving.predlog import PredictionLog
from workbench.storage.prediction_store import PredictionRecord

log = logging.getLogger("workbench.serving")

DRIFT_CAP = 640
"""At most this many input rows kept for drift per version and write (about every 0.5 s), when sampling."""


@dataclass(frozen=True)
class WriterStats:
    """What the writer did: rows written, rows dropped (store unreachable too long), rows waiting, health."""

    written: int
    dropped: int
    pending: int
    healthy: bool


class Answer:
    """One answered request as the log needs it: a record per row is made from it when it is written.

    A plain slotted class, not a dataclass: one is built on the request path of every predict.
    """

    __slots__ = ("arm", "at", "latency_ms", "name", "predictions", "request_ids", "rows", "version")

    def __init__(
        self,
        request_ids: Sequence[str],
        name: str,
        version: int,
        arm: str,
        rows: np.ndarray,
        predictions: Sequence[Any],
        at: float,
        latency_ms: float,
    ) -> None:
        self.request_ids = request_ids
        self.name = name
        self.version = version
        self.arm = arm
        self.rows = rows
        """The input rows (float64), one per request id."""
        self.predictions = predictions
        self.at = at
        self.latency_ms = latency_ms

    def __len__(self) -> int:
        return len(self.request_ids)

    def records(self) -> list[PredictionRecord]:
        """One record per row; ``features_sha256`` is the SHA-256 of the row's little-endian float64 values."""
        raw = np.ascontiguousarray(self.rows, dtype="<f8").tobytes()
        width = len(raw) // len(self.request_ids)
        sha256 = hashlib.sha256
        digests = [sha256(raw[i : i + width]).hexdigest() for i in range(0, len(raw), width)]
        n = len(digests)
        return list(
            map(
                PredictionRecord,
                self.request_ids,
                repeat(self.name, n),
                repeat(self.version, n),
                repeat(self.arm, n),
                digests,
                self.predictions,
                repeat(self.at, n),
                repeat(self.latency_ms, n),
            )
        )

    def features(self) -> tuple[str, int, np.ndarray]:
        """The input rows for drift, and the version that answered them."""
        return self.name, self.version, self.rows

    def without_first(self, n: int) -> Answer:
        return Answer(
            self.request_ids[n:],
            self.name,
            self.version,
            self.arm,
            self.rows[n:],
            self.predictions[n:],
            self.at,
            self.latency_ms,
        )


class _Records:
    """Records given whole (:meth:`LogWriter.add`), with the input rows they answered, in the buffer beside answers."""

    __slots__ = ("given", "name", "rows", "version")

    def __init__(
        self, given: Sequence[PredictionRecord], name: str, version: int, rows: Sequence[Sequence[float]] | np.ndarray
    ) -> None:
        self.given = given
        self.name = name
        self.version = version
        self.rows = rows

    def __len__(self) -> int:
        return len(self.given)

    def records(self) -> list[PredictionRecord]:
        return list(self.given)

    def features(self) -> tuple[str, int, Sequence[Sequence[float]] | np.ndarray]:
        return self.name, self.version, self.rows

    def without_first(self, n: int) -> _Records:
        return _Records(self.given[n:], self.name, self.version, self.rows[n:])


class LogWriter:
    """Buffers prediction records and input rows; a daemon thread writes them to the log in batches.

    A request only appends to the buffer. The thread writes every ``interval`` seconds, or
    as soon as ``batch`` records wait: few large transactions cost the store (SQLite's page
    writes, Redis round trips) far less than many small ones. A write that fails (store unreachable) is kept and
    retried; while the buffer holds more than ``max_pending`` records the oldest are
    dropped and counted. :meth:`flush` writes everything now (feedback calls it so that
    labels join predictions still buffered); :meth:`close` flushes and stops the thread.
    """

    def __init__(
        self, target: PredictionLog, *, interval: float = 0.5, batch: int = 5000, max_pending: int = 100_000
    ) -> None:
        self.target = target
        self.interval = interval
        self.batch = batch
        self.max_pending = max_pending
        self._entries: deque[Answer | _Records] = deque()
        self._pending = 0  # rows in the entries
        self._lock = threading.Lock()  # taken directly on the request path: the condition's methods cost more
        self._cond = threading.Condition(self._lock)
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.written = 0
        self._in_flight = 0  # records taken from the buffer by a write not yet finished
        self.dropped = 0
        self.healthy = True

    def add(self, records: Sequence[PredictionRecord], name: str, version: int, rows: list[list[float]]) -> None:
        """Queue ``records`` and the input ``rows`` answered by ``version`` of ``name``; never blocks on the store."""
        self.add_answer(_Records(records, name, version, rows))

    def add_answer(self, answer: Answer | _Records) -> None:
        """Queue one answered request (its rows are its inputs for drift too); never blocks on the store."""
        with self._lock:
            self._entries.append(answer)
            self._pending += len(answer)
            if self._pending > self.max_pending:
                self._drop_oldest()
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="workbench-prediction-log", daemon=True)
                self._thread.start()
            if self._pending >= self.batch:
                self._cond.notify()

    def _drop_oldest(self) -> None:
        """Drop (and count) the oldest rows beyond ``max_pending``, their drift rows with them; holding the lock."""
        while self._pending > self.max_pending:
            oldest = self._entries[0]
            dropped = min(len(oldest), self._pending - self.max_pending)
            if dropped == len(oldest):
                self._entries.popleft()
            else:
                self._entries[0] = oldest.without_first(dropped)
            self._pending -= dropped
            self.dropped += dropped

    def stats(self) -> WriterStats:
        """Counts of this process's writer, for ``/metrics``."""
        with self._cond:
            return WriterStats(self.written, self.dropped, self._pending + self._in_flight, self.healthy)

    def flush(self) -> None:
        """Write everything buffered now; raises the store's error when it cannot (the rows stay queued)."""
        while self._write_once():
            pass

    def _write_once(self) -> bool:
        """Write one batch; True when more may wait. Raises the store's error, keeping the batch queued."""
        with self._write_lock:
            with self._cond:
                taken: list[Answer | _Records] = []
                while self._entries and (not taken or self._in_flight + len(self._entries[0]) <= self.batch):
                    entry = self._entries.popleft()
                    taken.append(entry)
                    self._in_flight += len(entry)
                self._pending -= self._in_flight
            if not taken:
                return False
            try:
                self.target.append([record for entry in taken for record in entry.records()])
            except BaseException:
                with self._cond:
                    self._pending += self._in_flight
                    self._in_flight = 0
                    self._entries.extendleft(reversed(taken))
                    if self._pending > self.max_pending:
                        self._drop_oldest()
                self._mark(False)
                raise
            # healthy before the batch stops counting as pending: a reader never sees it written but unhealthy
            self._mark(True)
            try:
                for name, version, rows in _merged([e.features() for e in taken], self.target.retention.drift_sample):
                    self.target.observe_features(name, version, rows)
            except WorkbenchError as exc:
                # input rows only feed drift estimates: losing a batch of them skews nothing, so no retry
                log.warning("prediction log: input rows for drift of %d requests not kept: %s", len(taken), exc)
            with self._cond:
                # counted once its drift rows are kept too: a reader that saw it written reads its drift
                self.written += self._in_flight
                self._in_flight = 0
                return bool(self._entries)

    def _mark(self, healthy: bool) -> None:
        if healthy != self.healthy:
            if healthy:
                log.warning("prediction log: writing again")
            else:
                log.error(
                    "prediction log: the store is unreachable; predictions are buffered (up to %d, then the "
                    "oldest are dropped and counted in workbench_predlog_dropped_total)",
                    self.max_pending,
                )
        self.healthy = healthy

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                self._cond.wait(self.interval)
            try:
                self.flush()
            except WorkbenchError:
                time.sleep(self.interval)  # already logged by _mark; retried at the next turn
            except Exception:
                # anything else must not end the writer silently: logging would stop for good
                log.exception("prediction log: write failed; retrying")
                time.sleep(self.interval)

    def close(self) -> None:
        """Stop the thread and write what is left; what cannot be written is dropped, counted and logged."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=30)
        try:
            self.flush()
        except WorkbenchError as exc:
            with self._cond:
                lost = self._pending
                self.dropped += lost
                self._pending = 0
                self._entries.clear()
            log.error("prediction log: %d predictions were not logged at shutdown: %s", lost, exc)


def _merged(
    features: Iterable[tuple[str, int, Sequence[Sequence[float]] | np.ndarray]], share: float
) -> list[tuple[str, int, list[list[float]]]]:
    """The input rows of each version, each kept with probability ``share`` (order kept).

    Drift compares distributions, which a uniform sample estimates as well as every row;
    storing every input row of a busy server cost as much CPU as answering it. Each row is
    drawn on its own, so what is kept does not depend on how requests fell into writes;
    under a sampling ``share`` a write keeps at most :data:`DRIFT_CAP` rows per version,
    which only a very busy server reaches. ``share=1`` keeps every row. The rows of a
    version are joined into one matrix, so the sample is taken and converted in a few calls.
    """
    by_version: dict[tuple[str, int], list[np.ndarray]] = {}
    for name, version, given in features:
        if len(given):
            by_version.setdefault((name, version), []).append(np.asarray(given, dtype=np.float64))
    merged = []
    for (name, version), parts in by_version.items():
        rows = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if share < 1:
            chosen = np.flatnonzero(_RANDOM.random(len(rows)) < share)
            if len(chosen) > DRIFT_CAP:
                chosen = np.sort(_RANDOM.choice(chosen, DRIFT_CAP, replace=False))
            rows = rows[chosen]
        merged.append((name, version, rows.tolist()))
    return merged


_RANDOM = np.random.default_rng()


__all__ = ["Answer", "LogWriter", "WriterStats"]
