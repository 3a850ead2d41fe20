"""Timing that tells the truth: :func:`measure` one statement, :func:`compare` several.

Both compile the statement into a tight loop the way :mod:`timeit` does (garbage
collection off while timing), pick the number of loops from a time budget, and report
the median of several runs with its spread rather than a mean that one slow run drags.
:func:`compare` runs the candidates interleaved (A B A B ...) so drift of the machine
(frequency scaling, another process) hits every candidate alike, and gives the ratio to
the first candidate with a paired bootstrap confidence interval.

Timers are plugins (entry-point group ``workbench.timers``): a zero-argument callable
returning seconds as a float, like :func:`time.perf_counter`.
"""

from __future__ import annotations

import html
import math
import random
import statistics
import timeit
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import TimingError
from workbench.formatting import (
    format_bytes,
    format_time,
    html_table,
    text_table,
    volatile,
    warning_html,
    warning_text,
)
from workbench.plugins import PluginRegistry
from workbench.stopwatch import TimerLog, timer, timer_log

Statement = str | Callable[[], object]
TimerFunc = Callable[[], float]

timers: PluginRegistry[TimerFunc] = PluginRegistry("workbench.timers", "timer")

DEFAULT_REPEAT = 7
DEFAULT_RUN_SECONDS = 0.2
SPREAD_WARNING = 0.10  # IQR / median above this gets a warning


@dataclass
class Timing:
    """One statement's measurement: ``runs`` holds seconds per loop for each run."""

    stmt: str
    runs: list[float]
    loops: int
    timer: str = "wall"
    label: str | None = None
    memory_peak: int | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def iqr(self) -> float:
        if len(self.runs) < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.runs, n=4, method="inclusive")
        return q3 - q1

    @property
    def min(self) -> float:
        return min(self.runs)

    @property
    def max(self) -> float:
        return max(self.runs)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.runs)

    @property
    def stdev(self) -> float:
        return statistics.stdev(self.runs) if len(self.runs) > 1 else 0.0

    @property
    def relative_spread(self) -> float:
        """IQR divided by the median: 0.02 means the middle half of runs lie within 2 %."""
        return self.iqr / self.median if self.median > 0 else 0.0

    @property
    def warnings(self) -> list[str]:
        notes = []
        if self.relative_spread > SPREAD_WARNING:
            notes.append(
                f"runs vary a lot (IQR is {self.relative_spread:.0%} of the median): the machine is "
                "busy or the code caches; rerun, or raise -r"
            )
        return notes

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (baselines, job metrics)."""
        return {
            "stmt": self.stmt,
            "label": self.label,
            "timer": self.timer,
            "loops": self.loops,
            "runs": list(self.runs),
            "median": self.median,
            "iqr": self.iqr,
            "min": self.min,
            "max": self.max,
            "memory_peak": self.memory_peak,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Timing:
        return cls(
            stmt=str(data["stmt"]),
            runs=[float(r) for r in data["runs"]],
            loops=int(data["loops"]),
            timer=str(data.get("timer", "wall")),
            label=data.get("label"),
            memory_peak=data.get("memory_peak"),
        )

    def summary(self) -> str:
        """One line: median, spread, extremes, runs x loops."""
        text = (
            f"{format_time(self.median)} per loop (median; IQR {format_time(self.iqr)}, "
            f"min {format_time(self.min)}, max {format_time(self.max)}); "
            f"{len(self.runs)} runs x {self.loops} loops, {self.timer} timer"
        )
        if self.memory_peak is not None:
            text += f"; peak memory {format_bytes(self.memory_peak)}"
        return text

    def __str__(self) -> str:
        lines = [f"{self.label}: {self.summary()}" if self.label else self.summary()]
        lines += [warning_text(w) for w in self.warnings]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        rows = [
            ("median", volatile(format_time(self.median))),
            ("IQR", volatile(format_time(self.iqr))),
            ("min", volatile(format_time(self.min))),
            ("max", volatile(format_time(self.max))),
            ("runs x loops", volatile(f"{len(self.runs)} x {self.loops}")),
            ("timer", html.escape(self.timer)),
        ]
        if self.memory_peak is not None:
            rows.append(("peak memory", volatile(format_bytes(self.memory_peak))))
        caption = self.label or self.stmt
        out = html_table(["per loop", ""], rows, caption=caption)
        return out + "".join(warning_html(w) for w in self.warnings)


@dataclass
class Comparison:
    """Interleaved measurements of several candidates; ratios are to the first one."""

    timings: dict[str, Timing]
    ratio_ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    confidence: float = 0.95

    @property
    def names(self) -> list[str]:
        return list(self.timings)

    @property
    def reference(self) -> str:
        return self.names[0]

    def ratio(self, name: str) -> float:
        """Median time of ``name`` divided by the reference's: 2.0 means twice as slow."""
        return self.timings[name].median / self.timings[self.reference].median

    @property
    def fastest(self) -> str:
        return min(self.timings, key=lambda n: self.timings[n].median)

    def _rows(self) -> list[tuple[str, str, str, str]]:
        rows = []
        for name, t in self.timings.items():
            if name == self.reference:
                ratio, interval = "1x", "reference"
            else:
                lo, hi = self.ratio_ci[name]
                ratio = f"{self.ratio(name):.3g}x"
                interval = f"[{lo:.3g}x, {hi:.3g}x]"
            rows.append((name, format_time(t.median), ratio, interval))
        return rows

    def __str__(self) -> str:
        headers = ["candidate", "median", f"vs {self.reference}", f"{self.confidence:.0%} CI"]
        lines = [text_table(headers, self._rows(), min_widths=(0, 9, 10, 24))]
        for name, t in self.timings.items():
            lines += [warning_text(f"{name}: {w}") for w in t.warnings]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        headers = ["candidate", "median", f"vs {self.reference}", f"{self.confidence:.0%} CI"]
        # a ratio of 0.00151x reads better as "662x faster"
        rows = [
            (html.escape(name), volatile(median), volatile(f"{ratio} ({self.speed(name)})" if faster else ratio),
             volatile(ci))
            for (name, median, ratio, ci), faster in zip(
                self._rows(), (n != self.reference and self.ratio(n) < 1 for n in self.timings), strict=True
            )
        ]
        warnings = "".join(
            warning_html(f"{name}: {w}") for name, t in self.timings.items() for w in t.warnings
        )
        return html_table(headers, rows) + self._svg_chart() + warnings

    def speed(self, name: str) -> str:
        """``name`` against the reference in words: ``662x faster``, ``1.5x slower`` or ``reference``."""
        if name == self.reference:
            return "reference"
        ratio = self.ratio(name)
        if ratio <= 0 or math.isnan(ratio):
            return "-"
        return f"{1 / ratio:.3g}x faster" if ratio < 1 else f"{ratio:.3g}x slower"

    def _svg_chart(self) -> str:
        """Horizontal bars of the medians with IQR whiskers on a log time axis, each with its speed-up.

        A log axis keeps a candidate hundreds of times faster visible next to the reference;
        the words at the end of each row ("662x faster") say what the lengths mean.
        """
        width, bar_h, gap, left, right = 520, 18, 6, 110, 130
        plot = width - left - right
        spans = [(max(t.median - t.iqr / 2, t.median / 10), t.median + t.iqr / 2) for t in self.timings.values()]
        positive = [v for span in spans for v in span if v > 0] or [1e-9]
        low = math.floor(math.log10(min(positive)) - 0.3)  # the fastest bar keeps some length
        high = max(math.ceil(math.log10(max(positive))), low + 1)

        def x(seconds: float) -> float:
            exponent = math.log10(seconds) if seconds > 0 else low
            return left + (min(max(exponent, low), high) - low) / (high - low) * plot

        parts = []
        for i, ((name, t), (q_lo, q_hi)) in enumerate(zip(self.timings.items(), spans, strict=True)):
            y = 4 + i * (bar_h + gap)
            parts.append(
                f'<text x="{left - 6}" y="{y + 13}" text-anchor="end" font-size="12" '
                f'fill="currentColor">{html.escape(name)}</text>'
                f'<rect x="{left}" y="{y}" width="{x(t.median) - left:.1f}" height="{bar_h}" fill="#4c78a8">'
                f"<title>{html.escape(f'{name}: {format_time(t.median)} per loop')}</title></rect>"
                f'<line x1="{x(q_lo):.1f}" x2="{x(q_hi):.1f}" y1="{y + bar_h / 2}" '
                f'y2="{y + bar_h / 2}" stroke="currentColor" stroke-width="2"/>'
                f'<text x="{left + plot + 8}" y="{y + 13}" font-size="12" fill="currentColor">'
                f"{html.escape(self.speed(name))}</text>"
            )
        axis_y = 4 + len(self.timings) * (bar_h + gap)
        parts.append(
            f'<line x1="{left}" x2="{left + plot}" y1="{axis_y}" y2="{axis_y}" stroke="currentColor"/>'
        )
        step = 1 if high - low <= 6 else 2
        for exponent in range(low, high + 1, step):
            tick = left + (exponent - low) / (high - low) * plot
            parts.append(
                f'<line x1="{tick:.1f}" x2="{tick:.1f}" y1="{axis_y}" y2="{axis_y + 4}" stroke="currentColor"/>'
                f'<text x="{tick:.1f}" y="{axis_y + 16}" text-anchor="middle" font-size="11" '
                f'fill="currentColor">{html.escape(format_time(10.0**exponent))}</text>'
            )
        parts.append(
            f'<text x="{left + plot / 2:.1f}" y="{axis_y + 32}" text-anchor="middle" font-size="11" '
            f'fill="currentColor">median time per loop (log scale; whiskers: IQR)</text>'
        )
        height = axis_y + 38
        return (
            f'<svg class="wb-chart" role="img" aria-label="median time per candidate, log scale" '
            f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
        )


class TimingHistory:
    """Labelled timings of a session, in order; a label measured again replaces its entry."""

    def __init__(self) -> None:
        self.entries: dict[str, Timing] = {}

    def add(self, timing: Timing) -> None:
        if timing.label is None:
            raise TimingError("only labelled timings go into the history", hint="pass --label NAME")
        self.entries.pop(timing.label, None)
        self.entries[timing.label] = timing

    def _rows(self) -> list[tuple[str, str, str, str, str]]:
        return [
            (label, format_time(t.median), format_time(t.iqr), f"{len(t.runs)} x {t.loops}", t.stmt)
            for label, t in self.entries.items()
        ]

    def __str__(self) -> str:
        if not self.entries:
            return "no labelled timings yet (use %wtime --label NAME stmt)"
        headers = ["label", "median", "IQR", "runs x loops", "statement"]
        return text_table(headers, self._rows(), min_widths=(0, 9, 9, 14))

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        if not self.entries:
            return f"<p>{html.escape(str(self))}</p>"
        rows = [
            (html.escape(label), volatile(median), volatile(iqr), volatile(rl), f"<code>{html.escape(stmt)}</code>")
            for label, median, iqr, rl, stmt in self._rows()
        ]
        return html_table(["label", "median", "IQR", "runs x loops", "statement"], rows)


def _describe(stmt: Statement) -> str:
    return stmt if isinstance(stmt, str) else getattr(stmt, "__qualname__", repr(stmt))


def _make_timer(
    stmt: Statement, setup: Statement, timer: str, namespace: dict[str, Any] | None
) -> timeit.Timer:
    timer_func = timers.get(timer)
    try:
        return timeit.Timer(stmt, setup, timer=timer_func, globals=namespace)
    except SyntaxError as exc:
        raise TimingError(
            f"cannot compile {_describe(stmt)!r}: {exc.msg} (line {exc.lineno})",
            hint="fix the statement's syntax",
            stmt=_describe(stmt),
        ) from exc


def calibrate(t: timeit.Timer, run_seconds: float = DEFAULT_RUN_SECONDS) -> int:
    """Loops per run so that one run takes about ``run_seconds``.

    Unlike ``timeit.autorange``, which tries 1, 2, 5, 10, ... loops until 0.2 s pass
    (up to about 0.4 s spent before measuring), this grows the loop count tenfold only
    while runs are too short to time reliably, then extrapolates once.
    """
    number = 1
    elapsed = t.timeit(number)
    probe = run_seconds / 10
    while elapsed < probe and number < 10**9:
        # below 10 µs the timer's resolution dominates: grow blindly, else aim at the probe
        grow = 10 if elapsed < 1e-5 else math.ceil(1.2 * probe / elapsed)
        number *= max(2, grow)
        elapsed = t.timeit(number)
    return max(1, round(number * run_seconds / max(elapsed, 1e-12)))


def _peak_memory(stmt: Statement, setup: Statement, namespace: dict[str, Any] | None) -> int:
    """Peak bytes allocated by one execution of ``stmt``, in a run of its own."""
    t = timeit.Timer(stmt, setup, globals=namespace)
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        t.timeit(1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return max(0, peak - before)


def measure(
    stmt: Statement,
    setup: Statement = "pass",
    *,
    namespace: dict[str, Any] | None = None,
    number: int | None = None,
    repeat: int = DEFAULT_REPEAT,
    timer: str = "wall",
    run_seconds: float = DEFAULT_RUN_SECONDS,
    memory: bool = False,
    label: str | None = None,
) -> Timing:
    """Time ``stmt`` (source text or a zero-argument callable).

    ``number`` loops per run (chosen from ``run_seconds`` when omitted), ``repeat`` runs;
    ``namespace`` is the globals the statement sees. Exceptions raised by the statement
    propagate unchanged. With ``memory=True`` the peak allocation of one execution is
    measured in a separate run, so tracing does not slow the timed runs.
    """
    if repeat < 1:
        raise TimingError(f"repeat must be at least 1, not {repeat}")
    if number is not None and number < 1:
        raise TimingError(f"number must be at least 1, not {number}")
    t = _make_timer(stmt, setup, timer, namespace)
    loops = number or calibrate(t, run_seconds)
    runs = [t.timeit(loops) / loops for _ in range(repeat)]
    peak = _peak_memory(stmt, setup, namespace) if memory else None
    return Timing(_describe(stmt), runs, loops, timer=timer, label=label, memory_peak=peak)


def paired_bootstrap_ratio(
    reference: Sequence[float], other: Sequence[float], *, confidence: float = 0.95, resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Confidence interval of median(other) / median(reference).

    Runs were interleaved, so run ``i`` of each candidate shared the machine's state:
    resampling whole rounds (pairs) keeps that pairing.
    """
    rng = random.Random(seed)
    n = len(reference)
    ratios = []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        ref = statistics.median(reference[i] for i in idx)
        ratios.append(statistics.median(other[i] for i in idx) / ref if ref > 0 else math.inf)
    ratios.sort()
    alpha = (1 - confidence) / 2
    lo = ratios[int(alpha * (resamples - 1))]
    hi = ratios[math.ceil((1 - alpha) * (resamples - 1))]
    return lo, hi


def compare(
    candidates: Mapping[str, Statement],
    setup: Statement = "pass",
    *,
    namespace: dict[str, Any] | None = None,
    number: int | None = None,
    repeat: int = DEFAULT_REPEAT,
    timer: str = "wall",
    run_seconds: float = DEFAULT_RUN_SECONDS,
    confidence: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Time several candidates interleaved; ratios are to the first candidate."""
    if len(candidates) < 2:
        raise TimingError("compare needs at least two candidates", hint="name them as a=EXPR b=EXPR")
    if repeat < 2:
        raise TimingError(f"compare needs at least 2 runs per candidate, not {repeat}")
    prepared = {name: _make_timer(stmt, setup, timer, namespace) for name, stmt in candidates.items()}
    loops = {name: number or calibrate(t, run_seconds) for name, t in prepared.items()}
    runs: dict[str, list[float]] = {name: [] for name in prepared}
    for _ in range(repeat):
        for name, t in prepared.items():
            runs[name].append(t.timeit(loops[name]) / loops[name])
    timings = {
        name: Timing(_describe(candidates[name]), runs[name], loops[name], timer=timer, label=name)
        for name in prepared
    }
    names = list(timings)
    ci = {
        name: paired_bootstrap_ratio(runs[names[0]], runs[name], confidence=confidence, seed=seed)
        for name in names[1:]
    }
    return Comparison(timings, ci, confidence)


__all__ = [
    "Comparison",
    "TimerLog",
    "Timing",
    "TimingHistory",
    "calibrate",
    "compare",
    "measure",
    "paired_bootstrap_ratio",
    "timer",
    "timer_log",
    "timers",
]
