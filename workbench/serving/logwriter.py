"""The prediction log's writer: requests append to a buffer, a background thread writes batches.

A predict must never wait for the store, and a store outage must not fail it: see
:class:`LogWriter` for the batching, retry and drop rules.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from workbench.errors import WorkbenchError
from workbench.serving.predlog import PredictionLog, PredictionRecord

log = logging.getLogger("workbench.serving")

DRIFT_SAMPLE = 64
"""Input rows kept for drift per version and write (about every 50 ms under load)."""


@dataclass(frozen=True)
class WriterStats:
    """What the writer did: rows written, rows dropped (store unreachable too long), rows waiting, health."""

    written: int
    dropped: int
    pending: int
    healthy: bool


class LogWriter:
    """Buffers prediction records and input rows; a daemon thread writes them to the log in batches.

    A request only appends to the buffer. The thread writes every ``interval`` seconds, or
    as soon as ``batch`` records wait. A write that fails (store unreachable) is kept and
    retried; while the buffer holds more than ``max_pending`` records the oldest are
    dropped and counted. :meth:`flush` writes everything now (feedback calls it so that
    labels join predictions still buffered); :meth:`close` flushes and stops the thread.
    """

    def __init__(
        self, target: PredictionLog, *, interval: float = 0.05, batch: int = 500, max_pending: int = 100_000
    ) -> None:
        self.target = target
        self.interval = interval
        self.batch = batch
        self.max_pending = max_pending
        self._records: deque[PredictionRecord] = deque()
        self._features: deque[tuple[str, int, list[list[float]]]] = deque()
        self._feature_rows = 0
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.written = 0
        self._in_flight = 0  # records taken from the buffer by a write not yet finished
        self.dropped = 0
        self.healthy = True

    def add(self, records: Sequence[PredictionRecord], name: str, version: int, rows: list[list[float]]) -> None:
        """Queue ``records`` and the input ``rows`` answered by ``version`` of ``name``; never blocks on the store."""
        with self._cond:
            self._records.extend(records)
            self._features.append((name, version, rows))
            self._feature_rows += len(rows)
            while len(self._records) > self.max_pending:
                self._records.popleft()
                self.dropped += 1
            while self._feature_rows > self.max_pending and len(self._features) > 1:
                self._feature_rows -= len(self._features.popleft()[2])
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="workbench-prediction-log", daemon=True)
                self._thread.start()
            if len(self._records) >= self.batch:
                self._cond.notify()

    def stats(self) -> WriterStats:
        """Counts of this process's writer, for ``/metrics``."""
        with self._cond:
            return WriterStats(self.written, self.dropped, len(self._records) + self._in_flight, self.healthy)

    def flush(self) -> None:
        """Write everything buffered now; raises the store's error when it cannot (the rows stay queued)."""
        while self._write_once():
            pass

    def _write_once(self) -> bool:
        """Write one batch; True when more may wait. Raises the store's error, keeping the batch queued."""
        with self._write_lock:
            with self._cond:
                records = [self._records.popleft() for _ in range(min(self.batch, len(self._records)))]
                self._in_flight = len(records)
                features = list(self._features)
                self._features.clear()
                self._feature_rows = 0
            if not records and not features:
                return False
            try:
                self.target.append(records)
            except BaseException:
                with self._cond:
                    self._in_flight = 0
                    self._records.extendleft(reversed(records))
                    self._features.extendleft(reversed(features))
                    self._feature_rows += sum(len(rows) for _, _, rows in features)
                self._mark(False)
                raise
            # healthy before the batch stops counting as pending: a reader never sees it written but unhealthy
            self._mark(True)
            with self._cond:
                self.written += len(records)
                self._in_flight = 0
            try:
                for name, version, rows in _merged(features):
                    self.target.observe_features(name, version, rows)
            except WorkbenchError as exc:
                # input rows only feed drift estimates: losing a batch of them skews nothing, so no retry
                log.warning("prediction log: %d input rows for drift not kept: %s", len(features), exc)
            with self._cond:
                return bool(self._records)

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
                lost = len(self._records)
                self.dropped += lost
                self._records.clear()
                self._features.clear()
            log.error("prediction log: %d predictions were not logged at shutdown: %s", lost, exc)


def _merged(
    features: Iterable[tuple[str, int, list[list[float]]]], sample: int = DRIFT_SAMPLE
) -> list[tuple[str, int, list[list[float]]]]:
    """The input rows of each version, at most ``sample`` of them drawn at random (order kept).

    Drift compares distributions, which a uniform sample estimates as well as every row;
    storing every input row of a busy server cost as much CPU as answering it.
    """
    by_version: dict[tuple[str, int], list[list[float]]] = {}
    for name, version, rows in features:
        by_version.setdefault((name, version), []).extend(rows)
    merged = []
    for (name, version), rows in by_version.items():
        if len(rows) > sample:
            rows = [rows[i] for i in sorted(random.sample(range(len(rows)), sample))]
        merged.append((name, version, rows))
    return merged


__all__ = ["LogWriter", "WriterStats"]
