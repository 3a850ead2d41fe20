"""The run store's contract: where runs, their output notebooks and schedules are kept.

The store is the one of the settings' backend (``local``, or ``redis://...`` for a team). A run's
working folder is always local (``<home>/runs/<run id>/``): the kernel writes its records
there and the output notebook is written there atomically; a shared store also keeps the
notebook's bytes so any machine can open it.

Several schedulers may share one store (``docs/scaling.md``): each due time of a schedule is
claimed once, atomically (:meth:`RunStore.claim_tick`), and the claimer holds the
schedule's lease while its run is alive, renewing it; a lease that expires names a run whose
scheduler stopped, handed to exactly one other scheduler (by a claim or by
:meth:`RunStore.take_expired`). Leases expire by the machine's clock (SQLite, memory) or
Redis's own (Redis).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from workbench.names import validate_name
from workbench.storage.loop_store import check_owner, check_seconds
from workbench.storage.run_records import Run
from workbench.storage.schedule_records import Schedule
from workbench.storage.tick_records import Claim, ScheduleLease, Tick


class RunStore(ABC):
    """Runs and schedules. Every method raises :class:`StorageUnavailableError` when the
    backend cannot be reached."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def run_dir(self, run_id: str) -> Path:
        """The local working folder of a run (created)."""
        folder = self.home / "runs" / validate_name(run_id, "run id")
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @abstractmethod
    def save_run(self, run: Run) -> None:
        """Create or replace the record of ``run`` (atomic)."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """The run; raises :class:`RunNotFoundError`."""

    @abstractmethod
    def list_runs(self, job: str | None = None, limit: int = 50) -> list[Run]:
        """Runs, newest first, of one job or of all."""

    @abstractmethod
    def save_output(self, run_id: str, notebook: bytes) -> None:
        """Keep the executed notebook's bytes (the local file is already written)."""

    @abstractmethod
    def load_output(self, run_id: str) -> bytes:
        """The executed notebook's bytes; raises :class:`RunNotFoundError`."""

    @abstractmethod
    def save_schedule(self, schedule: Schedule) -> None:
        """Create or replace a schedule."""

    @abstractmethod
    def get_schedule(self, name: str) -> Schedule | None: ...

    @abstractmethod
    def list_schedules(self) -> list[Schedule]: ...

    @abstractmethod
    def remove_schedule(self, name: str) -> bool:
        """True when a schedule was removed."""

    @abstractmethod
    def claim_tick(self, schedule: str, due: str, owner: str, run_id: str, seconds: float) -> Claim:
        """Record due time ``due`` of ``schedule`` once, atomically, and say what happened.

        Already recorded (by anyone): that tick, ``mine=False``. Else, when an unexpired lease
        on the schedule exists (its previous run is still going), the tick is recorded
        ``skipped`` naming that run. Else it is recorded ``claimed`` by ``owner`` for
        ``run_id``, and ``owner`` holds the schedule's lease for ``seconds``; an expired lease
        it replaced is returned as ``lost``. The newest :data:`TICKS_KEPT` ticks per schedule
        are kept.
        """

    @abstractmethod
    def renew_lease(self, schedule: str, owner: str, run_id: str, seconds: float) -> bool:
        """Extend ``owner``'s unexpired lease on ``schedule`` for ``run_id`` to ``seconds`` from now;
        False (nothing changed) when it expired or another holds it."""

    @abstractmethod
    def release_lease(self, schedule: str, owner: str, run_id: str) -> bool:
        """End ``owner``'s lease on ``schedule`` for ``run_id`` (its run ended); True when it held it."""

    @abstractmethod
    def take_expired(self) -> list[ScheduleLease]:
        """Remove every expired lease and return them: each to one caller only, so one
        scheduler marks each lost run."""

    @abstractmethod
    def leases(self) -> list[ScheduleLease]:
        """The unexpired leases, by schedule name."""

    @abstractmethod
    def ticks(self, schedule: str, limit: int = 100) -> list[Tick]:
        """The newest ``limit`` recorded ticks of ``schedule``, newest due time first."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def output_path(self, run_id: str) -> Path:
        """A local path of the executed notebook, fetched from the store when needed."""
        path = self.home / "runs" / validate_name(run_id, "run id") / "output.ipynb"
        if not path.is_file():
            from workbench.fsutil import atomic_write_bytes

            atomic_write_bytes(path, self.load_output(run_id))
        return path

    @staticmethod
    def check_claim(schedule: str, owner: str, run_id: str, seconds: float) -> float:
        """Refuse malformed claim arguments (:class:`StorageError`); the lease length in seconds."""
        validate_name(schedule, "schedule name")
        validate_name(run_id, "run id")
        check_owner(owner)
        return check_seconds(seconds)

    def require_run(self, run_id: str) -> Run:
        validate_name(run_id, "run id")
        return self.get_run(run_id)


__all__ = ["RunStore"]
