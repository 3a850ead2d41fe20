"""The run store of the memory backend: records kept as the JSON a persistent store would keep
(so a record that could not be stored is refused here too), output notebooks as bytes."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from workbench.errors import RunNotFoundError
from workbench.storage.run_records import Run
from workbench.storage.run_store import RunStore
from workbench.storage.schedule_records import Schedule
from workbench.storage.tick_records import TICKS_KEPT, Claim, ScheduleLease, Tick


class MemoryRunStore(RunStore):
    """Runs and schedules of this process, guarded by one lock; gone when the process ends."""

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self._lock = threading.Lock()
        self._runs: dict[str, str] = {}
        self._outputs: dict[str, bytes] = {}
        self._schedules: dict[str, str] = {}
        self._ticks: dict[str, dict[str, Tick]] = {}
        self._leases: dict[str, ScheduleLease] = {}

    def save_run(self, run: Run) -> None:
        with self._lock:
            self._runs[run.run_id] = json.dumps(run.to_dict())

    def get_run(self, run_id: str) -> Run:
        with self._lock:
            found = self._runs.get(run_id)
        if found is None:
            raise RunNotFoundError(f"no run {run_id!r}", run_id=run_id)
        return Run.from_dict(json.loads(found))

    def list_runs(self, job: str | None = None, limit: int = 50) -> list[Run]:
        with self._lock:
            runs = [Run.from_dict(json.loads(data)) for data in self._runs.values()]
        chosen = [r for r in runs if job is None or r.job == job]
        return sorted(chosen, key=lambda r: r.started_at, reverse=True)[:limit]

    def save_output(self, run_id: str, notebook: bytes) -> None:
        with self._lock:
            self._outputs[run_id] = bytes(notebook)

    def load_output(self, run_id: str) -> bytes:
        with self._lock:
            found = self._outputs.get(run_id)
        if found is None:
            raise RunNotFoundError(f"run {run_id!r} has no output notebook", run_id=run_id)
        return found

    def save_schedule(self, schedule: Schedule) -> None:
        with self._lock:
            self._schedules[schedule.name] = json.dumps(schedule.to_dict())

    def get_schedule(self, name: str) -> Schedule | None:
        with self._lock:
            found = self._schedules.get(name)
        return Schedule.from_dict(json.loads(found)) if found is not None else None

    def list_schedules(self) -> list[Schedule]:
        with self._lock:
            return [Schedule.from_dict(json.loads(self._schedules[name])) for name in sorted(self._schedules)]

    def remove_schedule(self, name: str) -> bool:
        with self._lock:
            return self._schedules.pop(name, None) is not None

    def claim_tick(self, schedule: str, due: str, owner: str, run_id: str, seconds: float) -> Claim:
        seconds = self.check_claim(schedule, owner, run_id, seconds)
        with self._lock:
            now = time.time()
            ticks = self._ticks.setdefault(schedule, {})
            if due in ticks:
                return Claim(ticks[due], mine=False)
            held = self._leases.get(schedule)
            if held is not None and held.expires_at > now:
                tick = Tick(schedule, due, "skipped", owner, held.run_id, now)
                lost = None
            else:
                tick = Tick(schedule, due, "claimed", owner, run_id, now)
                self._leases[schedule] = ScheduleLease(schedule, owner, run_id, due, now + seconds)
                lost = held
            ticks[due] = tick
            for old in sorted(ticks)[:-TICKS_KEPT]:
                del ticks[old]
            return Claim(tick, mine=True, lost=lost)

    def renew_lease(self, schedule: str, owner: str, run_id: str, seconds: float) -> bool:
        seconds = self.check_claim(schedule, owner, run_id, seconds)
        with self._lock:
            held = self._leases.get(schedule)
            now = time.time()
            if held is None or (held.owner, held.run_id) != (owner, run_id) or held.expires_at <= now:
                return False
            self._leases[schedule] = ScheduleLease(schedule, owner, run_id, held.due, now + seconds)
            return True

    def release_lease(self, schedule: str, owner: str, run_id: str) -> bool:
        with self._lock:
            held = self._leases.get(schedule)
            if held is None or (held.owner, held.run_id) != (owner, run_id) or held.expires_at <= time.time():
                return False
            del self._leases[schedule]
            return True

    def take_expired(self) -> list[ScheduleLease]:
        with self._lock:
            now = time.time()
            gone = [lease for lease in self._leases.values() if lease.expires_at <= now]
            for lease in gone:
                del self._leases[lease.schedule]
        return sorted(gone, key=lambda lease: lease.schedule)

    def leases(self) -> list[ScheduleLease]:
        with self._lock:
            now = time.time()
            return sorted((x for x in self._leases.values() if x.expires_at > now), key=lambda x: x.schedule)

    def ticks(self, schedule: str, limit: int = 100) -> list[Tick]:
        with self._lock:
            ticks = self._ticks.get(schedule, {})
            return [ticks[due] for due in sorted(ticks, reverse=True)[:limit]]


__all__ = ["MemoryRunStore"]
