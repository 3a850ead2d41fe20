"""Runs and schedules in SQLite (``<home>/jobs.sqlite``), notebooks as files in the run folder."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench.errors import RunNotFoundError, StoreError
from workbench.fsutil import atomic_write_bytes
from workbench.jobs.run import Run
from workbench.jobs.schedule import Schedule
from workbench.jobs.store import RunStore
from workbench.names import validate_name

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, job TEXT NOT NULL, started_at TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_job ON runs (job, started_at);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at);
CREATE TABLE IF NOT EXISTS schedules (name TEXT PRIMARY KEY, data TEXT NOT NULL);
"""


class LocalRunStore(RunStore):
    """The embedded store: no server needed."""

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        home.mkdir(parents=True, exist_ok=True)
        self.path = home / "jobs.sqlite"
        init = sqlite3.connect(self.path, timeout=30)
        try:
            init.executescript(_SCHEMA)
        finally:
            init.close()
        with self._db() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was written by a newer workbench (schema {row[0]})",
                    hint="upgrade workbench",
                )

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def save_run(self, run: Run) -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?)",
                (run.run_id, run.job, run.started_at, json.dumps(run.to_dict())),
            )

    def get_run(self, run_id: str) -> Run:
        with self._db() as db:
            row = db.execute("SELECT data FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFoundError(f"no run {run_id!r}", run_id=run_id)
        return Run.from_dict(json.loads(row[0]))

    def list_runs(self, job: str | None = None, limit: int = 50) -> list[Run]:
        with self._db() as db:
            if job is None:
                rows = db.execute("SELECT data FROM runs ORDER BY started_at DESC LIMIT ?", (limit,)).fetchall()
            else:
                rows = db.execute(
                    "SELECT data FROM runs WHERE job = ? ORDER BY started_at DESC LIMIT ?", (job, limit)
                ).fetchall()
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
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO schedules VALUES (?, ?)", (schedule.name, json.dumps(schedule.to_dict()))
            )

    def get_schedule(self, name: str) -> Schedule | None:
        with self._db() as db:
            row = db.execute("SELECT data FROM schedules WHERE name = ?", (name,)).fetchone()
        return Schedule.from_dict(json.loads(row[0])) if row else None

    def list_schedules(self) -> list[Schedule]:
        with self._db() as db:
            rows = db.execute("SELECT data FROM schedules ORDER BY name").fetchall()
        return [Schedule.from_dict(json.loads(r[0])) for r in rows]

    def remove_schedule(self, name: str) -> bool:
        with self._db() as db:
            return db.execute("DELETE FROM schedules WHERE name = ?", (name,)).rowcount > 0


__all__ = ["LocalRunStore"]
