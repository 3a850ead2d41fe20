"""The datamart store of the Redis backend: metadata and bytes in Redis, read through a local cache."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import DatamartError, DatasetNotFoundError
from workbench.fsutil import atomic_write_bytes
from workbench.storage import arrow_files
from workbench.storage.datamart_records import SCHEMA_VERSION, DatasetVersion
from workbench.storage.datamart_store import DatamartStore, sorted_versions
from workbench.storage.redis_connection import RedisConnection, text

if TYPE_CHECKING:
    import pyarrow as pa


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

    def __init__(self, connection: RedisConnection, cache: Path) -> None:
        self.connection = connection
        self.cache = cache
        connection.claim_schema(connection.key("datamart", "schema"), SCHEMA_VERSION, "datamarts")

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
        return sorted_versions([DatasetVersion.from_json(e).check_place(name, text(v)) for v, e in entries.items()])

    def read(self, meta: DatasetVersion) -> pa.Table:
        path = self.cache / f"{meta.sha256}.arrow"
        with contextlib.suppress(FileNotFoundError):  # a miss: not cached yet, or just evicted
            table = arrow_files.open_verified(path, meta.sha256)
            if table is not None:
                return table
        conn = self.connection
        data = conn.call(lambda: conn.client.get(self._key("data", meta.name, meta.version)))
        if not isinstance(data, bytes):
            raise DatasetNotFoundError(
                f"dataset {meta.ref} was deleted while being read", name=meta.name, version=meta.version
            )
        if arrow_files.sha256(data) != meta.sha256:
            raise DatamartError(
                f"the bytes of dataset {meta.ref} in Redis do not match their SHA-256",
                hint="the key was altered after it was stored; delete the version and put the data again",
                name=meta.name,
                version=meta.version,
            )
        arrow_files.forget(path)
        atomic_write_bytes(path, data, durable=False)
        table = arrow_files.open_verified(path, meta.sha256)
        if table is None:  # replaced by a damaged file between our write and our read
            raise DatamartError(f"the cache file of dataset {meta.ref} changed while being read", hint="retry")
        return table

    def remove(self, meta: DatasetVersion) -> None:
        conn = self.connection
        keys = [self._key("meta", meta.name), self._key("data", meta.name, meta.version), self._key("names")]
        conn.call(lambda: conn.client.eval(_REMOVE, len(keys), *keys, meta.version, meta.name))
        cached = self.cache / f"{meta.sha256}.arrow"
        arrow_files.forget(cached)
        cached.unlink(missing_ok=True)


__all__ = ["RedisDatamartStore"]
