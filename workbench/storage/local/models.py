"""The model store of the embedded backend: SQLite metadata and content-addressed artifact files.

Layout, under ``<home>/registry/``::

    registry.sqlite3            versions and stage history (WAL, synchronous=FULL)
    artifacts/ab/abcdef…        one file per distinct artifact, named by its SHA-256

An artifact is published atomically (temp file in the same folder, fsync, rename, fsync
the folder) before the row that points at it is committed, so a crash at any point
leaves either no version or a complete one. Version numbers are allocated inside a
``BEGIN IMMEDIATE`` transaction, which serialises writers across processes.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workbench.errors import IntegrityError, ModelNotFoundError, StorageUnavailableError
from workbench.fsutil import atomic_write_bytes, fsync_dir
from workbench.storage.local.oserrors import os_errors_as_unavailable
from workbench.storage.model_records import ModelVersion, PromotionEvent
from workbench.storage.model_store import SCHEMA_VERSION, ModelStore, check_digest, sha256_hex
from workbench.storage.sqlite import SqliteDatabase

_BUSY_TIMEOUT_S = 60.0
STALE_TEMP_S = 3600.0
"""Age after which an artifact temp file can only belong to a writer that died."""

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS versions (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        stage TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (name, version)
    )""",
    """CREATE TABLE IF NOT EXISTS history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        event TEXT NOT NULL
    )""",
    # schema 2: acceptance gate runs, kept with the version they judged
    """CREATE TABLE IF NOT EXISTS gate_results (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        result TEXT NOT NULL
    )""",
)


class LocalModelStore(ModelStore):
    """SQLite + files under ``<home>/registry``; safe for many processes on one machine."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.artifacts = root / "artifacts"
        try:
            self.artifacts.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailableError(f"cannot create the local store in {root}: {exc}") from exc
        self.db = SqliteDatabase(
            root / "registry.sqlite3",
            what=f"the local store in {root}",
            schema=_SCHEMA,
            version=SCHEMA_VERSION,
            synchronous="FULL",
            busy_timeout=_BUSY_TIMEOUT_S,
        )
        self._sweep_temp_files()

    def _sweep_temp_files(self) -> None:
        """Delete temp files that killed writers left; a live writer's are younger than the cutoff."""
        cutoff = time.time() - STALE_TEMP_S
        for temp in self.artifacts.glob("*/.*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                if temp.stat().st_mtime < cutoff:
                    temp.unlink()

    def _artifact_path(self, sha256: str) -> Path:
        check_digest(sha256)
        return self.artifacts / sha256[:2] / sha256

    def put_artifact(self, sha256: str, data: bytes) -> None:
        path = self._artifact_path(sha256)
        with os_errors_as_unavailable(f"the local store in {self.root}"):
            if path.is_file() and sha256_hex(path.read_bytes()) == sha256:
                return
            if not path.parent.exists():
                path.parent.mkdir(exist_ok=True)
                fsync_dir(path.parent.parent)
            atomic_write_bytes(path, data, mode=0o600)

    def add_version(self, name: str, record: Mapping[str, Any], stage: str, artifact: bytes) -> int:
        self.put_artifact(record["sha256"], artifact)
        text = json.dumps(record, sort_keys=True)
        with self.db.transaction() as conn:
            (number,) = conn.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM versions WHERE name = ?", (name,)
            ).fetchone()
            conn.execute(
                "INSERT INTO versions (name, version, stage, record) VALUES (?, ?, ?, ?)",
                (name, number, stage, text),
            )
        return int(number)

    @staticmethod
    def _version(name: str, row: tuple[Any, ...]) -> ModelVersion:
        number, stage, text = row
        return ModelVersion.from_record(name, number, stage, json.loads(text))

    def get_version(self, name: str, version: int) -> ModelVersion:
        rows = self.db.query(
            "SELECT version, stage, record FROM versions WHERE name = ? AND version = ?", (name, version)
        )
        if not rows:
            raise ModelNotFoundError(f"model {name!r} has no version {version}", model=name, version=version)
        return self._version(name, rows[0])

    def list_versions(self, name: str) -> list[ModelVersion]:
        rows = self.db.query("SELECT version, stage, record FROM versions WHERE name = ? ORDER BY version", (name,))
        return [self._version(name, row) for row in rows]

    def list_names(self) -> list[str]:
        return [row[0] for row in self.db.query("SELECT DISTINCT name FROM versions ORDER BY name")]

    def read_artifact(self, sha256: str) -> bytes:
        path = self._artifact_path(sha256)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise IntegrityError(f"artifact {sha256[:12]}… is missing from {self.artifacts}") from exc
        except OSError as exc:
            raise StorageUnavailableError(f"the local store in {self.root} is unavailable: {exc}") from exc

    def apply_stages(
        self, name: str, expected: Mapping[int, str], changes: Mapping[int, str], event: PromotionEvent
    ) -> bool:
        with self.db.transaction() as conn:
            for number, stage in expected.items():
                row = conn.execute(
                    "SELECT stage FROM versions WHERE name = ? AND version = ?", (name, number)
                ).fetchone()
                if row is None or row[0] != stage:
                    return False
            conn.executemany(
                "UPDATE versions SET stage = ? WHERE name = ? AND version = ?",
                [(stage, name, number) for number, stage in changes.items()],
            )
            conn.execute("INSERT INTO history (name, event) VALUES (?, ?)", (name, json.dumps(event.to_record())))
        return True

    def history(self, name: str) -> list[PromotionEvent]:
        rows = self.db.query("SELECT event FROM history WHERE name = ? ORDER BY id", (name,))
        return [PromotionEvent.from_record(json.loads(row[0])) for row in rows]

    def add_gate_result(self, name: str, version: int, record: Mapping[str, Any]) -> None:
        text = json.dumps(record, sort_keys=True)
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO gate_results (name, version, result) VALUES (?, ?, ?)", (name, version, text))

    def gate_results(self, name: str, version: int) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT result FROM gate_results WHERE name = ? AND version = ? ORDER BY id", (name, version)
        )
        return [json.loads(row[0]) for row in rows]

    def close(self) -> None:
        self.db.close()


__all__ = ["LocalModelStore"]
