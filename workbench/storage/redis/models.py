"""The model store of the Redis backend: metadata in Redis hashes, artifacts as Redis strings.

Keys, all under the backend's prefix::

    <p>:schema                     schema version of the layout below
    <p>:names                      set of model names
    <p>:model:<name>:next          last allocated version number (INCR)
    <p>:model:<name>:v:<n>         hash: record (JSON metadata), stage
    <p>:model:<name>:versions      sorted set of published version numbers
    <p>:model:<name>:history       list of stage changes (JSON)
    <p>:model:<name>:gates:<n>     list of acceptance gate runs of version n (JSON)
    <p>:artifact:<sha256>          artifact bytes
    <p>:models:changed             pub/sub channel: a model's name, published with each stage change

Publishing a version and changing stages are Lua scripts, which Redis runs atomically:
a version number is allocated and published in one step, after its artifact is stored.
Every call has a socket timeout and no client-side retry, so an unreachable or frozen
server surfaces as :class:`StorageUnavailableError` within the timeout. Names reach keys
only after :func:`workbench.names.validate_name`; no key pattern (KEYS/SCAN) is used.
For "nothing acknowledged is lost", run Redis with ``appendonly yes`` and
``appendfsync always``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from workbench.errors import IntegrityError, ModelNotFoundError
from workbench.storage.change_notices import RedisChangeWatch
from workbench.storage.model_records import ModelVersion, PromotionEvent
from workbench.storage.model_store import SCHEMA_VERSION, ModelStore, check_digest
from workbench.storage.redis_connection import RedisConnection, text

T = TypeVar("T")


_ADD_VERSION = """
local n = redis.call('INCR', KEYS[1])
redis.call('HSET', ARGV[4] .. n, 'record', ARGV[2], 'stage', ARGV[3])
redis.call('ZADD', KEYS[2], n, n)
redis.call('SADD', KEYS[3], ARGV[1])
return n
"""

_APPLY_STAGES = """
local expected = cjson.decode(ARGV[2])
for version, stage in pairs(expected) do
  if redis.call('HGET', ARGV[1] .. version, 'stage') ~= stage then return 0 end
end
for version, stage in pairs(cjson.decode(ARGV[3])) do
  redis.call('HSET', ARGV[1] .. version, 'stage', stage)
end
redis.call('RPUSH', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
"""


class RedisModelStore(ModelStore):
    """A registry shared by a team and by serving replicas, in one Redis database."""

    def __init__(self, connection: RedisConnection) -> None:
        self.redis = connection
        self.client = connection.client
        self._add = self.client.register_script(_ADD_VERSION)
        self._stages = self.client.register_script(_APPLY_STAGES)
        self._check_schema()

    def _call(self, operation: Callable[[], T]) -> T:
        return self.redis.call(operation)

    def _where(self) -> str:
        return self.redis.where()

    def _key(self, *parts: object) -> str:
        return self.redis.key(*parts)

    def _check_schema(self) -> None:
        self.redis.claim_schema(self._key("schema"), SCHEMA_VERSION, "models")

    def put_artifact(self, sha256: str, data: bytes) -> None:
        key = self._key("artifact", check_digest(sha256))
        self._call(lambda: self.client.set(key, data))

    def add_version(self, name: str, record: Mapping[str, Any], stage: str, artifact: bytes) -> int:
        self.put_artifact(record["sha256"], artifact)
        number = self._call(
            lambda: self._add(
                keys=[self._key("model", name, "next"), self._key("model", name, "versions"), self._key("names")],
                args=[name, json.dumps(record, sort_keys=True), stage, self._key("model", name, "v", "")],
            )
        )
        return int(number)

    @staticmethod
    def _version(name: str, number: int, fields: Mapping[Any, Any]) -> ModelVersion:
        record = json.loads(fields[b"record"])
        return ModelVersion.from_record(name, number, text(fields[b"stage"]), record)

    def get_version(self, name: str, version: int) -> ModelVersion:
        fields = self._call(lambda: self.client.hgetall(self._key("model", name, "v", version)))
        if not fields:
            raise ModelNotFoundError(f"model {name!r} has no version {version}", model=name, version=version)
        return self._version(name, version, fields)

    def list_versions(self, name: str) -> list[ModelVersion]:
        key = self._key("model", name, "versions")
        numbers = [int(text(n)) for n in self._call(lambda: self.client.zrange(key, 0, -1))]
        pipe = self.client.pipeline(transaction=False)
        for number in numbers:
            pipe.hgetall(self._key("model", name, "v", number))
        rows = self._call(pipe.execute) if numbers else []
        return [self._version(name, n, fields) for n, fields in zip(numbers, rows, strict=True)]

    def list_names(self) -> list[str]:
        return sorted(text(n) for n in self._call(lambda: self.client.smembers(self._key("names"))))

    def read_artifact(self, sha256: str) -> bytes:
        key = self._key("artifact", check_digest(sha256))
        data: Any = self._call(lambda: self.client.get(key))
        if data is None:
            raise IntegrityError(f"artifact {sha256[:12]}… is missing from the Redis store at {self._where()}")
        return bytes(data)

    def apply_stages(
        self, name: str, expected: Mapping[int, str], changes: Mapping[int, str], event: PromotionEvent
    ) -> bool:
        done = self._call(
            lambda: self._stages(
                keys=[self._key("model", name, "history")],
                args=[
                    self._key("model", name, "v", ""),
                    json.dumps({str(k): v for k, v in expected.items()}),
                    json.dumps({str(k): v for k, v in changes.items()}),
                    json.dumps(event.to_record()),
                    self._key("models", "changed"),
                    name,
                ],
            )
        )
        return bool(done)

    def watch(self, on_change: Callable[[str | None], None]) -> RedisChangeWatch:
        """Stage changes as Redis pub/sub notices (published by the stage-change script itself)."""
        return RedisChangeWatch(self.client, self._key("models", "changed"), on_change)

    def history(self, name: str) -> list[PromotionEvent]:
        rows = self._call(lambda: self.client.lrange(self._key("model", name, "history"), 0, -1))
        return [PromotionEvent.from_record(json.loads(row)) for row in rows]

    def add_gate_result(self, name: str, version: int, record: Mapping[str, Any]) -> None:
        key = self._key("model", name, "gates", version)
        self._call(lambda: self.client.rpush(key, json.dumps(record, sort_keys=True)))

    def gate_results(self, name: str, version: int) -> list[dict[str, Any]]:
        rows = self._call(lambda: self.client.lrange(self._key("model", name, "gates", version), 0, -1))
        return [json.loads(row) for row in rows]


__all__ = ["RedisModelStore"]
