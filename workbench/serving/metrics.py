"""Request counters, latency histograms and the prediction log's figures, in the Prometheus text format.

Labels carry only served model names, versions, arms and feature names (never a name
taken from a request that named no served model), so a client cannot grow the series
without bound.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from workbench.serving.logwriter import WriterStats
from workbench.serving.predlog import LiveReport

BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_Key = tuple[str, str]


class ServingMetrics:
    """Requests by model, version and status; latency per model and version; errors by kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str, int], int] = {}
        self._errors: dict[tuple[str, str, str], int] = {}
        self._latency: dict[_Key, list[int]] = {}
        self._latency_sum: dict[_Key, float] = {}

    def observe(self, route: str, model: str, version: str, status: int, seconds: float, error: str = "") -> None:
        """Count one finished request (``model``/``version`` empty when none was resolved)."""
        with self._lock:
            key = (route, model, version, status)
            self._requests[key] = self._requests.get(key, 0) + 1
            if error:
                ekey = (model, version, error)
                self._errors[ekey] = self._errors.get(ekey, 0) + 1
            if route == "predict" and status == 200:
                counts = self._latency.setdefault((model, version), [0] * (len(BUCKETS) + 1))
                counts[bisect.bisect_left(BUCKETS, seconds)] += 1
                self._latency_sum[(model, version)] = self._latency_sum.get((model, version), 0.0) + seconds

    def render(self, live: LiveFigures) -> str:
        """The Prometheus text exposition of the counters and of the prediction log's ``live`` figures."""
        lines = [
            "# HELP workbench_requests_total Requests answered, by route, model, version and status.",
            "# TYPE workbench_requests_total counter",
        ]
        with self._lock:
            for (route, model, version, status), n in sorted(self._requests.items()):
                lines.append(
                    f"workbench_requests_total{{{_labels(route=route, model=model, version=version)},"
                    f'status="{status}"}} {n}'
                )
            lines += [
                "# HELP workbench_errors_total Refused or failed requests, by model, version and kind.",
                "# TYPE workbench_errors_total counter",
            ]
            for (model, version, kind), n in sorted(self._errors.items()):
                lines.append(f"workbench_errors_total{{{_labels(model=model, version=version, kind=kind)}}} {n}")
            lines += [
                "# HELP workbench_predict_seconds Time to answer a successful predict request.",
                "# TYPE workbench_predict_seconds histogram",
            ]
            for (model, version), counts in sorted(self._latency.items()):
                labels = _labels(model=model, version=version)
                cumulative = 0
                for bound, n in zip((*map(str, BUCKETS), "+Inf"), counts, strict=True):
                    cumulative += n
                    lines.append(f'workbench_predict_seconds_bucket{{{labels},le="{bound}"}} {cumulative}')
                lines.append(f"workbench_predict_seconds_sum{{{labels}}} {self._latency_sum[(model, version)]!r}")
                lines.append(f"workbench_predict_seconds_count{{{labels}}} {cumulative}")
        return "\n".join(lines + live.lines()) + "\n"


@dataclass(frozen=True)
class LiveFigures:
    """What the prediction log says, for ``/metrics``: ``reports`` and ``feedback`` are ``None`` when unreadable."""

    writer: WriterStats
    reports: Sequence[LiveReport] | None
    feedback: Mapping[tuple[str, str], int] | None
    drift: Mapping[tuple[str, int], Mapping[str, float]]

    def lines(self) -> list[str]:
        up = self.writer.healthy and self.reports is not None and self.feedback is not None
        lines = [
            "# HELP workbench_predlog_up 1 when the prediction log could be written and read, 0 during an outage.",
            "# TYPE workbench_predlog_up gauge",
            f"workbench_predlog_up {int(up)}",
            "# HELP workbench_predlog_written_total Prediction records written to the log by this process.",
            "# TYPE workbench_predlog_written_total counter",
            f"workbench_predlog_written_total {self.writer.written}",
            "# HELP workbench_predlog_dropped_total Prediction records this process could not log (store outage).",
            "# TYPE workbench_predlog_dropped_total counter",
            f"workbench_predlog_dropped_total {self.writer.dropped}",
            "# HELP workbench_predlog_pending Prediction records buffered, not yet written.",
            "# TYPE workbench_predlog_pending gauge",
            f"workbench_predlog_pending {self.writer.pending}",
        ]
        for metric, what in (("precision", "precision"), ("recall", "recall"), ("f1", "F1")):
            lines += [
                f"# HELP workbench_live_{metric}_macro Macro {what} over the newest labelled predictions.",
                f"# TYPE workbench_live_{metric}_macro gauge",
            ]
            for report in self.reports or ():
                labels = _labels(model=report.name, version=str(report.version), arm=report.arm)
                lines.append(f"workbench_live_{metric}_macro{{{labels}}} {getattr(report, metric)!r}")
        lines += [
            "# HELP workbench_live_labels Labelled predictions in the live window.",
            "# TYPE workbench_live_labels gauge",
        ]
        for report in self.reports or ():
            labels = _labels(model=report.name, version=str(report.version), arm=report.arm)
            lines.append(f"workbench_live_labels{{{labels}}} {report.n}")
        lines += [
            "# HELP workbench_feedback_total Feedback labels by model and result (accepted, unknown, duplicate).",
            "# TYPE workbench_feedback_total counter",
        ]
        for (model, kind), n in sorted((self.feedback or {}).items()):
            lines.append(f"workbench_feedback_total{{{_labels(model=model, result=kind)}}} {n}")
        lines += [
            "# HELP workbench_drift_psi Population stability index of recent inputs against the registration profile.",
            "# TYPE workbench_drift_psi gauge",
        ]
        for (model, version), features in sorted(self.drift.items()):
            for feature, value in sorted(features.items()):
                labels = _labels(model=model, version=str(version), feature=feature)
                lines.append(f"workbench_drift_psi{{{labels}}} {value!r}")
        return lines


def _labels(**values: str) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in values.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


__all__ = ["BUCKETS", "LiveFigures", "ServingMetrics"]
