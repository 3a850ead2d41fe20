"""The records of claimed schedule ticks: which scheduler took a due time of a schedule
(:class:`Tick`), who runs a schedule now and until when (:class:`ScheduleLease`), and what a
claim found (:class:`Claim`).

Several schedulers on one store agree through them (see :meth:`RunStore.claim_tick`): a due
time is recorded once, by the first scheduler to claim it, as ``claimed`` (that scheduler
runs it) or ``skipped`` (the schedule's previous run was still going: the overlap rule).
A scheduler holds a schedule's lease while its run is alive and renews it; a lease that
expires names a run whose scheduler stopped (killed, frozen, cut off), which the next
claim or sweep hands back to be marked ``runner_lost``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

TICK_OUTCOMES = ("claimed", "skipped")
TICKS_KEPT = 1_000
"""Ticks kept per schedule (the newest due times); a due time older than these is never due again."""


@dataclass(frozen=True)
class Tick:
    """Due time ``due`` (ISO, UTC) of ``schedule``, recorded once by scheduler ``owner`` at ``at`` (Unix time).

    ``run_id`` is the run started for it (``claimed``) or the run that was still going
    (``skipped``).
    """

    schedule: str
    due: str
    outcome: str
    owner: str
    run_id: str | None
    at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tick:
        fields: dict[str, Any] = {k: data.get(k) for k in cls.__dataclass_fields__}
        return cls(**fields)


@dataclass(frozen=True)
class ScheduleLease:
    """Scheduler ``owner`` runs ``run_id`` (due at ``due``) of ``schedule`` until ``expires_at`` (Unix time)
    unless it renews the lease."""

    schedule: str
    owner: str
    run_id: str
    due: str
    expires_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScheduleLease:
        fields: dict[str, Any] = {k: data.get(k) for k in cls.__dataclass_fields__}
        return cls(**fields)


@dataclass(frozen=True)
class Claim:
    """What :meth:`RunStore.claim_tick` did.

    ``tick`` is the recorded tick (this call's or an earlier one's); ``mine`` says this call
    recorded it; ``lost`` is an expired lease this claim replaced: its run's scheduler stopped
    before the run ended, and it is handed to this caller alone.
    """

    tick: Tick
    mine: bool
    lost: ScheduleLease | None = None

    @property
    def run(self) -> bool:
        """True when the caller must start the run: it recorded the tick as claimed."""
        return self.mine and self.tick.outcome == "claimed"


__all__ = ["TICKS_KEPT", "TICK_OUTCOMES", "Claim", "ScheduleLease", "Tick"]
