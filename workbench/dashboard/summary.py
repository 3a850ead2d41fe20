"""The dashboard's model table for a notebook or a terminal (``%dashboard``), with its precision/recall charts
in the notebook."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workbench.config import Settings, load_settings
from workbench.dashboard.charts import precision_recall_svg
from workbench.dashboard.snapshot import Sources, build_snapshot
from workbench.formatting import html_table, text_table
from workbench.scoring import labelled

COLUMNS = (
    "model",
    "version",
    "stage",
    labelled("precision"),
    labelled("recall"),
    labelled("f1"),
    "last gate",
    f"live {labelled('precision')}",
    f"live {labelled('recall')}",
    "labelled",
    "requests/s",
    "p99 ms",
    "max drift (PSI)",
)
"""The table's columns; precision, recall and F1 are macro averages (:mod:`workbench.scoring`), offline and live."""


def _number(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def _gate(gate: Mapping[str, Any] | None) -> str:
    if gate is None:
        return "-"
    return "error" if gate.get("error") else "passed" if gate.get("passed") else "failed"


def _live(version: Mapping[str, Any], threshold: float) -> list[str]:
    """Live precision, recall, labelled count, request rate, p99 and the largest drift of a version (first arm)."""
    live = (version.get("live") or [None])[0]
    traffic = (version.get("traffic") or [{}])[0]
    drift = max(version.get("drift", {}).values(), default=None)
    scores = (
        [_number(live["precision"]), _number(live["recall"]), f"{live['n']} of {live['window']}"]
        if live
        else ["no live data", "no live data", "-"]
    )
    return [
        *scores,
        _number(traffic.get("rate_per_s"), 2),
        _number(traffic.get("p99_ms"), 1),
        _number(drift) + (" (high)" if drift is not None and drift > threshold else ""),
    ]


@dataclass(frozen=True)
class DashboardSummary:
    """Every model version with its offline, gate and live figures, as the dashboard shows them.

    ``data`` is the dashboard's snapshot (:func:`~workbench.dashboard.snapshot.build_snapshot`);
    :attr:`rows` gives one tuple of text per version, in :data:`COLUMNS` order.
    """

    data: Mapping[str, Any]

    @property
    def rows(self) -> list[tuple[str, ...]]:
        rows = []
        for model in self.data["models"]:
            for v in model["versions"]:
                offline = v["offline"]
                rows.append(
                    (
                        model["name"],
                        str(v["version"]),
                        v["stage"],
                        _number(offline.get("precision")),
                        _number(offline.get("recall")),
                        _number(offline.get("f1")),
                        _gate(v.get("gate")),
                        *_live(v, self.data.get("drift_threshold", 0.2)),
                    )
                )
        return rows

    def __str__(self) -> str:
        return text_table(COLUMNS, self.rows) if self.rows else "no model registered yet"

    def _repr_html_(self) -> str:
        """The table, then one chart per model: precision against recall, offline and live, of every version."""
        escaped = [[html.escape(cell) for cell in row] for row in self.rows]
        if not escaped:
            return "<p>no model registered yet</p>"
        charts = "".join(precision_recall_svg(model) for model in self.data["models"])
        return html_table(COLUMNS, escaped) + (f"<div class='wb-charts'>{charts}</div>" if charts else "")


def summary(settings: Settings | None = None) -> DashboardSummary:
    """Read the stores once and summarise them; raises the stores' errors (:class:`StorageUnavailableError`)."""
    sources = Sources(settings or load_settings())
    try:
        return DashboardSummary(build_snapshot(sources))
    finally:
        sources.close()


__all__ = ["COLUMNS", "DashboardSummary", "summary"]
