"""The loop store of the embedded backend: SQLite (WAL) at ``<home>/loop.sqlite3``.

Writes and claims run in ``BEGIN IMMEDIATE`` transactions, which serialise the processes of
one machine: the revision check, the lease check and the write happen in one transaction.
Leases expire by this machine's clock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from workbench.errors import LeaseLostError, StorageConflictError
from workbench.names import validate_name
from workbench.storage.loop_records import Lease, LoopEvent, LoopState
from workbench.storage.loop_store import SCHEMA_VERSION, LoopStore, check_owner, check_seconds
from workbench.storage.sqlite import SqliteDatabase

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS loop_states (model TEXT PRIMARY KEY, revision INTEGER NOT NULL, data TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS loop_events (
        model TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (model, seq)
    )""",
    "CREATE TABLE IF NOT EXISTS loop_leases (model TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)",
)


class LocalLoopStore(LoopStore):
    """Loop states, timelines and leases shared by the processes of one machine."""

    def __init__(self, home: Path) -> None:
        self.path = home / "loop.sqlite3"
        self.db = SqliteDatabase(
            self.path,
            what=f"the loop store {self.path}",
            schema=_SCHEMA,
            version=SCHEMA_VERSION,
            synchronous="FULL",
            busy_timeout=30.0,
        )

    def load(self, model: str) -> LoopState | None:
        rows = self.db.query("SELECT data FROM loop_states WHERE model = ?", (validate_name(model, "model name"),))
        return LoopState.from_dict(json.loads(rows[0][0])) if rows else None

    def states(self) -> list[LoopState]:
        rows = self.db.query("SELECT data FROM loop_states ORDER BY model")
        return [LoopState.from_dict(json.loads(row[0])) for row in rows]

    def events(self, model: str, *, after: int = 0, limit: int | None = None) -> list[LoopEvent]:
        rows = self.db.query(
            "SELECT data FROM loop_events WHERE model = ? AND seq > ? ORDER BY seq LIMIT ?",
            (validate_name(model, "model name"), after, -1 if limit is None else limit),
        )
        return [LoopEvent.from_dict(json.loads(row[0])) for row in rows]

    def write(self, expected: int, state: LoopState, events: Sequence[LoopEvent], owner: str | None) -> None:
        data = json.dumps(state.to_dict())
        rows = [(state.model, event.seq, json.dumps(event.to_dict())) for event in events]
        with self.db.transaction() as db:
            found = db.execute("SELECT revision FROM loop_states WHERE model = ?", (state.model,)).fetchone()
            stored = found[0] if found else 0
            if stored != expected:
                raise StorageConflictError(
                    f"the loop state of {state.model} changed since it was read (revision {stored}, not {expected})",
                    model=state.model,
                )
            if owner is not None:
                held = db.execute(
                    "SELECT 1 FROM loop_leases WHERE model = ? AND owner = ? AND expires_at > ?",
                    (state.model, owner, time.time()),
                ).fetchone()
                if held is None:
                    raise LeaseLostError(f"{owner} no longer holds the loop of {state.model}", model=state.model)
            db.execute("INSERT OR REPLACE INTO loop_states VALUES (?, ?, ?)", (state.model, state.revision, data))
            db.executemany("INSERT INTO loop_events VALUES (?, ?, ?)", rows)

    def claim(self, model: str, owner: str, seconds: float) -> bool:
        validate_name(model, "model name")
        check_owner(owner)
        seconds = check_seconds(seconds)
        with self.db.transaction() as db:
            now = time.time()
            found = db.execute("SELECT owner, expires_at FROM loop_leases WHERE model = ?", (model,)).fetchone()
            if found is not None and found[1] > now and found[0] != owner:
                return False
            db.execute("INSERT OR REPLACE INTO loop_leases VALUES (?, ?, ?)", (model, owner, now + seconds))
            return True

    def release(self, model: str, owner: str) -> bool:
        with self.db.transaction() as db:
            gone = db.execute(
                "DELETE FROM loop_leases WHERE model = ? AND owner = ? AND expires_at > ?", (model, owner, time.time())
            )
            return gone.rowcount > 0

    def lease(self, model: str) -> Lease | None:
        rows = self.db.query(
            "SELECT owner, expires_at FROM loop_leases WHERE model = ? AND expires_at > ?", (model, time.time())
        )
        return Lease(model, rows[0][0], rows[0][1]) if rows else None

    def close(self) -> None:
        self.db.close()


__all__ = ["LocalLoopStore"]
