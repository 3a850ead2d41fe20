"""The loop store's contract: each model's loop state, its timeline of events, and the lease of the
process acting on it.

A killed loop resumes where it was because everything it knows is here. Two rules make
concurrent loops (two processes, a restarted one, a person's command) safe:

- **Conditional writes.** :meth:`LoopStore.commit` writes a state and appends its events in
  one atomic step, only if the stored state is still at the revision it was read at
  (:class:`StorageConflictError` otherwise), so no write is lost to a concurrent one.
- **Leases.** :meth:`LoopStore.claim` gives one owner a model for some seconds (taken when
  free or expired, renewed by its holder). A write made with ``owner=`` is refused with
  :class:`LeaseLostError` unless that owner still holds the lease, so a process that
  stalled past its lease cannot act after another took over (a fencing check in the same
  atomic step as the write).

Every method raises :class:`StorageUnavailableError` when the backend cannot be reached;
nothing is written then.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import replace

from workbench.errors import StorageError
from workbench.names import validate_name
from workbench.storage.loop_records import Lease, LoopEvent, LoopState, utc_now

SCHEMA_VERSION = 1
MAX_OWNER = 200


def check_owner(owner: str) -> str:
    """An owner names a process (``host:pid:token``); printable, at most :data:`MAX_OWNER` characters."""
    if not isinstance(owner, str) or not 0 < len(owner) <= MAX_OWNER or not owner.isprintable():
        raise StorageError(f"a lease owner must be 1 to {MAX_OWNER} printable characters, not {owner!r}")
    return owner


def check_seconds(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds <= 86_400:
        raise StorageError(f"a lease lasts more than 0 and at most 86400 seconds, not {seconds!r}")
    return float(seconds)


class LoopStore(ABC):
    """States, timelines and leases of model loops; see the module docstring."""

    @abstractmethod
    def load(self, model: str) -> LoopState | None:
        """The stored state of ``model``'s loop, ``None`` when it was never written."""

    @abstractmethod
    def states(self) -> list[LoopState]:
        """Every stored state, by model name."""

    @abstractmethod
    def events(self, model: str, *, after: int = 0, limit: int | None = None) -> list[LoopEvent]:
        """``model``'s events numbered above ``after``, oldest first, at most ``limit``."""

    @abstractmethod
    def write(self, expected: int, state: LoopState, events: Sequence[LoopEvent], owner: str | None) -> None:
        """Primitive of :meth:`commit`: atomically store ``state`` and append ``events`` (already
        numbered) if the stored revision is ``expected`` (0: no stored state) and, with ``owner``,
        that owner holds an unexpired lease on the model. Raises :class:`StorageConflictError` or
        :class:`LeaseLostError` otherwise, writing nothing."""

    @abstractmethod
    def claim(self, model: str, owner: str, seconds: float) -> bool:
        """Give ``model`` to ``owner`` for ``seconds`` when no one else holds an unexpired lease on it
        (a holder renews its own); True when ``owner`` holds it afterwards. Atomic."""

    @abstractmethod
    def release(self, model: str, owner: str) -> bool:
        """End ``owner``'s lease on ``model`` now; True when it held one."""

    @abstractmethod
    def lease(self, model: str) -> Lease | None:
        """Who holds ``model`` now and until when; ``None`` when no unexpired lease exists."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the store must not be used afterwards."""

    def commit(
        self, state: LoopState, events: Sequence[LoopEvent] = (), *, owner: str | None = None
    ) -> tuple[LoopState, list[LoopEvent]]:
        """Write ``state`` and append ``events``, conditional on the revision ``state`` was read at.

        Returns the state as stored (revision and event count advanced, ``updated_at`` set)
        and the events as numbered. With ``owner``, the write also needs that owner's lease.
        """
        validate_name(state.model, "model name")
        if owner is not None:
            check_owner(owner)
        numbered = [
            replace(event, model=state.model, seq=state.events + i) for i, event in enumerate(events, start=1)
        ]
        written = replace(state, revision=state.revision + 1, events=state.events + len(numbered), updated_at=utc_now())
        self.write(state.revision, written, numbered, owner)
        return written, numbered

    def state(self, model: str) -> LoopState:
        """The stored state of ``model``, or a fresh one (revision 0) when none was written."""
        return self.load(model) or LoopState(model=validate_name(model, "model name"))


__all__ = ["MAX_OWNER", "SCHEMA_VERSION", "LoopStore", "check_owner", "check_seconds"]
