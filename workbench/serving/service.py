"""What every front end (HTTP, Thrift) calls: pick the arm, check the rows, predict, log, count.

A front end only decodes its wire format into the plain body the JSON API takes
(``{"instances": ...}`` or ``{"records": ...}``, optionally ``"routing_key"``;
``{"request_ids": ..., "labels": ...}``) and encodes the answer back, so both protocols
refuse the same inputs with the same messages and give identical predictions for the
same rows.

Predictions are logged without touching the store on the request path: records go to
a :class:`~workbench.serving.predlog.LogWriter` buffer written in batches by a
background thread. Feedback first flushes that buffer, so a label for a prediction
made a millisecond ago still joins.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import BadInputError, ServingError
from workbench.serving.factory import ModelFactory
from workbench.serving.inputs import feedback_pairs, prediction_matrix
from workbench.serving.limits import ConnectionLimits
from workbench.serving.logwriter import Answer, LogWriter
from workbench.serving.metrics import ServingMetrics
from workbench.serving.predlog import PredictionLog, open_prediction_log
from workbench.serving.replicas import ReplicaReporter, TrafficCounter, replica_name
from workbench.serving.routing import MAX_ROUTING_KEY, Route
from workbench.storage.prediction_store import FeedbackResult, label_text

log = logging.getLogger("workbench.serving")


@dataclass(frozen=True)
class ServeConfig:
    """Limits and secrets of one server: body bytes, rows per request, the write token, polling, connections,
    and its name as a replica (``None``: ``host:pid``; with ``workers`` above 1, ``NAME:pid`` per worker)."""

    token: str
    max_body: int = 1_048_576
    max_rows: int = 1_000
    reload_seconds: float = 2.0
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    replica_name: str | None = None
    workers: int = 1


@dataclass
class Observation:
    """The model and version a request resolved to, filled in by the route as it learns them."""

    model: str = ""
    version: str = ""


class PredictionService:
    """The models of ``factory`` behind the checks, logging and counters shared by every protocol.

    ``prediction_log`` defaults to the log beside the registry of the current settings
    (:func:`~workbench.serving.predlog.open_prediction_log`); :meth:`close` flushes and closes it.
    """

    def __init__(self, factory: ModelFactory, config: ServeConfig, prediction_log: PredictionLog | None = None) -> None:
        self.factory = factory
        self.config = config
        self.log = prediction_log if prediction_log is not None else open_prediction_log()
        self.writer = LogWriter(self.log)
        self.counters = ServingMetrics()
        self.replica = replica_name(config.replica_name, per_process=config.workers > 1)
        self.traffic = TrafficCounter()
        self.reporter = ReplicaReporter(self.replica, factory, self.traffic, self.log.store)
        self._closed = False

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

    def route(self, name: str, seen: Observation | None = None) -> Route:
        """The routing entry of ``name`` now: production and challenger (:class:`ModelNotServedError`)."""
        route = self.factory.route(name)
        if seen is not None:
            seen.model, seen.version = route.name, str(route.production.version.version)
        return route

    def predict(
        self,
        route: Route,
        body: Any,
        *,
        routing_key: str | None = None,
        seen: Observation | None = None,
        numbers_only: bool = False,
    ) -> dict[str, Any]:
        """Predictions, probabilities and a request id per row of ``body``, all from one version.

        The arm (production or challenger) is picked from the one routing entry ``route``
        (from :meth:`route`). ``routing_key`` (or the body's ``"routing_key"``) makes the
        pick sticky. ``seen`` is updated to the version that answered. ``numbers_only``:
        the caller knows every value of ``instances`` is a number
        (:func:`~workbench.serving.inputs.prediction_matrix`). Blocking (the model runs
        here): async front ends call it in a worker thread unless the model answers inline.
        """
        body, in_body = _split_routing_key(body)
        arm, chosen = route.pick(_routing_key(routing_key if routing_key is not None else in_body))
        version = chosen.version
        if seen is not None:
            seen.version = str(version.version)
        rows = prediction_matrix(body, chosen.shape, self.config.max_rows, numbers_only=numbers_only)
        started = time.perf_counter()
        try:
            predictions, probabilities = chosen.predict(rows)
        except (ValueError, TypeError) as exc:
            log.warning("%s v%s refused a request: %s", version.name, version.version, exc)
            raise BadInputError("the model refused these rows; check them against GET /v1/models/NAME") from None
        latency_ms = (time.perf_counter() - started) * 1000.0
        ids = request_ids(len(predictions))
        self.traffic.add(version.name, version.version, len(ids))
        self.writer.add_answer(
            Answer(ids, version.name, version.version, arm, rows, predictions, time.time(), latency_ms)
        )
        return {
            "model": version.name,
            "version": version.version,
            "arm": arm,
            "predictions": predictions,
            "probabilities": probabilities,
            "request_ids": ids,
        }

    def feedback(self, route: Route, body: Any) -> FeedbackResult:
        """Join the true labels in ``body`` to earlier predictions of ``route``'s model, from any server process.

        Raises the store's error (the front end answers 503) when the prediction log cannot be written.
        """
        pairs = feedback_pairs(body, self.config.max_rows)
        _check_labels(route, pairs)
        self.writer.flush()
        return self.log.label(route.name, pairs)

    def close(self) -> None:
        """Write the buffered predictions (what cannot be written is counted as dropped) and close the log.

        Idempotent: the app's shutdown and the server command both call it.
        """
        if self._closed:
            return
        self._closed = True
        self.reporter.stop()
        self.writer.close()
        self.log.close()


def request_ids(n: int) -> list[str]:
    """``n`` random 128-bit request ids as 32 hex digits, from one call to the system's random source.

    A ``uuid4()`` per row costs one such call each, which dominated a 100-row request.
    """
    digits = os.urandom(16 * n).hex()
    return [digits[i : i + 32] for i in range(0, 32 * n, 32)]


def _split_routing_key(body: Any) -> tuple[Any, Any]:
    """The body without its ``routing_key`` field, and that field (``None`` when absent)."""
    if isinstance(body, dict) and "routing_key" in body:
        rest = dict(body)
        return rest, rest.pop("routing_key")
    return body, None


def _routing_key(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ROUTING_KEY:
        raise BadInputError(f"the routing key must be a string of 1 to {MAX_ROUTING_KEY} characters")
    return value


def _check_labels(route: Route, pairs: list[tuple[str, Any]]) -> None:
    """Refuse labels that are not classes of the model: a typo would silently skew the live metrics."""
    classes = {label_text(c) for _, served in route.arms() for c in served.version.classes}
    if not classes:
        return
    for i, (_, label) in enumerate(pairs):
        if label_text(label) not in classes:
            shown = ", ".join(sorted(classes)[:20])
            raise BadInputError(f"labels[{i}] is not a class of the model; its classes are {shown}")


__all__ = ["Observation", "PredictionService", "ServeConfig"]
