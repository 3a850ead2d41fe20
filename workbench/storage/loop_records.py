"""The records of the loop store: where one model's loop stands (:class:`LoopState`), one entry
of its timeline (:class:`LoopEvent`) and who acts on it now (:class:`Lease`).

The store keeps them as plain JSON; what the fields mean is the loop's
(:mod:`workbench.lifecycle.loop`). A state carries its ``revision`` (how many times it was
written) and ``events`` (how many timeline entries the model has), so a write can be made
conditional on nothing having changed since the state was read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from workbench.names import validate_name

PHASES: tuple[str, ...] = ("idle", "retraining", "gating", "challenging", "deciding")
"""Where a model's loop stands: watching its triggers, waiting for a training job, judging the
retrained version with the gates, comparing a challenger online, carrying out a decision."""

EVENT_KINDS: tuple[str, ...] = (
    "trigger",  # a trigger fired (evidence: which, with its figures)
    "retrain",  # a training job started (run id, parameters, dataset version)
    "retrained",  # the job registered a version (version, lineage, offline metrics)
    "retrain_failed",  # the job failed or registered nothing (reason, error)
    "gate",  # the acceptance gates judged the retrained version (outcome, report)
    "challenger",  # the version answers a share of traffic against production
    "decision",  # promote or retire, with the A/B evidence (or who forced it)
    "promoted",  # the challenger became production
    "retired",  # the challenger was archived, production untouched
    "ended",  # the challenge ended outside the loop (a person promoted or archived a version)
    "paused",
    "resumed",
    "requested",  # a person asked for a decision or a rollback
    "rolled_back",  # production went back to the version it replaced
)


def utc_now() -> str:
    """The current time as an ISO 8601 string in UTC, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class LoopState:
    """Where the loop of model ``model`` stands; every field but the first three is the loop's.

    ``revision`` counts the writes of this state (0: never written) and ``events`` the
    model's timeline entries; both are set by the store. ``phase`` is one of :data:`PHASES`;
    ``paused`` says who paused the loop and why (``None`` when it runs); ``retrain``,
    ``challenger``, ``decision`` and ``request`` describe the step in progress and a person's
    pending request; ``evidence`` is the newest A/B comparison.
    """

    model: str
    revision: int = 0
    events: int = 0
    phase: str = "idle"
    paused: dict[str, Any] | None = None
    cooldown_until: str | None = None
    data_seen: str | None = None
    cron_last: str | None = None
    retrain: dict[str, Any] | None = None
    challenger: dict[str, Any] | None = None
    decision: dict[str, Any] | None = None
    request: dict[str, Any] | None = None
    evidence: dict[str, Any] | None = None
    last_trigger: dict[str, Any] | None = None
    updated_at: str | None = None

    def __post_init__(self) -> None:
        validate_name(self.model, "model name")
        if self.phase not in PHASES:
            raise ValueError(f"unknown loop phase {self.phase!r}; phases are {', '.join(PHASES)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopState:
        """A state from stored JSON; keys written by a newer workbench are ignored."""
        return cls(**_known(cls, data))

    def evolve(self, **changes: Any) -> LoopState:
        """A copy with ``changes``: what the loop writes back, conditional on this state's revision."""
        return replace(self, **changes)


@dataclass(frozen=True)
class LoopEvent:
    """One entry of a model's timeline: what happened (``kind``, one of :data:`EVENT_KINDS`), when,
    by whom, a one-line ``summary`` and the ``evidence`` it was decided on (plain JSON).

    ``seq`` numbers a model's events from 1 in the order they were written; the store sets it.
    """

    model: str
    kind: str
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    by: str = ""
    at: str = field(default_factory=utc_now)
    seq: int = 0

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown loop event kind {self.kind!r}; kinds are {', '.join(EVENT_KINDS)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopEvent:
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class Lease:
    """Model ``model``'s loop is acted on by ``owner`` until ``expires_at`` (Unix time)."""

    model: str
    owner: str
    expires_at: float


__all__ = ["EVENT_KINDS", "PHASES", "Lease", "LoopEvent", "LoopState", "utc_now"]
