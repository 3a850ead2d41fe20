"""The prediction log: every served prediction, the feedback labels joined to it, live metrics and drift.

It lives in the store the registry uses, so every server process (``--workers``, several
machines on one Redis) writes to and reads from the same log: feedback for a prediction
answered by any process joins, and survives a restart.

- ``WORKBENCH_STORE=redis://...``: Redis, under the store URL's key prefix (see below).
- anything else (``local``, ``memory``, a plugin's): SQLite in WAL mode at
  ``<home>/serving/predictions.sqlite3``, shared by the processes of one machine.

Retention (:class:`Retention`, from ``[tool.workbench.serving]``): the newest
``log_max_predictions`` predictions no older than ``log_max_age_seconds``; per
(model, version, arm) the newest ``log_max_labels`` labelled pairs (the largest live
window), no older than the same age; per (model, version) the newest ``drift_rows`` input
rows for drift. A label for an evicted or unknown request id counts as unknown; each
request id is labelled once, later labels count as duplicates.

Serving never writes here on the request path: :class:`~workbench.serving.logwriter.LogWriter`
buffers records and writes them in batches from a background thread. Redis keys
(:mod:`workbench.serving.predlog_redis`), all under
``<prefix>:predlog:``::

    schema                      layout version
    p:<request_id>              JSON [name, version, arm, prediction, at, latency_ms, features_sha256], TTL max age
    l:<request_id>              labelled marker (SET NX), TTL max age
    order                       sorted set of logged request ids by time (count bound)
    t:<name>:<version>:<arm>    sorted set "<id> <latency_ms>" by time (traffic), TTL max age
    labels:<name>:<version>:<arm>  list of JSON [label, prediction, labelled_at], newest first, LTRIM'd
    f:<name>:<version>          list of JSON input rows, newest first, LTRIM'd, TTL max age
    groups                      set of JSON [name, version, arm] that were ever logged
    counts                      hash "<name>:accepted|unknown|duplicate" -> feedback totals
"""

from __future__ import annotations

import json
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench.config import Settings, load_settings
from workbench.errors import ConfigError, StoreUnavailableError
from workbench.registry.version import ModelVersion
from workbench.serving.drift import feature_psi
from workbench.serving.feedback import Confusion, FeedbackResult, label_text
from workbench.sqlite_db import SqliteDatabase

SCHEMA_VERSION = 1
DEFAULT_WINDOW = 1000
FEEDBACK_KINDS = ("accepted", "unknown", "duplicate")

Group = tuple[str, int, str]


@dataclass(frozen=True)
class Retention:
    """How much the log keeps; see the module docstring."""

    max_predictions: int = 100_000
    max_age_s: float = 7 * 86_400.0
    max_labels: int = 10_000
    drift_rows: int = 5_000

    def __post_init__(self) -> None:
        for key in ("max_predictions", "max_labels", "drift_rows"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"prediction log {key} must be a positive integer, not {value!r}")
        if isinstance(self.max_age_s, bool) or not isinstance(self.max_age_s, int | float) or not self.max_age_s >= 1:
            raise ConfigError(f"prediction log max age must be at least 1 second, not {self.max_age_s!r}")

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        """Retention from ``[tool.workbench.serving]`` (``log_max_predictions``, ``log_max_age_seconds``,
        ``log_max_labels``, ``drift_rows``); defaults for the keys not given."""
        table = settings.section("serving")
        keys = {
            "log_max_predictions": "max_predictions",
            "log_max_age_seconds": "max_age_s",
            "log_max_labels": "max_labels",
            "drift_rows": "drift_rows",
        }
        return cls(**{field: table[key] for key, field in keys.items() if key in table})

    @property
    def ttl(self) -> int:
        """The max age in whole seconds, for Redis key expiry."""
        return max(1, math.ceil(self.max_age_s))


@dataclass(frozen=True)
class PredictionRecord:
    """One answered row: its request id, who answered (model, version, arm), what, when and how fast.

    ``features_sha256`` identifies the input row (SHA-256 of its float64 values);
    ``at`` is Unix time; ``latency_ms`` the time the whole request took to predict.
    """

    request_id: str
    name: str
    version: int
    arm: str
    features_sha256: str
    prediction: Any
    at: float
    latency_ms: float


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


class PredictionLog(ABC):
    """Where predictions and feedback live; backends implement the primitives, reports are built here."""

    def __init__(self, retention: Retention, reference: Reference) -> None:
        self.retention = retention
        self._reference = reference
        self._versions: dict[tuple[str, int], ModelVersion] = {}
        self._on_close: list[Callable[[], None]] = []

    # -- primitives ---------------------------------------------------------------------

    @abstractmethod
    def append(self, records: Sequence[PredictionRecord]) -> None:
        """Log ``records`` (a request id already logged is kept as it was), then apply the retention.

        Raises :class:`StoreUnavailableError` when the store cannot be reached; nothing is then logged.
        """

    @abstractmethod
    def observe_features(self, name: str, version: int, rows: Sequence[Sequence[float]]) -> None:
        """Keep input rows answered by ``version`` of ``name`` (in its feature order) for :meth:`drift`."""

    @abstractmethod
    def label(self, name: str, pairs: Iterable[tuple[str, Any]]) -> FeedbackResult:
        """Join ``(request_id, true label)`` pairs of model ``name`` to logged predictions, atomically.

        An id not logged (or evicted, or logged for another model) is unknown; an id
        already labelled (by any process) is a duplicate and changes nothing.
        """

    @abstractmethod
    def feedback_counts(self) -> dict[tuple[str, str], int]:
        """Feedback totals by (model, kind), kind one of accepted, unknown, duplicate."""

    @abstractmethod
    def _labelled(self, name: str | None, window: int, since: float) -> dict[Group, list[tuple[str, str, float]]]:
        """Per group, its newest ``window`` (truth, prediction, labelled_at) labelled after ``since``, newest first."""

    @abstractmethod
    def _latencies(self, name: str | None, since: float) -> dict[Group, list[float]]:
        """Per group, the latency (ms) of every row logged at or after ``since``."""

    @abstractmethod
    def _feature_rows(self, name: str, version: int) -> list[list[float]]:
        """The newest input rows observed for ``version`` of ``name``."""

    def close(self) -> None:
        """Release connections (backends extend it); the log must not be used afterwards."""
        while self._on_close:
            self._on_close.pop()()

    # -- reports ------------------------------------------------------------------------

    def live(self, name: str | None = None, *, window: int = DEFAULT_WINDOW) -> list[LiveReport]:
        """Live scores per (name, version, arm) over the newest ``window`` labelled predictions.

        ``window`` is capped at :attr:`Retention.max_labels`; groups without labels are left out.
        """
        window = max(1, min(int(window), self.retention.max_labels))
        since = time.time() - self.retention.max_age_s
        reports = []
        for (model, version, arm), pairs in sorted(self._labelled(name, window, since).items()):
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
        for (model, version, arm), latencies in sorted(self._latencies(name, time.time() - seconds).items()):
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
        rows = self._feature_rows(name, version)
        if not rows:
            return {}
        found = self._versions.get((name, version))
        if found is None:
            found = self._versions[(name, version)] = self._reference(name, version)
        if not found.profile:
            return {}
        names = list(found.feature_names) or [f"x{i}" for i in range(len(rows[0]))]
        return feature_psi(found.profile, names, rows)


def _registry_reference(settings: Settings) -> tuple[Reference, Callable[[], None]]:
    """A version lookup in the registry of ``settings``, opened on first use, and its closer."""
    opened: list[Any] = []
    lock = threading.Lock()

    def lookup(name: str, version: int) -> ModelVersion:
        from workbench.registry.api import open_store

        with lock:
            if not opened:
                opened.append(open_store(settings.store, settings))
        found: ModelVersion = opened[0].get_version(name, version)
        return found

    def close() -> None:
        with lock:
            while opened:
                opened.pop().close()

    return lookup, close


# -- SQLite ---------------------------------------------------------------------------------

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS predictions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        arm TEXT NOT NULL,
        features_sha256 TEXT NOT NULL,
        prediction TEXT NOT NULL,
        at REAL NOT NULL,
        latency_ms REAL NOT NULL,
        labelled INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS predictions_at ON predictions (at)",
    """CREATE TABLE IF NOT EXISTS labels (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        arm TEXT NOT NULL,
        truth TEXT NOT NULL,
        predicted TEXT NOT NULL,
        at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS labels_group ON labels (name, version, arm, seq)",
    """CREATE TABLE IF NOT EXISTS feature_rows (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        at REAL NOT NULL,
        row TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS feature_rows_group ON feature_rows (name, version, seq)",
    """CREATE TABLE IF NOT EXISTS feedback_counts (
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (name, kind)
    )""",
)


class LocalPredictionLog(PredictionLog):
    """SQLite (WAL) in one folder; safe for many processes of one machine."""

    def __init__(self, folder: Path, retention: Retention, reference: Reference) -> None:
        super().__init__(retention, reference)
        self.path = folder / "predictions.sqlite3"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(f"cannot create the prediction log in {folder}: {exc}") from exc
        self.db = SqliteDatabase(
            self.path,
            what=f"the prediction log {self.path}",
            schema=_SCHEMA,
            version=SCHEMA_VERSION,
            synchronous="NORMAL",
            busy_timeout=30.0,
        )

    def append(self, records: Sequence[PredictionRecord]) -> None:
        if not records:
            return
        rows = [
            (r.request_id, r.name, r.version, r.arm, r.features_sha256, label_text(r.prediction), r.at, r.latency_ms)
            for r in records
        ]
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO predictions (request_id, name, version, arm, features_sha256, prediction, at, "
                "latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute("DELETE FROM predictions WHERE at < ?", (time.time() - self.retention.max_age_s,))
            conn.execute(
                "DELETE FROM predictions WHERE seq <= (SELECT MAX(seq) FROM predictions) - ?",
                (self.retention.max_predictions,),
            )

    def observe_features(self, name: str, version: int, rows: Sequence[Sequence[float]]) -> None:
        if not rows:
            return
        now = time.time()
        kept = self.retention.drift_rows
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO feature_rows (name, version, at, row) VALUES (?, ?, ?, ?)",
                [(name, version, now, json.dumps([float(x) for x in row])) for row in rows[-kept:]],
            )
            conn.execute(
                "DELETE FROM feature_rows WHERE name = ? AND version = ? AND (at < ? OR seq <= (SELECT seq FROM "
                "feature_rows WHERE name = ? AND version = ? ORDER BY seq DESC LIMIT 1 OFFSET ?))",
                (name, version, now - self.retention.max_age_s, name, version, kept),
            )

    def label(self, name: str, pairs: Iterable[tuple[str, Any]]) -> FeedbackResult:
        counts = dict.fromkeys(FEEDBACK_KINDS, 0)
        now = time.time()
        touched: set[Group] = set()
        with self.db.transaction() as conn:
            for request_id, label in pairs:
                found = conn.execute(
                    "SELECT name, version, arm, prediction, labelled FROM predictions WHERE request_id = ?",
                    (request_id,),
                ).fetchone()
                if found is None or found[0] != name:
                    counts["unknown"] += 1
                    continue
                if found[4]:
                    counts["duplicate"] += 1
                    continue
                conn.execute("UPDATE predictions SET labelled = 1 WHERE request_id = ?", (request_id,))
                conn.execute(
                    "INSERT INTO labels (name, version, arm, truth, predicted, at) VALUES (?, ?, ?, ?, ?, ?)",
                    (name, found[1], found[2], label_text(label), found[3], now),
                )
                touched.add((name, found[1], found[2]))
                counts["accepted"] += 1
            for group in touched:
                conn.execute(
                    "DELETE FROM labels WHERE name = ? AND version = ? AND arm = ? AND (at < ? OR seq <= (SELECT seq "
                    "FROM labels WHERE name = ? AND version = ? AND arm = ? ORDER BY seq DESC LIMIT 1 OFFSET ?))",
                    (*group, now - self.retention.max_age_s, *group, self.retention.max_labels),
                )
            conn.executemany(
                "INSERT INTO feedback_counts (name, kind, n) VALUES (?, ?, ?) "
                "ON CONFLICT (name, kind) DO UPDATE SET n = n + excluded.n",
                [(name, kind, n) for kind, n in counts.items() if n],
            )
        return FeedbackResult(counts["accepted"], counts["unknown"], counts["duplicate"])

    def feedback_counts(self) -> dict[tuple[str, str], int]:
        return {(name, kind): int(n) for name, kind, n in self.db.query("SELECT name, kind, n FROM feedback_counts")}

    def _labelled(self, name: str | None, window: int, since: float) -> dict[Group, list[tuple[str, str, float]]]:
        where, params = ("WHERE name = ?", [name]) if name is not None else ("", [])
        groups = self.db.query(f"SELECT DISTINCT name, version, arm FROM labels {where}", params)
        found: dict[Group, list[tuple[str, str, float]]] = {}
        for model, version, arm in groups:
            rows = self.db.query(
                "SELECT truth, predicted, at FROM labels WHERE name = ? AND version = ? AND arm = ? AND at >= ? "
                "ORDER BY seq DESC LIMIT ?",
                (model, version, arm, since, window),
            )
            found[(model, int(version), arm)] = [(t, p, float(at)) for t, p, at in rows]
        return found

    def _latencies(self, name: str | None, since: float) -> dict[Group, list[float]]:
        where, params = ("AND name = ?", [since, name]) if name is not None else ("", [since])
        found: dict[Group, list[float]] = {}
        for model, version, arm, latency in self.db.query(
            f"SELECT name, version, arm, latency_ms FROM predictions WHERE at >= ? {where}", params
        ):
            found.setdefault((model, int(version), arm), []).append(float(latency))
        return found

    def _feature_rows(self, name: str, version: int) -> list[list[float]]:
        rows = self.db.query(
            "SELECT row FROM feature_rows WHERE name = ? AND version = ? AND at >= ? ORDER BY seq DESC LIMIT ?",
            (name, version, time.time() - self.retention.max_age_s, self.retention.drift_rows),
        )
        return [json.loads(row) for (row,) in rows]

    def close(self) -> None:
        self.db.close()
        super().close()


def open_prediction_log(
    settings: Settings | None = None, *, retention: Retention | None = None, reference: Reference | None = None
) -> PredictionLog:
    """The prediction log beside the registry of ``settings`` (default: :func:`load_settings`).

    ``retention`` defaults to ``[tool.workbench.serving]``; ``reference`` looks up registered
    versions for drift (default: the registry of ``settings``, opened on first use).
    """
    settings = settings or load_settings()
    retention = retention or Retention.from_settings(settings)
    closer: Callable[[], None] | None = None
    if reference is None:
        reference, closer = _registry_reference(settings)
    opened: PredictionLog
    if settings.store.startswith(("redis://", "rediss://")):
        from workbench.serving.predlog_redis import RedisPredictionLog

        opened = RedisPredictionLog(settings.store, retention, reference)
    else:
        opened = LocalPredictionLog(settings.home / "serving", retention, reference)
    if closer is not None:
        opened._on_close.append(closer)
    return opened


__all__ = [
    "DEFAULT_WINDOW",
    "LiveReport",
    "LocalPredictionLog",
    "PredictionLog",
    "PredictionRecord",
    "Retention",
    "TrafficReport",
    "open_prediction_log",
]
