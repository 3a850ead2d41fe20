"""Request counters and latency histograms, written in the Prometheus text format.

Labels carry only served model names and versions (never a name taken from a request
that named no served model), so a client cannot grow the series without bound.
"""

from __future__ import annotations

import bisect
import threading
from typing import Any

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

    def render(self, live: dict[tuple[str, int], dict[str, Any]]) -> str:
        """The Prometheus text exposition of the counters, and of ``live`` precision/recall reports."""
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
        for metric in ("precision_macro", "recall_macro"):
            lines += [
                f"# HELP workbench_live_{metric} Macro {metric.split('_')[0]} from feedback labels (this process).",
                f"# TYPE workbench_live_{metric} gauge",
            ]
            for (name, number), report in sorted(live.items()):
                labels = _labels(model=name, version=str(number))
                lines.append(f"workbench_live_{metric}{{{labels}}} {report[metric]!r}")
        lines += [
            "# HELP workbench_live_feedback_total Feedback labels joined to predictions (this process).",
            "# TYPE workbench_live_feedback_total counter",
        ]
        for (name, number), report in sorted(live.items()):
            lines.append(f"workbench_live_feedback_total{{{_labels(model=name, version=str(number))}}} {report['n']}")
        return "\n".join(lines) + "\n"


def _labels(**values: str) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in values.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


__all__ = ["BUCKETS", "ServingMetrics"]
