"""Drawing shared by :class:`Ranking` and :class:`Selection`: inline SVG bars for the notebook
(no plotting library needed to show a result) and matplotlib figures for ``.plot()``."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from workbench.errors import MissingDependencyError
from workbench.formatting import nice_ticks

COLORS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2")


def number(value: float) -> str:
    """A score as text: four significant figures, ``-`` for a missing value."""
    return "-" if value != value else f"{value:.4g}"


def _text_width(text: str, size: float) -> float:
    """About how wide ``text`` is drawn at font ``size`` (an average glyph of a sans-serif font)."""
    return len(text) * size * 0.62


def _fit(text: str, room: float, size: float) -> str:
    """``text`` cut with an ellipsis so it fits ``room`` pixels."""
    if _text_width(text, size) <= room:
        return text
    keep = max(1, int(room / (size * 0.62)) - 1)
    return text[:keep] + "…"


def _label(x: float, y: float, text: str, room: float, *, anchor: str = "start", size: int = 11) -> str:
    """A text label cut to ``room`` pixels; the full text shows as its tooltip when cut."""
    shown = _fit(text, room, size)
    title = f"<title>{html.escape(text)}</title>" if shown != text else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="currentColor">'
        f"{title}{html.escape(shown)}</text>"
    )


def _legend(names: Sequence[str], x0: float, width: float) -> tuple[list[str], float]:
    """Legend entries laid out left to right from ``x0``, wrapping to a new row at ``width``; and its height."""
    parts: list[str] = []
    x, y = x0, 2.0
    for j, name in enumerate(names):
        shown = _fit(name, width - x0 - 16, 11)
        span = 14 + _text_width(shown, 11) + 14
        if x > x0 and x + span > width:
            x, y = x0, y + 16
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="10" height="10" fill="{COLORS[j % len(COLORS)]}"/>'
            + _label(x + 14, y + 9, name, width - x - 14, size=11)
        )
        x += span
    return parts, y + 14 if names else 0.0


def bars_svg(labels: Sequence[str], series: Mapping[str, Sequence[float]], title: str) -> str:
    """Horizontal bars, one group per label and one bar per series, each series scaled to its
    own largest value (series of different units share one chart); negative values show as 0.

    The legend wraps onto more rows rather than run past the chart's edge, and labels too
    long for the left column are cut with an ellipsis (the full name is the tooltip)."""
    width, left, bar_h, gap = 420, 150, 7, 6
    group_h = bar_h * len(series) + gap
    parts, legend_h = _legend(list(series), 0, width)
    legend_h += 4
    for i, label in enumerate(labels):
        y = legend_h + i * group_h
        parts.append(_label(left - 6, y + group_h / 2 + 1, label, left - 8, anchor="end"))
        for j, values in enumerate(series.values()):
            top = max(max(values, default=0.0), 0.0) or 1.0
            w = max(values[i], 0.0) / top * (width - left - 10)
            parts.append(
                f'<rect x="{left}" y="{y + j * bar_h}" width="{w:.1f}" height="{bar_h - 1}" '
                f'fill="{COLORS[j % len(COLORS)]}"/>'
            )
    height = legend_h + len(labels) * group_h + 4
    return (
        f'<svg class="wb-chart" role="img" aria-label="{html.escape(title)}" width="{width}" height="{height:.0f}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )


def path_svg(
    path: Mapping[int, float], spread: Mapping[int, float], kept: int, title: str, ylabel: str
) -> str:
    """A line of ``path`` (x: a count, y: a score) with a band of plus or minus ``spread``, the
    ``kept`` count marked by a dashed line and the best point by a ring, with both axes."""
    width, height = 420, 230
    m_left, m_right, m_top, m_bottom = 48, 14, 22, 40
    counts = sorted(path)
    lows = [path[n] - spread.get(n, 0.0) for n in counts]
    highs = [path[n] + spread.get(n, 0.0) for n in counts]
    y_ticks = nice_ticks(min(lows), max(highs), 5)
    y_low, y_high = min(y_ticks[0], min(lows)), max(y_ticks[-1], max(highs))
    x_low, x_high = counts[0], max(counts[-1], counts[0] + 1)

    def x(n: float) -> float:
        return m_left + (n - x_low) / (x_high - x_low) * (width - m_left - m_right)

    def y(v: float) -> float:
        return height - m_bottom - (v - y_low) / ((y_high - y_low) or 1.0) * (height - m_top - m_bottom)

    parts = [
        f'<line x1="{m_left}" x2="{width - m_right}" y1="{height - m_bottom}" y2="{height - m_bottom}" '
        'stroke="currentColor"/>',
        f'<line x1="{m_left}" x2="{m_left}" y1="{m_top}" y2="{height - m_bottom}" stroke="currentColor"/>',
    ]
    for tick in nice_ticks(x_low, x_high, 8):
        if tick != int(tick):
            continue
        parts.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{height - m_bottom}" y2="{height - m_bottom + 4}" '
            'stroke="currentColor"/>' + _label(x(tick), height - m_bottom + 15, f"{int(tick)}", 40, anchor="middle")
        )
    for tick in y_ticks:
        parts.append(
            f'<line x1="{m_left - 4}" x2="{m_left}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="currentColor"/>'
            + _label(m_left - 6, y(tick) + 4, f"{tick:g}", m_left - 6, anchor="end")
        )
    parts.append(_label((m_left + width - m_right) / 2, height - 6, "number of features", width, anchor="middle"))
    parts.append(
        f'<text transform="translate(12,{(m_top + height - m_bottom) / 2:.1f}) rotate(-90)" text-anchor="middle" '
        f'font-size="11" fill="currentColor">{html.escape(ylabel)}</text>'
    )
    band = [f"{x(n):.1f},{y(v):.1f}" for n, v in zip(counts, highs, strict=True)]
    band += [f"{x(n):.1f},{y(v):.1f}" for n, v in reversed(list(zip(counts, lows, strict=True)))]
    parts.append(f'<polygon points="{" ".join(band)}" fill="{COLORS[0]}" fill-opacity="0.2"/>')
    line = " ".join(f"{x(n):.1f},{y(path[n]):.1f}" for n in counts)
    parts.append(f'<polyline points="{line}" fill="none" stroke="{COLORS[0]}" stroke-width="1.5"/>')
    for n in counts:
        parts.append(
            f'<circle cx="{x(n):.1f}" cy="{y(path[n]):.1f}" r="2.5" fill="{COLORS[0]}">'
            f"<title>{n} features: {number(path[n])} ± {number(spread.get(n, 0.0))}</title></circle>"
        )
    best = max(counts, key=lambda n: (path[n], -n))
    parts.append(
        f'<circle cx="{x(best):.1f}" cy="{y(path[best]):.1f}" r="6" fill="none" stroke="{COLORS[1]}" '
        'stroke-width="2"/>'
    )
    parts.append(
        f'<line x1="{x(kept):.1f}" x2="{x(kept):.1f}" y1="{m_top}" y2="{height - m_bottom}" stroke="currentColor" '
        'stroke-dasharray="4 3"/>'
    )
    parts.append(
        _label(
            x(kept) + (4 if x(kept) < width / 2 else -4), m_top - 8, f"kept {kept}", 120,
            anchor="start" if x(kept) < width / 2 else "end",
        )
    )
    parts.append(
        f'<text x="{width - m_right}" y="{m_top - 8}" text-anchor="end" font-size="11" fill="{COLORS[1]}">'
        f"best: {best} ({number(path[best])})</text>"
    )
    return (
        f'<svg class="wb-chart" role="img" aria-label="{html.escape(title)}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )


def new_figure(width: float, height: float) -> Any:
    """A matplotlib ``Figure`` not tied to pyplot, so nothing is shown or kept behind the caller's back."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(
            "plotting a feature report needs matplotlib", hint="pip install 'workbench[plot]'"
        ) from exc
    return Figure(figsize=(width, height), layout="constrained")


def bars_figure(labels: Sequence[str], series: Mapping[str, Sequence[float]], title: str, xlabel: str) -> Any:
    """Grouped horizontal bars, first label on top."""
    import numpy as np

    fig = new_figure(6.0, 0.9 + 0.3 * len(labels) * max(1, len(series)) ** 0.5)
    ax = fig.add_subplot()
    positions = np.arange(len(labels))
    height = 0.8 / max(1, len(series))
    for j, (name, values) in enumerate(series.items()):
        ax.barh(positions + j * height, values, height=height, label=name, color=COLORS[j % len(COLORS)])
    ax.set_yticks(positions + height * (len(series) - 1) / 2, labels=list(labels))
    ax.invert_yaxis()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    if len(series) > 1:
        ax.legend()
    return fig


__all__ = ["COLORS", "bars_figure", "bars_svg", "new_figure", "number", "path_svg"]
