"""Run a model version's gates: load it and its holdout, score both, judge every criterion.

:func:`evaluate` does the work and returns a :class:`GateReport`; :func:`run_gates`
also keeps the report with the version in the registry. Every front end (the pytest
plugin, ``%acceptance``, the promotion gate) calls these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.acceptance.config import Criterion, GateConfig, Slice, gate_for, no_gates_error
from workbench.acceptance.holdout import Holdout, load_holdout
from workbench.acceptance.report import CriterionResult, GateReport
from workbench.errors import AcceptanceError, GateFailedError, HoldoutError, ModelNotFoundError
from workbench.storage.model_records import ModelVersion, utc_now
from workbench.storage.model_store import current_user

if TYPE_CHECKING:
    from workbench.acceptance.scores import Scores
    from workbench.registry.api import Registry

DISPLAY_LEVEL = 0.95
"""Interval shown for gates that do not set ``confidence``."""


Scored = dict[str | None, "Scores | None"]
"""Scores of one model by slice name (``None``: the whole holdout; ``None`` value: an empty slice)."""


def _failed(common: dict[str, Any], criterion: Criterion, note: str) -> CriterionResult:
    nan = math.nan
    return CriterionResult(
        **common, threshold=criterion.threshold, observed=nan, low=nan, high=nan, passed=False, note=note
    )


def _judge(
    criterion: Criterion, gate: GateConfig, scored: Scored, baseline: tuple[ModelVersion, Scored] | None
) -> CriterionResult:
    level = gate.confidence or DISPLAY_LEVEL
    common: dict[str, Any] = {
        "id": criterion.id,
        "description": criterion.describe(),
        "level": level,
        "use_lower_bound": gate.confidence is not None,
    }
    scores = scored[criterion.slice]
    if scores is None:
        return _failed(common, criterion, f"slice {criterion.slice} has no rows in the holdout")
    if criterion.key not in scores:
        why = (
            "the model has no predict_proba"
            if criterion.metric == "roc_auc"
            else f"classes are {', '.join(scores.labels)}"
        )
        return _failed(common, criterion, f"no score {criterion.key}: {why}")
    if criterion.baseline is None:
        observed = scores[criterion.key]
        low, high = scores.interval(criterion.key, level)
        threshold, note = criterion.threshold, ""
    elif baseline is None:
        note = f"no {criterion.baseline} version to compare with"
        return CriterionResult(
            **common, threshold=-criterion.threshold, observed=0.0, low=0.0, high=0.0, passed=True, note=note
        )
    else:
        other_version, other_scored = baseline
        other = other_scored[criterion.slice]
        assert other is not None  # same rows as this version's, which are not empty
        observed = scores[criterion.key] - other[criterion.key]
        low, high = scores.difference_interval(other, criterion.key, level)
        threshold = -criterion.threshold
        note = f"difference to {criterion.baseline} v{other_version.version} ({other[criterion.key]:.4f})"
    judged = low if gate.confidence is not None else observed
    return CriterionResult(
        **common,
        threshold=threshold,
        observed=observed,
        low=low,
        high=high,
        passed=judged >= threshold - 1e-12,
        note=note,
    )


def _rows(holdout: Holdout, piece: Slice) -> tuple[Any, Any]:
    """The holdout rows of a slice."""
    import numpy as np

    X = holdout.X
    if not hasattr(X, "columns") or piece.column not in X.columns:
        raise HoldoutError(
            f"slice {piece.name} needs a column {piece.column!r}, which holdout {holdout.source} has not",
            hint="slices select rows of a table by a named column (a CSV/Parquet holdout, or a DataFrame)",
        )
    column = X[piece.column]
    if piece.equals is not None:
        mask = np.asarray(column == piece.equals, dtype=bool)
    else:
        mask = np.ones(len(column), dtype=bool)
        if piece.low is not None:
            mask &= np.asarray(column >= piece.low, dtype=bool)
        if piece.high is not None:
            mask &= np.asarray(column <= piece.high, dtype=bool)
    return X[mask], np.asarray(holdout.y)[mask]


def _score_all(model: Any, holdout: Holdout, gate: GateConfig) -> Scored:
    """Scores on the whole holdout and on each slice, every one from the gate's seed."""
    from workbench.acceptance.scores import score

    scored: Scored = {None: score(model, holdout.X, holdout.y, bootstrap=gate.bootstrap, seed=gate.seed)}
    for piece in gate.slices:
        X, y = _rows(holdout, piece)
        scored[piece.name] = score(model, X, y, bootstrap=gate.bootstrap, seed=gate.seed) if len(y) else None
    return scored


def _baseline(registry: Registry, gate: GateConfig, holdout: Holdout) -> tuple[ModelVersion, Scored] | None:
    """The version at the stage the gate compares against, scored on the same resamples."""
    stages = {c.baseline for c in gate.criteria if c.baseline is not None}
    if not stages:
        return None
    (stage,) = stages
    try:
        other = registry.get(gate.model, stage=stage)
    except ModelNotFoundError:
        return None
    return other, _score_all(registry.load_version(other), holdout, gate)


def evaluate(registry: Registry, gate: GateConfig, version: ModelVersion, *, trigger: str = "api") -> GateReport:
    """Judge ``version`` against ``gate``; raises :class:`HoldoutError` if the holdout cannot be used."""
    holdout = load_holdout(gate)
    scored = _score_all(registry.load_version(version), holdout, gate)
    whole = scored[None]
    assert whole is not None  # a holdout is never empty
    baseline = _baseline(registry, gate, holdout)
    return GateReport(
        model=version.name,
        version=version.version,
        stage=version.stage,
        holdout=holdout.source,
        holdout_sha256=holdout.sha256,
        n_samples=holdout.n_samples,
        labels=whole.labels,
        confusion=whole.confusion,
        results=[_judge(c, gate, scored, baseline) for c in gate.criteria],
        bootstrap=gate.bootstrap,
        seed=gate.seed,
        at=utc_now(),
        by=current_user(),
        trigger=trigger,
    )


def run_gates(
    name: str,
    *,
    version: int | None = None,
    stage: str | None = None,
    gate: GateConfig | None = None,
    registry: Registry | None = None,
    trigger: str = "api",
) -> GateReport:
    """Run the gates of ``name`` (declared in pyproject, or ``gate``) and keep the report with the version.

    The version is ``version``, else the newest at ``stage``, else the newest of all;
    the registry is the one of the current settings unless given. Raises
    :class:`AcceptanceError` when the model has no gates.
    """
    from workbench.registry.api import default_registry

    registry = registry or default_registry()

    config = gate or gate_for(name)
    if config is None:
        raise no_gates_error(name)
    target = registry.get(name, version=version, stage=stage)
    report = evaluate(registry, config, target, trigger=trigger)
    registry.store.add_gate_result(target.name, target.version, report.to_record())
    return report


def check(report: GateReport) -> GateReport:
    """``report`` when it passed; raises :class:`GateFailedError` listing the failed criteria otherwise."""
    if report.passed:
        return report
    failures = [r.verdict() for r in report.failures]
    raise GateFailedError(
        f"{report.model} v{report.version} fails {len(failures)} of {len(report.results)} acceptance criteria:\n"
        + "\n".join(f"  - {line}" for line in failures)
        + "\n",
        model=report.model,
        version=report.version,
        failures=failures,
    )


@dataclass(frozen=True)
class PromotionVerdict:
    """What the gates said of a version about to take real traffic.

    ``outcome`` is ``none`` (no gates declared), ``passed``, ``failed`` or ``error`` (the
    gates could not run: ``error`` holds the reason, ``exception`` the error itself);
    ``report`` is the gate report when they ran.
    """

    outcome: str
    report: GateReport | None = None
    error: str | None = None
    exception: AcceptanceError | None = None


def judge_promotion(registry: Registry, version: ModelVersion) -> PromotionVerdict:
    """Run the gates of ``version`` before it goes to production or becomes the challenger.

    Every report is kept with the version; an error that kept the gates from running is
    kept by :func:`keep_gate_error` when the promotion goes ahead anyway. Deciding what to
    do with the verdict is the caller's (:func:`workbench.lifecycle.promotion.promote`).
    """
    try:
        gate = gate_for(version.name)
        if gate is None:
            return PromotionVerdict("none")
        report = evaluate(registry, gate, version, trigger="promote")
    except AcceptanceError as exc:
        return PromotionVerdict("error", error=str(exc), exception=exc)
    registry.store.add_gate_result(version.name, version.version, report.to_record())
    return PromotionVerdict("passed" if report.passed else "failed", report=report)


def keep_gate_error(registry: Registry, version: ModelVersion, error: str) -> None:
    """Keep with ``version`` that its gates could not run before a forced promotion, and why."""
    registry.store.add_gate_result(
        version.name,
        version.version,
        {
            "model": version.name,
            "version": version.version,
            "trigger": "promote",
            "passed": False,
            "error": error,
            "at": utc_now(),
            "by": current_user(),
        },
    )


__all__ = ["DISPLAY_LEVEL", "PromotionVerdict", "check", "evaluate", "judge_promotion", "keep_gate_error", "run_gates"]
