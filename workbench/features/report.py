"""Drawing shared by :class:`Ranking` and :class:`Selection`: inline SVG bars for the notebook
(no plotting library needed to show a result) and matplotlib figures for ``.plot()``."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from workbench.errors import MissingDependencyError

COLORS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2")


def number(value: float) -> str:
    """A score as text: four significant figures, ``-`` for a missing value."""
    return "-" if value != value else f"{value:.4g}"


def bars_svg(labels: Sequence[str], series: Mapping[str, Sequence[float]], title: str) -> str:
    """Horizontal bars, one group per label and one bar per series, each series scaled to its
    own largest value (series of different units share one chart); negative values show as 0."""
    width, left, bar_h, gap = 420, 150, 7, 6
    group_h = bar_h * len(series) + gap
    legend_h = 16
    parts = []
    for j, name in enumerate(series):
        parts.append(
            f'<rect x="{left + j * 100}" y="2" width="10" height="10" fill="{COLORS[j % len(COLORS)]}"/>'
            f'<text x="{left + j * 100 + 14}" y="11" font-size="11" fill="currentColor">{html.escape(name)}</text>'
        )
    for i, label in enumerate(labels):
        y = legend_h + i * group_h
        parts.append(
            f'<text x="{left - 6}" y="{y + group_h / 2 + 1:.1f}" text-anchor="end" font-size="11" '
            f'fill="currentColor">{html.escape(label)}</text>'
        )
        for j, values in enumerate(series.values()):
            top = max(max(values, default=0.0), 0.0) or 1.0
            w = max(values[i], 0.0) / top * (width - left - 10)
            parts.append(
                f'<rect x="{left}" y="{y + j * bar_h}" width="{w:.1f}" height="{bar_h - 1}" '
                f'fill="{COLORS[j % len(COLORS)]}"/>'
            )
    height = legend_h + len(labels) * group_h + 4
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


__all__ = ["COLORS", "bars_figure", "bars_svg", "new_figure", "number"]
