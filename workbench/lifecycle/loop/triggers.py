"""The loop's triggers: what makes it retrain a model, each with the evidence it fired on.

- **new data**: the newest version of the policy's dataset is not the one last acted on.
  The first time a model is seen, the one it was trained on counts as acted on (production's
  lineage, :attr:`ModelVersion.datasets`), else the newest then: nothing fires at first sight.
- **drift**: at least ``features`` features of production's served inputs (the newest rows the
  prediction log keeps for it, at least ``min_rows``) have PSI above ``psi`` against the
  production version's registration profile.
- **live**: production's live macro precision, recall or F1 over its newest ``window`` labels
  (at least ``min_labels``) is below the policy's threshold.
- **schedule**: a cron time passed since the last one acted on (missed ones are coalesced;
  at first sight the clock starts now).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from workbench.lifecycle.loop.policy import Policy
from workbench.serving.drift import feature_psi
from workbench.serving.predlog import PredictionLog
from workbench.storage.datamart_store import DatamartStore
from workbench.storage.loop_records import LoopState
from workbench.storage.model_records import ModelVersion


@dataclass(frozen=True)
class Fired:
    """One trigger that fired: its kind (new_data, drift, live, schedule), a line, its figures."""

    kind: str
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Look:
    """What one look at the triggers found: the triggers that fired, the newest version of the
    policy's dataset (``NAME@VERSION``, passed to the training job) and the state's reference
    points (the newest data acted on, the last cron time), advanced."""

    fired: list[Fired]
    dataset: str | None
    data_seen: str | None
    cron_last: str | None


def _newest(datamarts: DatamartStore, name: str | None) -> str | None:
    versions = datamarts.versions(name) if name else []
    return f"{name}@{versions[-1].version}" if versions else None


def _new_data(policy: Policy, state: LoopState, datamarts: DatamartStore, production: ModelVersion | None) -> Look:
    name = policy.on_new_data
    dataset = _newest(datamarts, policy.dataset)
    versions = datamarts.versions(name) if name else []
    if not name or not versions:
        return Look([], dataset, state.data_seen, state.cron_last)
    newest = versions[-1]
    ref = f"{name}@{newest.version}"
    dataset = ref if policy.dataset == name else dataset
    seen = state.data_seen
    if seen is None:
        trained_on = [d for d in (production.datasets if production else []) if d.get("name") == name]
        seen = f"{name}@{trained_on[-1].get('version')}" if trained_on else ref
    if ref == seen:
        return Look([], dataset, seen, state.cron_last)
    evidence = {"dataset": name, "version": newest.version, "previous": seen, "rows": newest.rows,
                "created": newest.created}
    return Look([Fired("new_data", f"new data: {ref} (after {seen})", evidence)], dataset, seen, state.cron_last)


def _drift(policy: Policy, log: PredictionLog, production: ModelVersion | None) -> list[Fired]:
    rule = policy.on_drift
    if rule is None or production is None or not production.profile:
        return []
    rows = log.store.feature_rows(production.name, production.version)
    if len(rows) < rule.min_rows:
        return []
    names = list(production.feature_names) or [f"x{i}" for i in range(len(rows[0]))]
    psi = feature_psi(production.profile, names, rows)
    over = sorted(f for f, value in psi.items() if value > rule.psi)
    if len(over) < rule.features:
        return []
    shown = ", ".join(f"{f} {psi[f]:.2f}" for f in sorted(over, key=lambda f: -psi[f])[:5])
    evidence = {"version": production.version, "rows": len(rows), "threshold": rule.psi, "features": rule.features,
                "over": over, "psi": {f: round(v, 4) for f, v in psi.items()}}
    summary = f"drift: PSI above {rule.psi:g} on {len(over)} features of v{production.version} ({shown})"
    return [Fired("drift", summary, evidence)]


def _live(policy: Policy, log: PredictionLog, production: ModelVersion | None) -> list[Fired]:
    rule = policy.on_live
    if rule is None or production is None:
        return []
    reports = [
        r
        for r in log.live(production.name, window=rule.window)
        if r.version == production.version and r.arm == "production"
    ]
    if not reports or reports[0].n < rule.min_labels:
        return []
    report = reports[0]
    below = {k: round(getattr(report, k), 4) for k, t in rule.thresholds.items() if getattr(report, k) < t}
    if not below:
        return []
    evidence = {"version": production.version, "n": report.n, "window": report.window, "thresholds": rule.thresholds,
                "precision": report.precision, "recall": report.recall, "f1": report.f1, "below": below}
    shown = ", ".join(f"{k} {v:.3f} < {rule.thresholds[k]:g}" for k, v in below.items())
    return [Fired("live", f"live decline of v{production.version} on {report.n} labels: {shown}", evidence)]


def _schedule(policy: Policy, state: LoopState, now: datetime) -> tuple[list[Fired], str | None]:
    if not policy.schedule:
        return [], state.cron_last
    from croniter import croniter

    if state.cron_last is None:
        return [], now.isoformat()
    due: datetime = croniter(policy.schedule, now).get_prev(datetime)
    if due <= datetime.fromisoformat(state.cron_last):
        return [], state.cron_last
    evidence = {"cron": policy.schedule, "due": due.isoformat(), "previous": state.cron_last}
    return [Fired("schedule", f"scheduled retrain due at {due:%Y-%m-%d %H:%M} UTC", evidence)], due.isoformat()


def look(
    policy: Policy,
    state: LoopState,
    *,
    datamarts: DatamartStore,
    log: PredictionLog,
    production: ModelVersion | None,
    now: datetime | None = None,
) -> Look:
    """Evaluate every trigger of ``policy`` once."""
    now = now or datetime.now(UTC)
    data = _new_data(policy, state, datamarts, production)
    scheduled, cron_last = _schedule(policy, state, now)
    fired = data.fired + _drift(policy, log, production) + _live(policy, log, production) + scheduled
    return Look(fired, data.dataset, data.data_seen, cron_last)


__all__ = ["Fired", "Look", "look"]
