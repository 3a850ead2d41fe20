"""What the dashboard shows, read from the stores as one plain-JSON snapshot.

:func:`build_snapshot` reads the registry (versions, stages, offline metrics, the last
gate result), the run store (the newest runs, the schedules), the loop store (each model's
loop and its timeline, :func:`workbench.dashboard.loop.loop_entries`), the serving replicas'
reports (:func:`workbench.dashboard.replicas.replica_entries`) and the serving side's
live figures (:func:`read_live`, the one place that knows where those come from). The
result is plain JSON with every number finite; the page renders it as text only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from workbench.config import Settings
from workbench.dashboard.loop import loop_entries
from workbench.dashboard.replicas import replica_entries
from workbench.scoring import AVERAGE
from workbench.storage import Storage, open_storage
from workbench.storage.model_records import ModelVersion
from workbench.storage.model_store import ModelStore
from workbench.storage.run_records import Run
from workbench.storage.run_store import RunStore
from workbench.storage.schedule_records import Schedule

if TYPE_CHECKING:
    from workbench.serving.predlog import PredictionLog

DRIFT_THRESHOLD = 0.2
"""PSI above which a feature's drift is flagged (0.1-0.2 is commonly read as moderate, above 0.2 as large)."""
RUNS_PAGE = 50
MAX_RUNS_PAGE = 500
STAGE_ORDER = ("production", "challenger", "staging", "dev", "archived")
OFFLINE_METRICS = {"precision": "precision_macro", "recall": "recall_macro", "f1": "f1_macro"}
"""The registry's figures behind the page's offline precision, recall and F1 (macro, as live ones)."""


class Sources:
    """The stores of one settings' storage, opened on first use and again after :meth:`close`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._storage: Storage | None = None
        self._predictions: PredictionLog | None = None

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = open_storage(self.settings)
        return self._storage

    @property
    def registry(self) -> ModelStore:
        return self.storage.models

    @property
    def runs(self) -> RunStore:
        return self.storage.runs

    @property
    def predictions(self) -> PredictionLog:
        """The serving side's prediction log; drift profiles are looked up in :attr:`registry`."""
        if self._predictions is None:
            from workbench.serving.predlog import PredictionLog

            storage = self.storage
            self._predictions = PredictionLog(storage.predictions, storage.models.get_version, on_close=lambda: None)
        return self._predictions

    def close(self) -> None:
        """Release every store; the next use opens them again (after an outage, a fresh connection)."""
        storage, self._storage, self._predictions = self._storage, None, None
        if storage is not None:
            storage.close()


@dataclass(frozen=True)
class LiveData:
    """Figures from serving: labelled-prediction metrics, traffic and drift, keyed by (name, version).

    A version missing from ``live`` had no labelled prediction in the log's retention; the
    page then says "no live data" instead of showing zeros.
    """

    live: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    traffic: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    drift: dict[tuple[str, int], dict[str, float]] = field(default_factory=dict)


def read_live(sources: Sources, versions: list[ModelVersion]) -> LiveData:
    """The prediction log's figures for ``versions``: the one place that knows where live data comes from.

    Drift is computed for the versions that served or were labelled recently and for those
    in production or challenger, not for every archived version.
    """
    log = sources.predictions
    live: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for report in log.live():
        live.setdefault((report.name, report.version), []).append(asdict(report))
    traffic: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for t in log.traffic():
        traffic.setdefault((t.name, t.version), []).append(asdict(t))
    watched = {(v.name, v.version) for v in versions if v.stage in ("production", "challenger")}
    drift = {key: log.drift(*key) for key in sorted(watched | set(live) | set(traffic))}
    return LiveData(live=live, traffic=traffic, drift={k: v for k, v in drift.items() if v})


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its text, so the JSON stays valid for browsers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _gate_summary(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not results:
        return None
    last = results[-1]
    failed = [str(r.get("description", r.get("id", ""))) for r in last.get("results", []) if not r.get("passed")]
    return {
        "passed": bool(last.get("passed")),
        "at": str(last.get("at", "")),
        "trigger": str(last.get("trigger", "")),
        "error": str(last["error"]) if last.get("error") else None,
        "failed": failed,
        "runs": len(results),
    }


def _stage_rank(stage: str) -> int:
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER)


def _version_entry(store: ModelStore, version: ModelVersion, live: LiveData) -> dict[str, Any]:
    key = (version.name, version.version)
    return {
        "version": version.version,
        "stage": version.stage,
        "created_at": version.created_at,
        "tags": dict(version.tags),
        "offline": {k: _finite(version.metrics.get(metric)) for k, metric in OFFLINE_METRICS.items()},
        "gate": _gate_summary(store.gate_results(version.name, version.version)),
        "live": _finite(live.live.get(key, [])),
        "traffic": _finite(live.traffic.get(key, [])),
        "drift": _finite(live.drift.get(key, {})),
    }


def run_entry(run: Run) -> dict[str, Any]:
    """A run as the page shows it; ``has_output`` says whether its notebook can be downloaded."""
    return {
        "run_id": run.run_id,
        "job": run.job,
        "status": run.status,
        "reason": run.reason,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "duration": _finite(run.duration),
        "parameters": _finite(run.parameters),
        "metrics": _finite(run.metrics),
        "has_output": run.output is not None and run.status != "running",
    }


def runs_page(store: RunStore, offset: int = 0, limit: int = RUNS_PAGE) -> dict[str, Any]:
    """Runs newest first from ``offset``; ``more`` says whether older ones exist."""
    found = store.list_runs(limit=offset + limit + 1)
    page = found[offset : offset + limit]
    return {"offset": offset, "items": [run_entry(r) for r in page], "more": len(found) > offset + limit}


def _schedule_entry(schedule: Schedule, now: datetime) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "notebook": schedule.notebook,
        "cron": schedule.cron,
        "parameters": _finite(schedule.parameters),
        "next_run": schedule.next_due(now).isoformat(timespec="seconds"),
        "last_run_id": schedule.last_run_id,
    }


def model_entries(sources: Sources) -> list[dict[str, Any]]:
    """Each model with its versions by stage: offline and live figures, the last gate result."""
    store = sources.registry
    by_name = {name: store.list_versions(name) for name in store.list_names()}
    live = read_live(sources, [v for versions in by_name.values() for v in versions])
    models = []
    for name, versions in by_name.items():
        if not versions:
            continue
        ordered = sorted(versions, key=lambda v: (_stage_rank(v.stage), -v.version))
        models.append({"name": name, "versions": [_version_entry(store, v, live) for v in ordered]})
    return models


def build_snapshot(sources: Sources, now: datetime | None = None) -> dict[str, Any]:
    """Everything the page shows, as plain JSON; raises the stores' errors (an outage is the caller's to show)."""
    now = now or datetime.now(UTC)
    return {
        "models": model_entries(sources),
        "average": AVERAGE,  # how precision, recall and F1 combine the classes: the page says so
        "drift_threshold": DRIFT_THRESHOLD,
        "runs": runs_page(sources.runs),
        "schedules": [_schedule_entry(s, now) for s in sources.runs.list_schedules()],
        "loop": _finite(loop_entries(sources.storage.loop)),
        "replicas": _finite(replica_entries(sources.storage.predictions.replicas())),
    }


__all__ = [
    "DRIFT_THRESHOLD",
    "RUNS_PAGE",
    "STAGE_ORDER",
    "LiveData",
    "Sources",
    "build_snapshot",
    "model_entries",
    "read_live",
    "run_entry",
    "runs_page",
]
