"""The prediction store of the memory backend: the same retention and labelling rules as the
persistent stores, in this process's memory."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from typing import Any

from workbench.storage.prediction_store import (
    FEEDBACK_KINDS,
    FeedbackResult,
    Group,
    Labelled,
    PredictionRecord,
    PredictionStore,
    Retention,
    label_text,
)
from workbench.storage.replica_records import ReplicaReport


class MemoryPredictionStore(PredictionStore):
    """Predictions, labels and drift rows of this process, guarded by one lock; gone when it ends."""

    def __init__(self, retention: Retention) -> None:
        super().__init__(retention)
        self._lock = threading.Lock()
        # request id -> (record, its prediction as text, labelled?), oldest first
        self._predictions: OrderedDict[str, tuple[PredictionRecord, str, bool]] = OrderedDict()
        self._labels: dict[Group, deque[Labelled]] = {}
        self._rows: dict[tuple[str, int], deque[tuple[float, list[float]]]] = {}
        self._counts: dict[tuple[str, str], int] = {}
        self._replicas: dict[str, tuple[ReplicaReport, float]] = {}  # name -> (report, expires at)

    def _evict(self, now: float) -> None:
        """Drop predictions older than the max age, then the first logged beyond the count."""
        oldest = now - self.retention.max_age_s
        for request_id in [rid for rid, (record, _, _) in self._predictions.items() if record.at < oldest]:
            del self._predictions[request_id]
        while len(self._predictions) > self.retention.max_predictions:
            self._predictions.popitem(last=False)

    def append(self, records: Sequence[PredictionRecord]) -> None:
        with self._lock:
            for record in records:
                if record.request_id not in self._predictions:
                    self._predictions[record.request_id] = (record, label_text(record.prediction), False)
            self._evict(time.time())

    def observe_features(self, name: str, version: int, rows: Sequence[Sequence[float]]) -> None:
        now = time.time()
        with self._lock:
            kept = self._rows.setdefault((name, version), deque(maxlen=self.retention.drift_rows))
            kept.extend((now, [float(x) for x in row]) for row in rows[-self.retention.drift_rows :])

    def label(self, name: str, pairs: Iterable[tuple[str, Any]]) -> FeedbackResult:
        counts = dict.fromkeys(FEEDBACK_KINDS, 0)
        now = time.time()
        with self._lock:
            self._evict(now)
            for request_id, truth in pairs:
                found = self._predictions.get(request_id)
                if found is None or found[0].name != name:
                    counts["unknown"] += 1
                    continue
                record, predicted, labelled = found
                if labelled:
                    counts["duplicate"] += 1
                    continue
                self._predictions[request_id] = (record, predicted, True)
                group = (record.name, record.version, record.arm)
                labels = self._labels.setdefault(group, deque(maxlen=self.retention.max_labels))
                labels.appendleft((label_text(truth), predicted, now))
                counts["accepted"] += 1
            for kind, n in counts.items():
                if n:
                    self._counts[(name, kind)] = self._counts.get((name, kind), 0) + n
        return FeedbackResult(counts["accepted"], counts["unknown"], counts["duplicate"])

    def feedback_counts(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)

    def labelled(self, name: str | None, window: int, since: float) -> dict[Group, list[Labelled]]:
        oldest = max(since, time.time() - self.retention.max_age_s)
        with self._lock:
            return {
                group: [pair for pair in list(labels)[:window] if pair[2] >= oldest]
                for group, labels in self._labels.items()
                if name is None or group[0] == name
            }

    def latencies(self, name: str | None, since: float) -> dict[Group, list[float]]:
        found: dict[Group, list[float]] = {}
        with self._lock:
            for record, _, _ in self._predictions.values():
                if record.at >= since and (name is None or record.name == name):
                    found.setdefault((record.name, record.version, record.arm), []).append(record.latency_ms)
        return found

    def feature_rows(self, name: str, version: int) -> list[list[float]]:
        oldest = time.time() - self.retention.max_age_s
        with self._lock:
            rows = list(self._rows.get((name, version), ()))
        return [row for at, row in reversed(rows) if at >= oldest]

    def report_replica(self, report: ReplicaReport, ttl: float) -> None:
        with self._lock:
            self._replicas[report.replica] = (report, time.time() + ttl)

    def replicas(self) -> list[ReplicaReport]:
        now = time.time()
        with self._lock:
            return [report for name, (report, until) in sorted(self._replicas.items()) if until > now]


__all__ = ["MemoryPredictionStore"]
