"""What every front end (HTTP, Thrift) calls: pick the version, check the rows, predict, log, count.

A front end only decodes its wire format into the plain body the JSON API takes
(``{"instances": ...}`` or ``{"records": ...}``; ``{"request_ids": ..., "labels": ...}``)
and encodes the answer back, so both protocols refuse the same inputs with the same
messages and give identical predictions for the same rows.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from workbench.errors import BadInputError, ServingError
from workbench.serving.factory import ModelFactory, ServedModel
from workbench.serving.feedback import FeedbackResult, LiveMetrics, label_text
from workbench.serving.inputs import feedback_pairs, prediction_rows
from workbench.serving.metrics import ServingMetrics

log = logging.getLogger("workbench.serving")


@dataclass(frozen=True)
class ServeConfig:
    """Limits and secrets of one server: body bytes, rows per request, the write token, log size."""

    token: str
    max_body: int = 1_048_576
    max_rows: int = 1_000
    reload_seconds: float = 2.0
    log_capacity: int = 100_000


@dataclass
class Observation:
    """The model and version a request resolved to, filled in by the route as it learns them."""

    model: str = ""
    version: str = ""


class PredictionService:
    """The models of ``factory`` behind the checks, logging and counters shared by every protocol."""

    def __init__(self, factory: ModelFactory, config: ServeConfig) -> None:
        self.factory = factory
        self.config = config
        self.live = LiveMetrics(config.log_capacity)
        self.counters = ServingMetrics()

    @contextmanager
    def observed(self, route: str) -> Iterator[Observation]:
        """Count one request of ``route``: its status (200, or the refusal's) and its duration."""
        started = time.perf_counter()
        seen = Observation()
        try:
            yield seen
        except ServingError as exc:
            elapsed = time.perf_counter() - started
            self.counters.observe(route, seen.model, seen.version, int(exc.status), elapsed, type(exc).__name__)
            raise
        self.counters.observe(route, seen.model, seen.version, 200, time.perf_counter() - started)

    def model(self, name: str, seen: Observation | None = None) -> ServedModel:
        """The version answering for ``name`` now (:class:`ModelNotServedError` when none)."""
        served = self.factory.get(name)
        if seen is not None:
            seen.model, seen.version = served.version.name, str(served.version.version)
        return served

    def predict(self, served: ServedModel, body: Any) -> dict[str, Any]:
        """Predictions, probabilities and a request id per row of ``body``, all from ``served``.

        Blocking (the model runs here): async front ends call it in a worker thread.
        """
        rows = prediction_rows(body, served.shape, self.config.max_rows)
        try:
            predictions, probabilities = served.predict(rows)
        except (ValueError, TypeError) as exc:
            log.warning("%s v%s refused a request: %s", served.version.name, served.version.version, exc)
            raise BadInputError("the model refused these rows; check them against GET /v1/models/NAME") from None
        ids = [uuid.uuid4().hex for _ in predictions]
        self.live.log(served.version.name, served.version.version, zip(ids, predictions, strict=True))
        return {
            "model": served.version.name,
            "version": served.version.version,
            "predictions": predictions,
            "probabilities": probabilities,
            "request_ids": ids,
        }

    def feedback(self, served: ServedModel, body: Any) -> FeedbackResult:
        """Join the true labels in ``body`` to earlier predictions of ``served``'s model."""
        pairs = feedback_pairs(body, self.config.max_rows)
        _check_labels(served, pairs)
        return self.live.feedback(served.version.name, pairs)


def _check_labels(served: ServedModel, pairs: list[tuple[str, Any]]) -> None:
    """Refuse labels that are not classes of the model: a typo would silently skew the live metrics."""
    classes = {label_text(c) for c in served.version.classes}
    if not classes:
        return
    for i, (_, label) in enumerate(pairs):
        if label_text(label) not in classes:
            shown = ", ".join(sorted(classes)[:20])
            raise BadInputError(f"labels[{i}] is not a class of the model; its classes are {shown}")


__all__ = ["Observation", "PredictionService", "ServeConfig"]
