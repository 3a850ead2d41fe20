"""The prediction store of the embedded backend: SQLite (WAL) at ``<home>/serving/predictions.sqlite3``,
shared by the processes of one machine."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

from workbench.errors import StorageUnavailableError
from workbench.storage.prediction_store import (
    FEEDBACK_KINDS,
    SCHEMA_VERSION,
    FeedbackResult,
    Group,
    Labelled,
    PredictionRecord,
    PredictionStore,
    Retention,
    label_text,
)
from workbench.storage.replica_records import ReplicaReport
from workbench.storage.sqlite import SqliteDatabase

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS replicas (replica TEXT PRIMARY KEY, expires_at REAL NOT NULL, data TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS predictions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        arm TEXT NOT NULL,
        features_sha256 TEXT NOT NULL,
        prediction TEXT NOT NULL,
        at REAL NOT NULL,
        latency_ms REAL NOT NULL,
        labelled INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS predictions_at ON predictions (at)",
    """CREATE TABLE IF NOT EXISTS labels (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        arm TEXT NOT NULL,
        truth TEXT NOT NULL,
        predicted TEXT NOT NULL,
        at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS labels_group ON labels (name, version, arm, seq)",
    """CREATE TABLE IF NOT EXISTS feature_rows (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        at REAL NOT NULL,
        row TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS feature_rows_group ON feature_rows (name, version, seq)",
    """CREATE TABLE IF NOT EXISTS feedback_counts (
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (name, kind)
    )""",
)


_ROWS_PER_INSERT = 100
"""Rows per INSERT statement (at most 8 values each: within SQLite's 999 bound variables)."""


def _insert(conn: sqlite3.Connection, head: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert ``rows`` with ``head`` (``INSERT ... VALUES ``), many rows per statement.

    ``executemany`` runs one statement per row, and Python's sqlite3 lets go of the
    interpreter lock around each: a server's event loop and its log writer handed the lock
    back and forth for every logged row. A statement of many rows lets go once.
    """
    if not rows:
        return
    one = "(" + ", ".join("?" * len(rows[0])) + ")"
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        conn.execute(head + ", ".join([one] * len(chunk)), list(chain.from_iterable(chunk)))


class LocalPredictionStore(PredictionStore):
    """SQLite (WAL) in one folder; safe for many processes of one machine."""

    def __init__(self, folder: Path, retention: Retention) -> None:
        super().__init__(retention)
        self.path = folder / "predictions.sqlite3"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailableError(f"cannot create the prediction log in {folder}: {exc}") from exc
        self.db = SqliteDatabase(
            self.path,
            what=f"the prediction log {self.path}",
            schema=_SCHEMA,
            version=SCHEMA_VERSION,
            synchronous="NORMAL",
            busy_timeout=30.0,
        )

    def append(self, records: Sequence[PredictionRecord]) -> None:
        if not records:
            return
        rows = [
            (r.request_id, r.name, r.version, r.arm, r.features_sha256, label_text(r.prediction), r.at, r.latency_ms)
            for r in records
        ]
        with self.db.transaction() as conn:
            _insert(
                conn,
                "INSERT OR IGNORE INTO predictions (request_id, name, version, arm, features_sha256, prediction, at, "
                "latency_ms) VALUES ",
                rows,
            )
            conn.execute("DELETE FROM predictions WHERE at < ?", (time.time() - self.retention.max_age_s,))
            conn.execute(
                "DELETE FROM predictions WHERE seq <= (SELECT MAX(seq) FROM predictions) - ?",
                (self.retention.max_predictions,),
            )

    def observe_features(self, name: str, version: int, rows: Sequence[Sequence[float]]) -> None:
        if not rows:
            return
        now = time.time()
        kept = self.retention.drift_rows
        with self.db.transaction() as conn:
            _insert(
                conn,
                "INSERT INTO feature_rows (name, version, at, row) VALUES ",
                [(name, version, now, json.dumps([float(x) for x in row])) for row in rows[-kept:]],
            )
            conn.execute(
                "DELETE FROM feature_rows WHERE name = ? AND version = ? AND (at < ? OR seq <= (SELECT seq FROM "
                "feature_rows WHERE name = ? AND version = ? ORDER BY seq DESC LIMIT 1 OFFSET ?))",
                (name, version, now - self.retention.max_age_s, name, version, kept),
            )

    def label(self, name: str, pairs: Iterable[tuple[str, Any]]) -> FeedbackResult:
        counts = dict.fromkeys(FEEDBACK_KINDS, 0)
        now = time.time()
        touched: set[Group] = set()
        with self.db.transaction() as conn:
            for request_id, label in pairs:
                found = conn.execute(
                    "SELECT name, version, arm, prediction, labelled FROM predictions WHERE request_id = ?",
                    (request_id,),
                ).fetchone()
                if found is None or found[0] != name:
                    counts["unknown"] += 1
                    continue
                if found[4]:
                    counts["duplicate"] += 1
                    continue
                conn.execute("UPDATE predictions SET labelled = 1 WHERE request_id = ?", (request_id,))
                conn.execute(
                    "INSERT INTO labels (name, version, arm, truth, predicted, at) VALUES (?, ?, ?, ?, ?, ?)",
                    (name, found[1], found[2], label_text(label), found[3], now),
                )
                touched.add((name, found[1], found[2]))
                counts["accepted"] += 1
            for group in touched:
                conn.execute(
                    "DELETE FROM labels WHERE name = ? AND version = ? AND arm = ? AND (at < ? OR seq <= (SELECT seq "
                    "FROM labels WHERE name = ? AND version = ? AND arm = ? ORDER BY seq DESC LIMIT 1 OFFSET ?))",
                    (*group, now - self.retention.max_age_s, *group, self.retention.max_labels),
                )
            conn.executemany(
                "INSERT INTO feedback_counts (name, kind, n) VALUES (?, ?, ?) "
                "ON CONFLICT (name, kind) DO UPDATE SET n = n + excluded.n",
                [(name, kind, n) for kind, n in counts.items() if n],
            )
        return FeedbackResult(counts["accepted"], counts["unknown"], counts["duplicate"])

    def feedback_counts(self) -> dict[tuple[str, str], int]:
        return {(name, kind): int(n) for name, kind, n in self.db.query("SELECT name, kind, n FROM feedback_counts")}

    def labelled(self, name: str | None, window: int, since: float) -> dict[Group, list[Labelled]]:
        where, params = ("WHERE name = ?", [name]) if name is not None else ("", [])
        groups = self.db.query(f"SELECT DISTINCT name, version, arm FROM labels {where}", params)
        found: dict[Group, list[Labelled]] = {}
        for model, version, arm in groups:
            rows = self.db.query(
                "SELECT truth, predicted, at FROM labels WHERE name = ? AND version = ? AND arm = ? AND at >= ? "
                "ORDER BY seq DESC LIMIT ?",
                (model, version, arm, since, window),
            )
            found[(model, int(version), arm)] = [(t, p, float(at)) for t, p, at in rows]
        return found

    def latencies(self, name: str | None, since: float) -> dict[Group, list[float]]:
        where, params = ("AND name = ?", [since, name]) if name is not None else ("", [since])
        found: dict[Group, list[float]] = {}
        for model, version, arm, latency in self.db.query(
            f"SELECT name, version, arm, latency_ms FROM predictions WHERE at >= ? {where}", params
        ):
            found.setdefault((model, int(version), arm), []).append(float(latency))
        return found

    def feature_rows(self, name: str, version: int) -> list[list[float]]:
        rows = self.db.query(
            "SELECT row FROM feature_rows WHERE name = ? AND version = ? AND at >= ? ORDER BY seq DESC LIMIT ?",
            (name, version, time.time() - self.retention.max_age_s, self.retention.drift_rows),
        )
        return [json.loads(row) for (row,) in rows]

    def close(self) -> None:
        self.db.close()

    def report_replica(self, report: ReplicaReport, ttl: float) -> None:
        with self.db.transaction() as db:
            now = time.time()
            db.execute("DELETE FROM replicas WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT OR REPLACE INTO replicas VALUES (?, ?, ?)",
                (report.replica, now + ttl, json.dumps(report.to_dict())),
            )

    def replicas(self) -> list[ReplicaReport]:
        rows = self.db.query("SELECT data FROM replicas WHERE expires_at > ? ORDER BY replica", (time.time(),))
        return [ReplicaReport.from_dict(json.loads(row[0])) for row in rows]


__all__ = ["LocalPredictionStore"]
