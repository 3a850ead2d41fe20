"""One SQLite file shared by the threads of a process and by processes of one machine.

WAL mode lets readers go on while one writer writes; writes run in ``BEGIN IMMEDIATE``
transactions, which serialise writers across processes; threads share one connection
behind one lock; a forked child opens its own connection (a connection must not cross a
fork). Every SQLite failure becomes a :class:`StorageUnavailableError` naming ``what``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from workbench.errors import StorageUnavailableError
from workbench.storage.schema import needs_upgrade


class SqliteDatabase:
    """``path`` with ``schema`` (statements run once per schema upgrade, up to ``version``).

    ``synchronous`` is SQLite's durability setting: ``FULL`` survives power loss after
    every commit; ``NORMAL`` may lose the last commits then, never corrupting the file.
    """

    def __init__(
        self,
        path: Path,
        *,
        what: str,
        schema: Sequence[str],
        version: int,
        synchronous: Literal["FULL", "NORMAL"],
        busy_timeout: float = 60.0,
    ) -> None:
        self.path = path
        self.what = what
        self.schema = tuple(schema)
        self.version = version
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        with self.lock:
            self.connect()

    def connect(self) -> sqlite3.Connection:
        """This process's connection, the schema created or upgraded on first use (call under :attr:`lock`)."""
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailableError(f"cannot create {self.what}: {exc}") from exc
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                found = conn.execute("PRAGMA user_version").fetchone()[0]
                if needs_upgrade(found, self.version, self.what):
                    for statement in self.schema:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {self.version}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                conn.close()
                raise
        except sqlite3.Error as exc:
            raise StorageUnavailableError(f"cannot open {self.what}: {exc}") from exc
        self._connection, self._pid = conn, os.getpid()
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back when it raises."""
        with self.lock:
            try:
                conn = self.connect()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StorageUnavailableError(f"{self.what} is unavailable: {exc}") from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one read."""
        with self.lock:
            try:
                return self.connect().execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as exc:
                raise StorageUnavailableError(f"{self.what} is unavailable: {exc}") from exc

    def close(self) -> None:
        """Close this process's connection (a child's copy of its parent's is left alone)."""
        with self.lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None


__all__ = ["SqliteDatabase"]
