"""The dashboard's precision/recall chart as inline SVG, for ``%dashboard`` in a notebook.

One chart per model, as on the page's scatter: macro precision against macro recall of
every version, a hollow mark for the offline scores (holdout at registration) and a
filled one per serving arm for the live window, joined by a line, one colour per
version. Inline SVG needs no plotting library and no script, so it shows in JupyterLab,
in a saved notebook and on GitHub alike; every text from the store is escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

from workbench.formatting import nice_ticks
from workbench.scoring import labelled

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f")
"""The page's colours, in its order."""


def _score(value: Any) -> float | None:
    """A finite number, or ``None`` (the snapshot writes non-finite floats as text)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _points(version: Mapping[str, Any]) -> tuple[tuple[float, float] | None, list[tuple[str, float, float]]]:
    """(recall, precision) offline, and (arm, recall, precision) of each live arm."""
    offline = version.get("offline", {})
    p, r = _score(offline.get("precision")), _score(offline.get("recall"))
    live = []
    for arm in version.get("live") or []:
        lp, lr = _score(arm.get("precision")), _score(arm.get("recall"))
        if lp is not None and lr is not None:
            live.append((str(arm.get("arm", "")), lr, lp))
    return ((r, p) if p is not None and r is not None else None), live


def _legend(entries: list[tuple[str, str]], width: float, top: float) -> tuple[list[str], float]:
    """One swatch per version, wrapping at ``width``, then what the two marks mean; and the y below it."""
    parts: list[str] = []
    x, y = 4.0, top
    for name, color in entries:
        span = 14 + len(name) * 6.6 + 12
        if x > 4 and x + span > width:
            x, y = 4.0, y + 16
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14:.1f}" y="{y + 9}" font-size="11" fill="currentColor">{html.escape(name)}</text>'
        )
        x += span
    y += 16
    parts.append(
        f'<circle cx="9" cy="{y + 5}" r="4" fill="none" stroke="currentColor"/>'
        f'<text x="18" y="{y + 9}" font-size="11" fill="currentColor">offline (holdout)</text>'
        f'<circle cx="129" cy="{y + 5}" r="4" fill="currentColor"/>'
        f'<text x="138" y="{y + 9}" font-size="11" fill="currentColor">live (labelled feedback)</text>'
    )
    return parts, y + 16


def precision_recall_svg(model: Mapping[str, Any]) -> str:
    """The chart of one model of the dashboard's snapshot; empty when no version has both scores.

    The legend sits above the plot, so charts of several models side by side line up on
    their axes however many versions each lists.
    """
    versions = [(index, v, *_points(v)) for index, v in enumerate(model["versions"])]
    versions = [entry for entry in versions if entry[2] is not None or entry[3]]
    if not versions:
        return ""
    values = [c for _, _, off, live in versions for c in ([*off] if off else []) + [c for _, *rp in live for c in rp]]
    width, plot = 300, 230
    m_left, m_right, m_bottom = 46, 12, 38
    legend, top = _legend(
        [(f"v{v['version']} ({v['stage']})", PALETTE[i % len(PALETTE)]) for i, v, _, _ in versions], width, 22
    )
    top += 8
    height = top + plot + m_bottom
    floor = max(0.0, math.floor((min(values) - 0.05) * 10) / 10)

    def sx(value: float) -> float:
        return m_left + (value - floor) / (1 - floor) * (width - m_left - m_right)

    def sy(value: float) -> float:
        return top + plot - (value - floor) / (1 - floor) * plot

    bottom = top + plot
    parts = [
        f'<text x="4" y="14" font-size="12" font-weight="bold" fill="currentColor">{html.escape(str(model["name"]))}'
        "</text>",
        *legend,
        f'<line x1="{m_left}" x2="{width - m_right}" y1="{bottom}" y2="{bottom}" stroke="currentColor"/>',
        f'<line x1="{m_left}" x2="{m_left}" y1="{top}" y2="{bottom}" stroke="currentColor"/>',
    ]
    for tick in nice_ticks(floor, 1.0, 6):
        parts.append(
            f'<line x1="{sx(tick):.1f}" x2="{sx(tick):.1f}" y1="{bottom}" y2="{bottom + 4}" stroke="currentColor"/>'
            f'<text x="{sx(tick):.1f}" y="{bottom + 15}" text-anchor="middle" font-size="11" '
            f'fill="currentColor">{tick:g}</text>'
            f'<line x1="{m_left - 4}" x2="{m_left}" y1="{sy(tick):.1f}" y2="{sy(tick):.1f}" stroke="currentColor"/>'
            f'<text x="{m_left - 6}" y="{sy(tick) + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="currentColor">{tick:g}</text>'
        )
    parts.append(
        f'<text x="{(m_left + width - m_right) / 2:.1f}" y="{height - 4}" text-anchor="middle" font-size="11" '
        f'fill="currentColor">{labelled("recall")}</text>'
        f'<text transform="translate(12,{top + plot / 2:.1f}) rotate(-90)" text-anchor="middle" '
        f'font-size="11" fill="currentColor">{labelled("precision")}</text>'
    )
    for index, version, offline, live in versions:
        color = PALETTE[index % len(PALETTE)]
        name = f"v{version['version']} ({version['stage']})"
        for arm, recall, precision in live:
            if offline is not None:
                parts.append(
                    f'<line x1="{sx(offline[0]):.1f}" y1="{sy(offline[1]):.1f}" x2="{sx(recall):.1f}" '
                    f'y2="{sy(precision):.1f}" stroke="{color}" stroke-opacity="0.6"/>'
                )
            tip = f"{name} live{f' ({arm} arm)' if arm else ''}: precision {precision:.3f}, recall {recall:.3f}"
            parts.append(
                f'<circle cx="{sx(recall):.1f}" cy="{sy(precision):.1f}" r="4.5" fill="{color}" '
                f'data-kind="live"><title>{html.escape(tip)}</title></circle>'
            )
        if offline is not None:
            tip = f"{name} offline: precision {offline[1]:.3f}, recall {offline[0]:.3f}"
            parts.append(
                f'<circle cx="{sx(offline[0]):.1f}" cy="{sy(offline[1]):.1f}" r="4.5" fill="none" stroke="{color}" '
                f'stroke-width="1.5" data-kind="offline"><title>{html.escape(tip)}</title></circle>'
            )
    title = f"{model['name']}: {labelled('precision')} against {labelled('recall')} of every version"
    return (
        f'<svg class="wb-chart" role="img" aria-label="{html.escape(title)}" width="{width}" height="{height:.0f}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{html.escape(title)}</title>{"".join(parts)}</svg>'
    )


__all__ = ["PALETTE", "precision_recall_svg"]
