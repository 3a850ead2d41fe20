"""Formatting shared by result objects: durations, sizes and small HTML tables.

Values that change from run to run are wrapped in ``<span class="wb-v">`` in HTML, and
written with a unit in text, so the nbval sanitize file shipped with the package can
mask exactly them (see ``workbench/nbval_sanitize.cfg``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence

_TIME_UNITS = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))


def format_time(seconds: float, digits: int = 3) -> str:
    """A duration with ``digits`` significant figures in the largest fitting unit."""
    if math.isnan(seconds) or math.isinf(seconds):
        return f"{seconds} s"
    if seconds == 0:
        return "0 ns"
    for unit, scale in _TIME_UNITS:
        if abs(seconds) >= scale:
            return f"{seconds / scale:.{digits}g} {unit}"
    return f"{seconds / 1e-9:.{digits}g} ns"


def format_bytes(size: float) -> str:
    """A byte count in B, KiB, MiB or GiB."""
    for unit in ("B", "KiB", "MiB"):
        if abs(size) < 1024:
            return f"{size:.3g} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.3g} GiB"


def volatile(text: str) -> str:
    """HTML for a value that differs between runs (masked by the nbval sanitize file)."""
    return f'<span class="wb-v">{html.escape(text)}</span>'


def html_table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, caption: str | None = None
) -> str:
    """A table; cells are HTML already (escape text with :func:`html.escape` or :func:`volatile`)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f'<table class="wb-table">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def text_table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], min_widths: Sequence[int] = ()
) -> str:
    """A plain-text table with aligned columns.

    ``min_widths`` keeps columns of run-dependent values (durations, ratios) at a fixed
    width, so two runs of a notebook differ only in the values the sanitize file masks.
    """
    all_rows = [list(headers), *[list(r) for r in rows]]
    floors = [*min_widths, *[0] * (len(headers) - len(min_widths))]
    widths = [max(floors[i], *(len(r[i]) for r in all_rows)) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in all_rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def nice_ticks(low: float, high: float, most: int = 6) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) covering ``[low, high]``, at most ``most``."""
    span = high - low if high > low else 1.0
    power = 10.0 ** math.floor(math.log10(span))
    for step in (k * power for k in (0.1, 0.2, 0.5, 1, 2, 5, 10)):
        first = math.ceil(low / step - 1e-9) * step
        ticks = [round(first + i * step, 10) for i in range(int((high - first) / step + 1e-9) + 1)]
        if len(ticks) <= most:
            return ticks
    return [low, high]


def warning_html(message: str) -> str:
    return f'<p class="wb-warning">⚠ {html.escape(message)}</p>'


def warning_text(message: str) -> str:
    return f"⚠ {message}"


__all__ = [
    "format_bytes",
    "format_time",
    "html_table",
    "nice_ticks",
    "text_table",
    "volatile",
    "warning_html",
    "warning_text",
]
