"""The loop store of the Redis backend, on the backend's one connection.

Conditional writes, claims and releases are Lua scripts, which Redis runs atomically; a
lease is a key that Redis expires itself (``SET ... PX``), so it ends by the server's clock
whichever client stalled. Keys, all under ``<prefix>:loop:``::

    schema              layout version
    models              set of model names with a stored state
    state:<model>       hash: rev (revision), data (JSON state)
    events:<model>      list of JSON events, oldest first (event n at index n - 1)
    lease:<model>       the owner's name, expiring with the lease
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from workbench.errors import LeaseLostError, StorageConflictError
from workbench.names import validate_name
from workbench.storage.loop_records import Lease, LoopEvent, LoopState
from workbench.storage.loop_store import SCHEMA_VERSION, LoopStore, check_owner, check_seconds
from workbench.storage.redis_connection import RedisConnection, text

_WRITE = """
local stored = tonumber(redis.call('HGET', KEYS[1], 'rev') or '0')
if stored ~= tonumber(ARGV[1]) then return {-1, stored} end
if ARGV[4] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[4] then return {-2, stored} end
redis.call('HSET', KEYS[1], 'rev', ARGV[2], 'data', ARGV[3])
for i = 6, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
redis.call('SADD', KEYS[4], ARGV[5])
return {1, tonumber(ARGV[2])}
"""

_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLoopStore(LoopStore):
    """Loop states, timelines and leases of a team, in one Redis database; see the module docstring."""

    def __init__(self, connection: RedisConnection) -> None:
        self.redis = connection
        self.client = connection.client
        self._write = self.client.register_script(_WRITE)
        self._claim = self.client.register_script(_CLAIM)
        self._release = self.client.register_script(_RELEASE)
        connection.claim_schema(self._k("schema"), SCHEMA_VERSION, "loop")

    def _k(self, *parts: object) -> str:
        return self.redis.key("loop", *parts)

    def load(self, model: str) -> LoopState | None:
        key = self._k("state", validate_name(model, "model name"))
        data = self.redis.call(lambda: self.client.hget(key, "data"))
        return LoopState.from_dict(json.loads(data)) if data else None

    def states(self) -> list[LoopState]:
        names = sorted(text(n) for n in self.redis.call(lambda: self.client.smembers(self._k("models"))))
        if not names:
            return []
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.hget(self._k("state", name), "data")
        rows = self.redis.call(pipe.execute)
        return [LoopState.from_dict(json.loads(row)) for row in rows if row]

    def events(self, model: str, *, after: int = 0, limit: int | None = None) -> list[LoopEvent]:
        key = self._k("events", validate_name(model, "model name"))
        start = max(0, after)
        stop = -1 if limit is None else start + limit - 1
        if limit is not None and limit <= 0:
            return []
        rows = self.redis.call(lambda: self.client.lrange(key, start, stop))
        return [LoopEvent.from_dict(json.loads(row)) for row in rows]

    def write(self, expected: int, state: LoopState, events: Sequence[LoopEvent], owner: str | None) -> None:
        model = state.model
        keys = [self._k("state", model), self._k("events", model), self._k("lease", model), self._k("models")]
        args: list[str | int] = [expected, state.revision, json.dumps(state.to_dict()), owner or "", model]
        args += [json.dumps(event.to_dict()) for event in events]
        outcome, stored = self.redis.call(lambda: self._write(keys=keys, args=args))
        if outcome == -1:
            raise StorageConflictError(
                f"the loop state of {model} changed since it was read (revision {stored}, not {expected})", model=model
            )
        if outcome == -2:
            raise LeaseLostError(f"{owner} no longer holds the loop of {model}", model=model)

    def claim(self, model: str, owner: str, seconds: float) -> bool:
        key = self._k("lease", validate_name(model, "model name"))
        milliseconds = max(1, round(check_seconds(seconds) * 1000))
        return bool(self.redis.call(lambda: self._claim(keys=[key], args=[check_owner(owner), milliseconds])))

    def release(self, model: str, owner: str) -> bool:
        key = self._k("lease", validate_name(model, "model name"))
        return bool(self.redis.call(lambda: self._release(keys=[key], args=[owner])))

    def lease(self, model: str) -> Lease | None:
        key = self._k("lease", validate_name(model, "model name"))
        pipe = self.client.pipeline(transaction=True)
        pipe.get(key)
        pipe.pttl(key)
        owner, remaining = self.redis.call(pipe.execute)
        if owner is None or remaining is None or remaining < 0:
            return None
        return Lease(model, text(owner), time.time() + remaining / 1000.0)


__all__ = ["RedisLoopStore"]
