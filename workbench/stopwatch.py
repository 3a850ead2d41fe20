"""``wb.timer``: named durations from scripts and jobs.

A :class:`timer` is a context manager and a decorator. Each finished block adds its
duration to a :class:`TimerLog` (by default the process-wide :data:`timer_log`), which a
job reads at the end of a run and records as metrics.
"""

from __future__ import annotations

import html
import threading
import time
from contextlib import ContextDecorator
from types import TracebackType
from typing import Any

from workbench import run_context
from workbench.formatting import format_time, html_table, text_table


class TimerLog:
    """Durations in seconds by label, in the order they were recorded. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._durations: dict[str, list[float]] = {}

    def add(self, label: str, seconds: float) -> None:
        with self._lock:
            self._durations.setdefault(label, []).append(seconds)
        if self is timer_log:
            run_context.append({"kind": "timer", "label": label, "seconds": seconds})

    def durations(self) -> dict[str, list[float]]:
        """A copy: label -> every duration recorded under it."""
        with self._lock:
            return {k: list(v) for k, v in self._durations.items()}

    def totals(self) -> dict[str, float]:
        """label -> total seconds."""
        return {k: sum(v) for k, v in self.durations().items()}

    def clear(self) -> None:
        with self._lock:
            self._durations.clear()

    def _rows(self) -> list[tuple[str, str, str]]:
        return [(label, str(len(v)), format_time(sum(v))) for label, v in self.durations().items()]

    def __str__(self) -> str:
        return text_table(["stage", "calls", "total"], self._rows(), min_widths=(0, 0, 9))

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        return html_table(["stage", "calls", "total"], [tuple(map(html.escape, r)) for r in self._rows()])


timer_log = TimerLog()


class timer(ContextDecorator):
    """Time a block or a function under ``label``::

        with wb.timer("load"):
            X, y = load()

        @wb.timer("fit")
        def fit(): ...
    """

    def __init__(self, label: str, log: TimerLog | None = None) -> None:
        self.label = label
        self.log = timer_log if log is None else log
        self.elapsed: float | None = None
        self._local = threading.local()

    def __enter__(self) -> timer:
        starts = getattr(self._local, "starts", None)
        if starts is None:
            starts = self._local.starts = []
        starts.append(time.perf_counter())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.elapsed = time.perf_counter() - self._local.starts.pop()
        self.log.add(self.label, self.elapsed)


__all__ = ["TimerLog", "timer", "timer_log"]
