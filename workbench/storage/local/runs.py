"""The run store of the embedded backend: runs and schedules in SQLite (``<home>/jobs.sqlite``),
output notebooks as files in each run's folder."""

from __future__ import annotations

import json
import time
from pathlib import Path

from workbench.errors import RunNotFoundError
from workbench.fsutil import atomic_write_bytes
from workbench.names import validate_name
from workbench.storage.run_records import Run
from workbench.storage.run_store import RunStore
from workbench.storage.schedule_records import Schedule
from workbench.storage.sqlite import SqliteDatabase
from workbench.storage.tick_records import TICKS_KEPT, Claim, ScheduleLease, Tick

SCHEMA_VERSION = 2  # 2: schedule_ticks and schedule_leases (several schedulers on one store)
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY, job TEXT NOT NULL, started_at TEXT NOT NULL, data TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS runs_by_job ON runs (job, started_at)",
    "CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at)",
    "CREATE TABLE IF NOT EXISTS schedules (name TEXT PRIMARY KEY, data TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS schedule_ticks (
        schedule TEXT NOT NULL, due TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (schedule, due)
    )""",
    """CREATE TABLE IF NOT EXISTS schedule_leases (
        schedule TEXT PRIMARY KEY, owner TEXT NOT NULL, run_id TEXT NOT NULL, due TEXT NOT NULL,
        expires_at REAL NOT NULL
    )""",
)

_LEASE_COLUMNS = "schedule, owner, run_id, due, expires_at"


class LocalRunStore(RunStore):
    """The embedded run store: no server needed; safe for many processes on one machine."""

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.path = home / "jobs.sqlite"
        self.db = SqliteDatabase(
            self.path,
            what=f"the run store {self.path}",
            schema=_SCHEMA,
            version=SCHEMA_VERSION,
            synchronous="FULL",
            busy_timeout=30.0,
        )

    def save_run(self, run: Run) -> None:
        with self.db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?)",
                (run.run_id, run.job, run.started_at, json.dumps(run.to_dict())),
            )

    def get_run(self, run_id: str) -> Run:
        rows = self.db.query("SELECT data FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            raise RunNotFoundError(f"no run {run_id!r}", run_id=run_id)
        return Run.from_dict(json.loads(rows[0][0]))

    def list_runs(self, job: str | None = None, limit: int = 50) -> list[Run]:
        if job is None:
            rows = self.db.query("SELECT data FROM runs ORDER BY started_at DESC LIMIT ?", (limit,))
        else:
            rows = self.db.query(
                "SELECT data FROM runs WHERE job = ? ORDER BY started_at DESC LIMIT ?", (job, limit)
            )
        return [Run.from_dict(json.loads(r[0])) for r in rows]

    def save_output(self, run_id: str, notebook: bytes) -> None:
        path = self.run_dir(run_id) / "output.ipynb"
        if not path.is_file() or path.read_bytes() != notebook:
            atomic_write_bytes(path, notebook)

    def load_output(self, run_id: str) -> bytes:
        path = self.home / "runs" / validate_name(run_id, "run id") / "output.ipynb"
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise RunNotFoundError(f"run {run_id!r} has no output notebook", run_id=run_id) from None

    def save_schedule(self, schedule: Schedule) -> None:
        with self.db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO schedules VALUES (?, ?)", (schedule.name, json.dumps(schedule.to_dict()))
            )

    def get_schedule(self, name: str) -> Schedule | None:
        rows = self.db.query("SELECT data FROM schedules WHERE name = ?", (name,))
        return Schedule.from_dict(json.loads(rows[0][0])) if rows else None

    def list_schedules(self) -> list[Schedule]:
        rows = self.db.query("SELECT data FROM schedules ORDER BY name")
        return [Schedule.from_dict(json.loads(r[0])) for r in rows]

    def remove_schedule(self, name: str) -> bool:
        with self.db.transaction() as db:
            return db.execute("DELETE FROM schedules WHERE name = ?", (name,)).rowcount > 0

    def claim_tick(self, schedule: str, due: str, owner: str, run_id: str, seconds: float) -> Claim:
        seconds = self.check_claim(schedule, owner, run_id, seconds)
        with self.db.transaction() as db:  # BEGIN IMMEDIATE: one claimer at a time on this machine
            now = time.time()
            found = db.execute("SELECT data FROM schedule_ticks WHERE schedule = ? AND due = ?", (schedule, due))
            row = found.fetchone()
            if row is not None:
                return Claim(Tick.from_dict(json.loads(row[0])), mine=False)
            held_row = db.execute(f"SELECT {_LEASE_COLUMNS} FROM schedule_leases WHERE schedule = ?", (schedule,))
            found_lease = held_row.fetchone()
            held = ScheduleLease(*found_lease) if found_lease else None
            lost = None
            if held is not None and held.expires_at > now:
                tick = Tick(schedule, due, "skipped", owner, held.run_id, now)
            else:
                tick = Tick(schedule, due, "claimed", owner, run_id, now)
                db.execute(
                    "INSERT OR REPLACE INTO schedule_leases VALUES (?, ?, ?, ?, ?)",
                    (schedule, owner, run_id, due, now + seconds),
                )
                lost = held
            db.execute("INSERT INTO schedule_ticks VALUES (?, ?, ?)", (schedule, due, json.dumps(tick.to_dict())))
            db.execute(
                "DELETE FROM schedule_ticks WHERE schedule = ? AND due NOT IN "
                "(SELECT due FROM schedule_ticks WHERE schedule = ? ORDER BY due DESC LIMIT ?)",
                (schedule, schedule, TICKS_KEPT),
            )
            return Claim(tick, mine=True, lost=lost)

    def renew_lease(self, schedule: str, owner: str, run_id: str, seconds: float) -> bool:
        seconds = self.check_claim(schedule, owner, run_id, seconds)
        with self.db.transaction() as db:
            now = time.time()
            renewed = db.execute(
                "UPDATE schedule_leases SET expires_at = ? "
                "WHERE schedule = ? AND owner = ? AND run_id = ? AND expires_at > ?",
                (now + seconds, schedule, owner, run_id, now),
            )
            return renewed.rowcount > 0

    def release_lease(self, schedule: str, owner: str, run_id: str) -> bool:
        with self.db.transaction() as db:
            gone = db.execute(
                "DELETE FROM schedule_leases WHERE schedule = ? AND owner = ? AND run_id = ? AND expires_at > ?",
                (schedule, owner, run_id, time.time()),
            )
            return gone.rowcount > 0

    def take_expired(self) -> list[ScheduleLease]:
        with self.db.transaction() as db:
            now = time.time()
            rows = db.execute(
                f"SELECT {_LEASE_COLUMNS} FROM schedule_leases WHERE expires_at <= ? ORDER BY schedule", (now,)
            ).fetchall()
            db.execute("DELETE FROM schedule_leases WHERE expires_at <= ?", (now,))
        return [ScheduleLease(*row) for row in rows]

    def leases(self) -> list[ScheduleLease]:
        rows = self.db.query(
            f"SELECT {_LEASE_COLUMNS} FROM schedule_leases WHERE expires_at > ? ORDER BY schedule", (time.time(),)
        )
        return [ScheduleLease(*row) for row in rows]

    def ticks(self, schedule: str, limit: int = 100) -> list[Tick]:
        rows = self.db.query(
            "SELECT data FROM schedule_ticks WHERE schedule = ? ORDER BY due DESC LIMIT ?", (schedule, limit)
        )
        return [Tick.from_dict(json.loads(row[0])) for row in rows]

    def close(self) -> None:
        self.db.close()


__all__ = ["LocalRunStore"]
