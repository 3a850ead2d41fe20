"""Where datasets live: a folder of Arrow IPC files, or Redis with a local read-through cache.

Both keep one contract (:class:`DatamartStore`). A version is published data first, then
metadata, so a listed version always has its bytes; putting bytes that already exist is a
no-op that returns the first writer's metadata, which makes concurrent puts of the same
content agree on one version.
"""

from __future__ import annotations

import abc
import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.datamart import codec
from workbench.datamart.version import SCHEMA_VERSION, DatasetVersion
from workbench.errors import DatamartError, DatasetNotFoundError
from workbench.fsutil import atomic_write_bytes, fsync_dir
from workbench.redis_connection import RedisConnection, text

if TYPE_CHECKING:
    import pyarrow as pa


class DatamartStore(abc.ABC):
    """The primitives a datamart backend provides."""

    @abc.abstractmethod
    def publish(self, meta: DatasetVersion, data: bytes) -> DatasetVersion:
        """Store ``data`` under ``meta``; return the stored metadata (an earlier put's, if any)."""

    @abc.abstractmethod
    def names(self) -> list[str]:
        """Names having at least one version, sorted."""

    @abc.abstractmethod
    def versions(self, name: str) -> list[DatasetVersion]:
        """Versions of ``name``, oldest first; empty when there is none."""

    @abc.abstractmethod
    def read(self, meta: DatasetVersion) -> pa.Table:
        """The table of a listed version, its bytes checked against ``meta.sha256``."""

    @abc.abstractmethod
    def remove(self, meta: DatasetVersion) -> None:
        """Delete one version (metadata first, so it is never listed without its bytes)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""


def _sorted(items: list[DatasetVersion]) -> list[DatasetVersion]:
    return sorted(items, key=lambda v: (v.created, v.version))


def _publish_once(path: Path, meta: DatasetVersion) -> DatasetVersion:
    """Write ``meta`` to ``path`` unless it exists; the first of concurrent writers wins.

    A hard link of a complete temp file fails when the target exists, unlike a rename, so
    a second writer of the same version keeps the first one's ``created`` time.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(meta.to_json().encode())
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return DatasetVersion.from_json(path.read_bytes())
    finally:
        Path(tmp).unlink(missing_ok=True)
    fsync_dir(path.parent)
    return meta


class LocalDatamartStore(DatamartStore):
    """``<root>/<name>/<version>.arrow`` and ``<version>.json``, both written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _paths(self, name: str, version: str) -> tuple[Path, Path]:
        folder = self.root / name
        return folder / f"{version}.arrow", folder / f"{version}.json"

    def publish(self, meta: DatasetVersion, data: bytes) -> DatasetVersion:
        data_path, meta_path = self._paths(meta.name, meta.version)
        if meta_path.is_file():
            return DatasetVersion.from_json(meta_path.read_bytes())
        codec.forget(data_path)
        atomic_write_bytes(data_path, data)
        return _publish_once(meta_path, meta)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and any(p.glob("*.json")))

    def versions(self, name: str) -> list[DatasetVersion]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        return _sorted(
            [DatasetVersion.from_json(p.read_bytes()).check_place(name, p.stem) for p in folder.glob("*.json")]
        )

    def read(self, meta: DatasetVersion) -> pa.Table:
        data_path, _ = self._paths(meta.name, meta.version)
        try:
            table = codec.open_verified(data_path, meta.sha256)
        except FileNotFoundError as exc:
            raise DatasetNotFoundError(
                f"dataset {meta.ref} was deleted while being read", name=meta.name, version=meta.version
            ) from exc
        if table is None:
            raise DatamartError(
                f"the bytes of dataset {meta.ref} ({data_path.name}) do not match their SHA-256",
                hint="the file was altered after it was stored; delete the version and put the data again",
                name=meta.name,
                version=meta.version,
            )
        return table

    def close(self) -> None:
        """Nothing to release: reads keep their memory maps alive by themselves."""

    def remove(self, meta: DatasetVersion) -> None:
        data_path, meta_path = self._paths(meta.name, meta.version)
        meta_path.unlink(missing_ok=True)
        codec.forget(data_path)
        data_path.unlink(missing_ok=True)
        folder = data_path.parent
        if folder.is_dir() and not any(folder.iterdir()):
            with contextlib.suppress(OSError):  # a concurrent put just started writing into it
                folder.rmdir()


# one atomic step: a concurrent put never sees the name dropped while it has versions
_REMOVE = """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[2]) end
return 1
"""


class RedisDatamartStore(DatamartStore):
    """Metadata in a hash per name, bytes in one key per version, a local cache of the bytes.

    Keys: ``<prefix>:datamart:names`` (set), ``<prefix>:datamart:meta:<name>`` (hash
    version -> metadata JSON), ``<prefix>:datamart:data:<name>:<version>`` (bytes). A put
    is one MULTI/EXEC transaction, so other clients see all of it or nothing. Reads go
    through ``<cache>/<sha256>.arrow``; a cache file whose bytes do not hash to the
    recorded SHA-256 is fetched again.
    """

    def __init__(self, url: str, cache: Path) -> None:

        self.connection: RedisConnection = RedisConnection(url)
        self.cache = cache
        try:
            self.connection.claim_schema(self.connection.key("datamart", "schema"), SCHEMA_VERSION, "datamarts")
        except BaseException:
            self.connection.close()
            raise

    def _key(self, *parts: str) -> str:
        return self.connection.key("datamart", *parts)

    def publish(self, meta: DatasetVersion, data: bytes) -> DatasetVersion:
        conn = self.connection
        meta_key = self._key("meta", meta.name)
        found = conn.call(lambda: conn.client.hget(meta_key, meta.version))
        if found is not None:
            return DatasetVersion.from_json(found)

        def transaction() -> list[object]:
            pipe = conn.client.pipeline(transaction=True)
            pipe.set(self._key("data", meta.name, meta.version), data)
            pipe.hsetnx(meta_key, meta.version, meta.to_json())
            pipe.sadd(self._key("names"), meta.name)
            result: list[object] = pipe.execute()
            return result

        conn.call(transaction)
        stored = conn.call(lambda: conn.client.hget(meta_key, meta.version))
        return DatasetVersion.from_json(stored) if stored is not None else meta

    def names(self) -> list[str]:
        conn = self.connection
        members = conn.call(lambda: conn.client.smembers(self._key("names")))
        return sorted(text(m) for m in members)

    def versions(self, name: str) -> list[DatasetVersion]:
        conn = self.connection
        entries = conn.call(lambda: conn.client.hgetall(self._key("meta", name)))
        return _sorted([DatasetVersion.from_json(e).check_place(name, text(v)) for v, e in entries.items()])

    def read(self, meta: DatasetVersion) -> pa.Table:
        path = self.cache / f"{meta.sha256}.arrow"
        with contextlib.suppress(FileNotFoundError):  # a miss: not cached yet, or just evicted
            table = codec.open_verified(path, meta.sha256)
            if table is not None:
                return table
        conn = self.connection
        data = conn.call(lambda: conn.client.get(self._key("data", meta.name, meta.version)))
        if not isinstance(data, bytes):
            raise DatasetNotFoundError(
                f"dataset {meta.ref} was deleted while being read", name=meta.name, version=meta.version
            )
        if codec.sha256(data) != meta.sha256:
            raise DatamartError(
                f"the bytes of dataset {meta.ref} in Redis do not match their SHA-256",
                hint="the key was altered after it was stored; delete the version and put the data again",
                name=meta.name,
                version=meta.version,
            )
        codec.forget(path)
        atomic_write_bytes(path, data, durable=False)
        table = codec.open_verified(path, meta.sha256)
        if table is None:  # replaced by a damaged file between our write and our read
            raise DatamartError(f"the cache file of dataset {meta.ref} changed while being read", hint="retry")
        return table

    def remove(self, meta: DatasetVersion) -> None:
        conn = self.connection
        keys = [self._key("meta", meta.name), self._key("data", meta.name, meta.version), self._key("names")]
        conn.call(lambda: conn.client.eval(_REMOVE, len(keys), *keys, meta.version, meta.name))
        cached = self.cache / f"{meta.sha256}.arrow"
        codec.forget(cached)
        cached.unlink(missing_ok=True)

    def close(self) -> None:
        self.connection.close()


def open_store(store: str, home: Path) -> DatamartStore:
    """The datamart store of a settings ``store`` value: ``local`` or a ``redis://`` URL."""
    if store == "local":
        return LocalDatamartStore(home / "datamarts")
    if store.startswith(("redis://", "rediss://")):
        return RedisDatamartStore(store, home / "datamart-cache")
    raise DatamartError(f"no datamart store for {store!r}", hint="set WORKBENCH_STORE to local or a redis:// URL")


__all__ = ["DatamartStore", "LocalDatamartStore", "RedisDatamartStore", "open_store"]

