"""The loop store of the memory backend: states and events kept as the JSON a persistent store
would keep, leases by this process's clock, all behind one lock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence

from workbench.errors import LeaseLostError, StorageConflictError
from workbench.names import validate_name
from workbench.storage.loop_records import Lease, LoopEvent, LoopState
from workbench.storage.loop_store import LoopStore, check_owner, check_seconds


class MemoryLoopStore(LoopStore):
    """Loop states, timelines and leases of this process; gone when it ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, tuple[int, str]] = {}
        self._events: dict[str, list[str]] = {}
        self._leases: dict[str, tuple[str, float]] = {}

    def load(self, model: str) -> LoopState | None:
        validate_name(model, "model name")
        with self._lock:
            found = self._states.get(model)
        return LoopState.from_dict(json.loads(found[1])) if found else None

    def states(self) -> list[LoopState]:
        with self._lock:
            rows = [self._states[name][1] for name in sorted(self._states)]
        return [LoopState.from_dict(json.loads(row)) for row in rows]

    def events(self, model: str, *, after: int = 0, limit: int | None = None) -> list[LoopEvent]:
        validate_name(model, "model name")
        with self._lock:
            rows = list(self._events.get(model, []))[max(0, after) :]
        return [LoopEvent.from_dict(json.loads(row)) for row in rows[:limit]]

    def _holder(self, model: str, now: float) -> str | None:
        found = self._leases.get(model)
        return found[0] if found and found[1] > now else None

    def write(self, expected: int, state: LoopState, events: Sequence[LoopEvent], owner: str | None) -> None:
        data = json.dumps(state.to_dict())
        rows = [json.dumps(event.to_dict()) for event in events]
        with self._lock:
            stored = self._states.get(state.model, (0, ""))[0]
            if stored != expected:
                raise StorageConflictError(
                    f"the loop state of {state.model} changed since it was read (revision {stored}, not {expected})",
                    model=state.model,
                )
            if owner is not None and self._holder(state.model, time.time()) != owner:
                raise LeaseLostError(f"{owner} no longer holds the loop of {state.model}", model=state.model)
            self._states[state.model] = (state.revision, data)
            self._events.setdefault(state.model, []).extend(rows)

    def claim(self, model: str, owner: str, seconds: float) -> bool:
        validate_name(model, "model name")
        check_owner(owner)
        seconds = check_seconds(seconds)
        with self._lock:
            now = time.time()
            if self._holder(model, now) not in (None, owner):
                return False
            self._leases[model] = (owner, now + seconds)
            return True

    def release(self, model: str, owner: str) -> bool:
        with self._lock:
            if self._holder(model, time.time()) != owner:
                return False
            del self._leases[model]
            return True

    def lease(self, model: str) -> Lease | None:
        with self._lock:
            found = self._leases.get(model)
            if found is None or found[1] <= time.time():
                return None
        return Lease(model, found[0], found[1])


__all__ = ["MemoryLoopStore"]
