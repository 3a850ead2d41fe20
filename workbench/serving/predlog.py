"""The prediction log as serving uses it: the settings' prediction store, and the figures built on it.

:class:`PredictionLog` writes through to the store of the storage layer
(:class:`~workbench.storage.prediction_store.PredictionStore`: SQLite for ``local``, Redis,
memory), so every server process (``--workers``, several machines on one Redis) writes
to and reads from the same log, and adds what serving shows: live precision, recall and
F1 per (model, version, arm) from the labelled predictions, traffic and latency, and PSI
drift of the served inputs against the version's registration profile.

Serving never writes here on the request path: :class:`~workbench.serving.logwriter.LogWriter`
buffers records and writes them in batches from a background thread.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from workbench.config import Settings, load_settings
from workbench.serving.drift import feature_psi
from workbench.serving.feedback import Confusion
from workbench.storage import open_storage
from workbench.storage.model_records import ModelVersion
from workbench.storage.prediction_store import FeedbackResult, PredictionRecord, PredictionStore, Retention

DEFAULT_WINDOW = 1000


@dataclass(frozen=True)
class LiveReport:
    """Live scores of one (model, version, arm) over its newest ``n`` labelled predictions (at most ``window``).

    Macro averages over the labels seen (true or predicted) with ``zero_division=0``, as
    ``sklearn.metrics.precision_score(average="macro", zero_division=0)`` gives on the same
    pairs. ``first_at`` / ``last_at``: when the oldest and newest label of the window arrived (ISO, UTC).
    """

    name: str
    version: int
    arm: str
    n: int
    window: int
    precision: float
    recall: float
    f1: float
    first_at: str
    last_at: str


@dataclass(frozen=True)
class TrafficReport:
    """Rows answered by one (model, version, arm) in the last seconds: count, rate, latency percentiles (ms)."""

    name: str
    version: int
    arm: str
    requests: int
    rate_per_s: float
    p50_ms: float
    p99_ms: float


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method) of already sorted values."""
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


Reference = Callable[[str, int], ModelVersion]
"""Looks up a registered version (for its feature profile and names)."""


class PredictionLog:
    """A prediction store and the live figures, traffic and drift built on it.

    ``reference`` looks up registered versions for drift; ``on_close`` releases what the
    opener opened with the store (its storage backend).
    """

    def __init__(
        self, store: PredictionStore, reference: Reference, *, on_close: Callable[[], None] | None = None
    ) -> None:
        self.store = store
        self.retention: Retention = store.retention
        self._reference = reference
        self._versions: dict[tuple[str, int], ModelVersion] = {}
        self._on_close = on_close

    # -- writes, straight to the store ----------------------------------------------------

    def append(self, records: Sequence[PredictionRecord]) -> None:
        """Log ``records``; see :meth:`PredictionStore.append`."""
        self.store.append(records)

    def observe_features(self, name: str, version: int, rows: Sequence[Sequence[float]]) -> None:
        """Keep input rows for drift; see :meth:`PredictionStore.observe_features`."""
        self.store.observe_features(name, version, rows)

    def label(self, name: str, pairs: Iterable[tuple[str, Any]]) -> FeedbackResult:
        """Join feedback labels to logged predictions; see :meth:`PredictionStore.label`."""
        return self.store.label(name, pairs)

    def feedback_counts(self) -> dict[tuple[str, str], int]:
        """Feedback totals by (model, kind)."""
        return self.store.feedback_counts()

    def close(self) -> None:
        """Close the store (with the backend it was opened with); the log must not be used afterwards."""
        if self._on_close is not None:
            self._on_close()
        else:
            self.store.close()

    # -- reports ------------------------------------------------------------------------

    def live(self, name: str | None = None, *, window: int = DEFAULT_WINDOW) -> list[LiveReport]:
        """Live scores per (name, version, arm) over the newest ``window`` labelled predictions.

        ``window`` is capped at :attr:`Retention.max_labels`; groups without labels are left out.
        """
        window = max(1, min(int(window), self.retention.max_labels))
        since = time.time() - self.retention.max_age_s
        reports = []
        for (model, version, arm), pairs in sorted(self.store.labelled(name, window, since).items()):
            if not pairs:
                continue
            confusion = Confusion()
            for truth, predicted, _ in pairs:
                confusion.add(truth, predicted)
            scores = confusion.report()
            times = [at for _, _, at in pairs]
            reports.append(
                LiveReport(
                    name=model,
                    version=version,
                    arm=arm,
                    n=confusion.n,
                    window=window,
                    precision=scores["precision_macro"],
                    recall=scores["recall_macro"],
                    f1=scores["f1_macro"],
                    first_at=_iso(min(times)),
                    last_at=_iso(max(times)),
                )
            )
        return reports

    def traffic(self, name: str | None = None, *, seconds: float = 60.0) -> list[TrafficReport]:
        """Rows answered per (name, version, arm) in the last ``seconds``, their rate and latency p50/p99."""
        if not seconds > 0:
            raise ValueError(f"seconds must be positive, not {seconds!r}")
        reports = []
        for (model, version, arm), latencies in sorted(self.store.latencies(name, time.time() - seconds).items()):
            if not latencies:
                continue
            ordered = sorted(latencies)
            reports.append(
                TrafficReport(
                    name=model,
                    version=version,
                    arm=arm,
                    requests=len(ordered),
                    rate_per_s=len(ordered) / seconds,
                    p50_ms=_percentile(ordered, 0.5),
                    p99_ms=_percentile(ordered, 0.99),
                )
            )
        return reports

    def drift(self, name: str, version: int) -> dict[str, float]:
        """PSI per feature of the newest observed rows of ``version`` against its registration profile.

        Empty when no rows were observed or the version has no profile (registered without
        ``eval_data``). Raises the registry's errors when the version cannot be looked up.
        """
        rows = self.store.feature_rows(name, version)
        if not rows:
            return {}
        found = self._versions.get((name, version))
        if found is None:
            found = self._versions[(name, version)] = self._reference(name, version)
        if not found.profile:
            return {}
        names = list(found.feature_names) or [f"x{i}" for i in range(len(rows[0]))]
        return feature_psi(found.profile, names, rows)


def open_prediction_log(settings: Settings | None = None, *, reference: Reference | None = None) -> PredictionLog:
    """The prediction log of the storage of ``settings`` (default: :func:`load_settings`).

    Retention comes from ``[tool.workbench.serving]``; ``reference`` looks up registered
    versions for drift (default: the model store of the same storage). Closing the log
    closes that storage.
    """
    storage = open_storage(settings or load_settings())
    lookup = reference or (lambda name, version: storage.models.get_version(name, version))
    return PredictionLog(storage.predictions, lookup, on_close=storage.close)


__all__ = [
    "DEFAULT_WINDOW",
    "LiveReport",
    "PredictionLog",
    "PredictionRecord",
    "Retention",
    "TrafficReport",
    "open_prediction_log",
]
