"""The loop's figures in ``/metrics``: where each model's loop stands, its current A/B interval and
its timeline's counts, read from the loop store of the server's storage.

Labels carry only model names that have a loop state, phases, arms, bounds and event kinds,
all from the store; what cannot be read is flagged by ``workbench_loop_up 0``, never zeroed.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from workbench.config import Settings, load_settings
from workbench.errors import WorkbenchError
from workbench.storage import Storage, open_storage
from workbench.storage.loop_records import PHASES, LoopState

log = logging.getLogger("workbench.serving")

_BOUNDS = ("estimate", "low", "high")


def _labels(**values: str) -> str:
    return ",".join(f'{k}="{v}"' for k, v in values.items())


def state_lines(states: list[LoopState], counts: dict[str, Counter[str]]) -> list[str]:
    """Prometheus lines for ``states`` and each model's events counted by kind."""
    lines = [
        "# HELP workbench_loop_up 1 when the loop store could be read, 0 during an outage.",
        "# TYPE workbench_loop_up gauge",
        "workbench_loop_up 1",
        "# HELP workbench_loop_phase 1 for the phase each model's loop is in, 0 for the others.",
        "# TYPE workbench_loop_phase gauge",
    ]
    for state in states:
        lines += [f"workbench_loop_phase{{{_labels(model=state.model, phase=p)}}} {int(p == state.phase)}"
                  for p in PHASES]
    lines += [
        "# HELP workbench_loop_paused 1 when a person paused the model's loop.",
        "# TYPE workbench_loop_paused gauge",
    ]
    lines += [f"workbench_loop_paused{{{_labels(model=s.model)}}} {int(bool(s.paused))}" for s in states]
    lines += [
        "# HELP workbench_loop_events_total Events in each model's loop timeline, by kind.",
        "# TYPE workbench_loop_events_total counter",
    ]
    for state in states:
        for kind, n in sorted(counts.get(state.model, Counter()).items()):
            lines.append(f"workbench_loop_events_total{{{_labels(model=state.model, kind=kind)}}} {n}")
    lines += [
        "# HELP workbench_loop_ab_difference Challenger minus production on the decision metric: "
        "estimate and confidence-sequence bounds.",
        "# TYPE workbench_loop_ab_difference gauge",
    ]
    evidence = [(s.model, s.evidence) for s in states if s.phase in ("challenging", "deciding") and s.evidence]
    for model, figures in evidence:
        for bound in _BOUNDS:
            labels = _labels(model=model, metric=str(figures["metric"]), bound=bound)
            lines.append(f"workbench_loop_ab_difference{{{labels}}} {float(figures['difference'][bound])!r}")
    lines += [
        "# HELP workbench_loop_ab_metric Each arm's decision metric: estimate and confidence-sequence bounds.",
        "# TYPE workbench_loop_ab_metric gauge",
    ]
    for model, figures in evidence:
        for arm in ("production", "challenger"):
            for bound in _BOUNDS:
                labels = _labels(model=model, metric=str(figures["metric"]), arm=arm, bound=bound)
                lines.append(f"workbench_loop_ab_metric{{{labels}}} {float(figures[arm][bound])!r}")
    lines += [
        "# HELP workbench_loop_ab_labels Labels behind each arm's figure.",
        "# TYPE workbench_loop_ab_labels gauge",
    ]
    for model, figures in evidence:
        for arm in ("production", "challenger"):
            lines.append(f"workbench_loop_ab_labels{{{_labels(model=model, arm=arm)}}} {int(figures[f'n_{arm}'])}")
    return lines


class LoopFigures:
    """The loop store of ``settings`` (default: the current ones), opened on first use and again after an outage."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._storage: Storage | None = None
        self._lock = threading.Lock()

    def lines(self) -> list[str]:
        """The loop's lines of ``/metrics``."""
        with self._lock:
            try:
                if self._storage is None:
                    self._storage = open_storage(self._settings or load_settings())
                loop = self._storage.loop
                states = loop.states()
                counts = {s.model: Counter(e.kind for e in loop.events(s.model)) for s in states}
            except WorkbenchError as exc:
                log.warning("/metrics: the loop store could not be read: %s", exc)
                self._close()
                return [
                    "# HELP workbench_loop_up 1 when the loop store could be read, 0 during an outage.",
                    "# TYPE workbench_loop_up gauge",
                    "workbench_loop_up 0",
                ]
        return state_lines(states, counts)

    def _close(self) -> None:
        storage, self._storage = self._storage, None
        if storage is not None:
            storage.close()

    def close(self) -> None:
        with self._lock:
            self._close()


__all__ = ["LoopFigures", "state_lines"]
