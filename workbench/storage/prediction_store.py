"""The prediction store's contract: every served prediction, the feedback labels joined to it,
and input rows kept for drift; the records it carries.

Every server process (``--workers``, several machines on one Redis) writes to and reads
from the same store of its place, so feedback for a prediction answered by any process
joins, and survives a restart. The figures built on it (live precision and recall,
traffic, drift) are the serving side's (:mod:`workbench.serving.predlog`).

Retention (:class:`Retention`, from ``[tool.workbench.serving]``): the newest
``log_max_predictions`` predictions no older than ``log_max_age_seconds``; per
(model, version, arm) the newest ``log_max_labels`` labelled pairs (the largest live
window), no older than the same age; per (model, version) the newest ``drift_rows`` input
rows for drift, of which serving keeps a ``drift_sample`` share of the rows it answers.
A label for an evicted or unknown request id counts as unknown; each
request id is labelled once, later labels count as duplicates.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.config import Settings
from workbench.errors import ConfigError
from workbench.storage.replica_records import ReplicaReport

SCHEMA_VERSION = 2  # 2: replica reports
FEEDBACK_KINDS = ("accepted", "unknown", "duplicate")

Group = tuple[str, int, str]
"""(model name, version, arm): the unit live figures are kept for."""

Labelled = tuple[str, str, float]
"""(true label, predicted label, labelled at), labels as :func:`label_text` gives them."""


@dataclass(frozen=True)
class Retention:
    """How much the store keeps; see the module docstring."""

    max_predictions: int = 100_000
    max_age_s: float = 7 * 86_400.0
    max_labels: int = 10_000
    drift_rows: int = 5_000
    drift_sample: float = 0.25

    def __post_init__(self) -> None:
        for key in ("max_predictions", "max_labels", "drift_rows"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"prediction log {key} must be a positive integer, not {value!r}")
        share = self.drift_sample
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            raise ConfigError(f"drift_sample must be a share of rows in (0, 1], not {share!r}")
        if isinstance(self.max_age_s, bool) or not isinstance(self.max_age_s, int | float) or not self.max_age_s >= 1:
            raise ConfigError(f"prediction log max age must be at least 1 second, not {self.max_age_s!r}")

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        """Retention from ``[tool.workbench.serving]`` (``log_max_predictions``, ``log_max_age_seconds``,
        ``log_max_labels``, ``drift_rows``, ``drift_sample``); defaults for the keys not given."""
        table = settings.section("serving")
        keys = {
            "log_max_predictions": "max_predictions",
            "log_max_age_seconds": "max_age_s",
            "log_max_labels": "max_labels",
            "drift_rows": "drift_rows",
            "drift_sample": "drift_sample",
        }
        return cls(**{field: table[key] for key, field in keys.items() if key in table})

    @property
    def ttl(self) -> int:
        """The max age in whole seconds, for key expiry."""
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
class FeedbackResult:
    """What a feedback call did: labels scored, ids not in the log (or not of that model), ids already labelled."""

    accepted: int
    unknown: int
    duplicate: int


def label_text(value: Any) -> str:
    """Labels compared as text, so a JSON ``1`` matches the class ``1`` whatever its numpy type."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class PredictionStore(ABC):
    """Where predictions, their labels and drift inputs live.

    Every method raises :class:`StorageUnavailableError` when the backend cannot be reached;
    a failed write then writes nothing.
    """

    def __init__(self, retention: Retention) -> None:
        self.retention = retention

    @abstractmethod
    def append(self, records: Sequence[PredictionRecord]) -> None:
        """Log ``records`` (a request id already logged is kept as it was), then apply the retention."""

    @abstractmethod
    def observe_features(self, name: str, version: int, rows: Sequence[Sequence[float]]) -> None:
        """Keep input rows answered by ``version`` of ``name`` (in its feature order) for drift."""

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
    def labelled(self, name: str | None, window: int, since: float) -> dict[Group, list[Labelled]]:
        """Per group (of model ``name``, or all), its newest ``window`` labels given after ``since``, newest first."""

    @abstractmethod
    def latencies(self, name: str | None, since: float) -> dict[Group, list[float]]:
        """Per group, the latency (ms) of every row logged at or after ``since``."""

    @abstractmethod
    def feature_rows(self, name: str, version: int) -> list[list[float]]:
        """The newest input rows observed for ``version`` of ``name``, within the retention."""

    @abstractmethod
    def report_replica(self, report: ReplicaReport, ttl: float) -> None:
        """Keep ``report`` (replacing that replica's previous one) for ``ttl`` seconds."""

    @abstractmethod
    def replicas(self) -> list[ReplicaReport]:
        """Every replica report still within its time to live, by replica name."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the store must not be used afterwards."""


__all__ = [
    "FEEDBACK_KINDS",
    "SCHEMA_VERSION",
    "FeedbackResult",
    "Group",
    "Labelled",
    "PredictionRecord",
    "PredictionStore",
    "Retention",
    "label_text",
]
