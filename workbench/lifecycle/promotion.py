"""Promotion: moving a model version to another stage, through the acceptance gates when it
would answer real traffic (production, challenger).

``wb.promote``, ``workbench promote`` and the loop call :func:`promote`; it runs the gates,
asks the registry to record the stage change (the registry records, it does not judge) and
returns a :class:`PromotionResult`: the decision, the gate report, whether it was forced,
and the model's stage history afterwards.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from workbench.acceptance.gates import check, judge_promotion, keep_gate_error
from workbench.registry.api import GATED_STAGES, Registry, default_registry
from workbench.storage.model_records import ModelVersion, PromotionEvent, validate_stage
from workbench.storage.model_store import check_weight

if TYPE_CHECKING:
    from workbench.acceptance.report import GateReport

DECISIONS = ("promoted", "refused", "unchanged")


@dataclass(frozen=True)
class PromotionResult:
    """What a promotion decided and why.

    ``decision`` is ``promoted`` (the stage changed, or a challenger's weight), ``refused``
    (the gates failed or could not run, without ``force``) or ``unchanged`` (the version
    was already there). ``gate`` is the gates' outcome (``passed``, ``failed``, ``error``,
    ``none`` when the model declares no gates), ``None`` when the stage needs no gates or
    nothing changed; ``report`` their report when they ran, ``error`` why they could not.
    ``model_version`` is the version as it stands afterwards and ``history`` the model's
    stage changes, oldest first.
    """

    name: str
    version: int
    requested: str
    decision: str
    model_version: ModelVersion
    history: list[PromotionEvent] = field(default_factory=list)
    gate: str | None = None
    forced: bool = False
    weight: float | None = None
    report: GateReport | None = None
    error: str | None = None

    @property
    def stage(self) -> str:
        """The version's stage afterwards (its old stage when refused)."""
        return self.model_version.stage

    @property
    def promoted(self) -> bool:
        return self.decision == "promoted"

    def summary(self) -> str:
        """One line, as ``workbench promote`` prints it."""
        who = f"{self.name} v{self.version}"
        if self.decision == "refused":
            why = f"the acceptance gates {self.gate}" + (f": {self.error}" if self.error else "")
            return f"{who} was not promoted to {self.requested}: {why}"
        if self.decision == "unchanged":
            return f"{who} is already {self.stage}"
        share = f", taking {self.weight:g} of the traffic" if self.requested == "challenger" else ""
        said = ""
        if self.gate not in (None, "none"):
            forced = "; promoted with --force, recorded in the history" if self.forced and self.gate != "passed" else ""
            said = f" (acceptance gates {self.gate}{forced})"
        return f"{who} is now {self.stage}{share}{said}"

    def __str__(self) -> str:
        if self.report is not None and self.decision == "refused":
            return f"{self.summary()}\n{self.report}"
        return self.summary()

    def _repr_html_(self) -> str:
        line = f"<p class='workbench-promotion'>{html.escape(self.summary())}</p>"
        return line + (self.report._repr_html_() if self.report is not None else "")

    def to_record(self) -> dict[str, Any]:
        """Plain JSON: what a front end (the Lab panel, the loop's record) shows of it."""
        return {
            "name": self.name,
            "version": self.version,
            "requested": self.requested,
            "decision": self.decision,
            "stage": self.stage,
            "gate": self.gate,
            "forced": self.forced,
            "weight": self.weight,
            "error": self.error,
            "summary": self.summary(),
            "report": self.report.to_record() if self.report is not None else None,
            "history": [event.to_record() for event in self.history],
        }


def promote(
    name: str,
    version: int,
    stage: str,
    *,
    force: bool = False,
    weight: float | None = None,
    action: str = "promote",
    registry: Registry | None = None,
    raise_on_refusal: bool = True,
) -> PromotionResult:
    """Move ``version`` of ``name`` to ``stage``; production and challenger pass the acceptance gates first.

    The gates are those of ``[tool.workbench.acceptance.NAME]`` in the nearest pyproject.toml;
    each run is kept with the version. When they fail, or cannot run, the promotion is
    refused: :class:`GateFailedError` (or the error that kept the gates from running) is
    raised, or, with ``raise_on_refusal=False``, a result whose decision is ``refused`` is
    returned. ``force=True`` promotes anyway; the history records the gates' outcome and the
    bypass. A challenger takes ``weight``, its share of traffic in (0, 1); promoting another
    archives the previous challenger, and promoting the current one again changes only its
    weight (judged once, when it became the challenger). The registry is the one of the
    current settings unless given.
    """
    registry = registry or default_registry()
    validate_stage(stage)
    target = registry.get(name, version=version)
    if stage not in GATED_STAGES or (stage == target.stage == "challenger"):
        return _recorded(registry, target, stage, weight=weight, action=action)
    if target.stage == stage:
        return _result(registry, target, stage, "unchanged")
    check_weight(name, version, stage, weight)  # a bad weight is refused before the gates spend time
    verdict = judge_promotion(registry, target)
    if verdict.outcome in ("failed", "error") and not force:
        if raise_on_refusal:
            if verdict.exception is not None:
                raise verdict.exception
            assert verdict.report is not None
            check(verdict.report)
        return _result(
            registry, target, stage, "refused", gate=verdict.outcome, report=verdict.report, error=verdict.error
        )
    if verdict.outcome == "error":
        keep_gate_error(registry, target, str(verdict.error))
    moved = registry.record_stage(
        name, version, stage, action=action, gate=verdict.outcome, forced=force, weight=weight
    )
    return _result(
        registry,
        moved,
        stage,
        "promoted",
        gate=verdict.outcome,
        forced=force,
        weight=weight,
        report=verdict.report,
        error=verdict.error,
    )


def _recorded(
    registry: Registry, target: ModelVersion, stage: str, *, weight: float | None, action: str
) -> PromotionResult:
    """A stage change the gates do not judge (dev, staging, archived; a challenger's new weight)."""
    changes = len(registry.history(target.name))
    moved = registry.record_stage(target.name, target.version, stage, action=action, weight=weight)
    result = _result(registry, moved, stage, "promoted", weight=weight)
    return result if len(result.history) > changes else replace(result, decision="unchanged")


def _result(registry: Registry, target: ModelVersion, stage: str, decision: str, **facts: Any) -> PromotionResult:
    return PromotionResult(
        name=target.name,
        version=target.version,
        requested=stage,
        decision=decision,
        model_version=target,
        history=registry.history(target.name),
        **facts,
    )


def register(
    model: Any,
    name: str,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    eval_data: tuple[Any, Any] | None = None,
    stage: str = "dev",
    *,
    format: str | None = None,
    onnx: bool = False,
) -> ModelVersion:
    """Register ``model`` as the next version of ``name`` (see :meth:`Registry.register`).

    ``stage="production"`` or ``"challenger"`` registers it, then promotes it through the
    acceptance gates (:func:`promote`), which refuse with :class:`GateFailedError` and leave
    it registered in dev.
    """
    registry = default_registry()
    direct = stage if stage not in GATED_STAGES else "dev"
    registered = registry.register(model, name, metrics, params, tags, eval_data, direct, format=format, onnx=onnx)
    if direct == stage:
        return registered
    return promote(name, registered.version, stage, action="register", registry=registry).model_version


__all__ = ["DECISIONS", "PromotionResult", "promote", "register"]
