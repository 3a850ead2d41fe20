"""The run store of the Redis backend: runs and schedules shared by a team.

Keys, under the backend's prefix::

    <p>:jobs:schema            schema version of this layout
    <p>:jobs:run:<id>          run record (JSON)
    <p>:jobs:runs              sorted set of run ids by start time
    <p>:jobs:runs:<job>        sorted set of one job's run ids by start time
    <p>:jobs:output:<id>       executed notebook (bytes)
    <p>:jobs:schedules         hash: schedule name -> JSON
    <p>:jobs:ticks:<schedule>  hash: due time -> JSON tick (claimed or skipped), recorded once
    <p>:jobs:tickdue:<schedule>  sorted set of those due times by time (to keep the newest)
    <p>:jobs:lease:<schedule>  JSON lease (owner, run id, due), expiring by Redis's clock (PX)
    <p>:jobs:active            hash: schedule -> JSON lease, kept after the lease key expires so
                               a lost run is known; removed on release or when handed back

Claims, renewals, releases and the sweep of expired leases are Lua scripts, which Redis runs
atomically. The sweep builds lease keys from the prefix it is given (one Redis server, no
cluster slots).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from workbench.errors import RunNotFoundError
from workbench.storage.redis_connection import RedisConnection, text
from workbench.storage.run_records import Run
from workbench.storage.run_store import RunStore
from workbench.storage.schedule_records import Schedule
from workbench.storage.tick_records import TICKS_KEPT, Claim, ScheduleLease, Tick

SCHEMA_VERSION = 2  # 2: ticks, leases and active runs of schedules

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

_CLAIM = _NOW + """
local found = redis.call('HGET', KEYS[1], ARGV[2])
if found then return {0, found, ''} end
local tick = {schedule = ARGV[1], due = ARGV[2], owner = ARGV[3], at = now}
local held = redis.call('GET', KEYS[3])
local lost = ''
if held then
  tick.outcome = 'skipped'
  tick.run_id = cjson.decode(held).run_id
else
  tick.outcome = 'claimed'
  tick.run_id = ARGV[4]
  lost = redis.call('HGET', KEYS[4], ARGV[1]) or ''
  local lease = cjson.encode({schedule = ARGV[1], owner = ARGV[3], run_id = ARGV[4], due = ARGV[2]})
  redis.call('SET', KEYS[3], lease, 'PX', ARGV[5])
  redis.call('HSET', KEYS[4], ARGV[1], lease)
end
local encoded = cjson.encode(tick)
redis.call('HSET', KEYS[1], ARGV[2], encoded)
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[2])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[7])
if extra > 0 then
  local old = redis.call('ZRANGE', KEYS[2], 0, extra - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1)
  redis.call('HDEL', KEYS[1], unpack(old))
end
return {1, encoded, lost}
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('HDEL', KEYS[2], ARGV[2])
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_SWEEP = """
local active = redis.call('HGETALL', KEYS[1])
local gone = {}
for i = 1, #active, 2 do
  if redis.call('EXISTS', ARGV[1] .. active[i]) == 0 then
    redis.call('HDEL', KEYS[1], active[i])
    table.insert(gone, active[i + 1])
  end
end
return gone
"""


def _score(run: Run) -> float:
    return datetime.fromisoformat(run.started_at).timestamp()


class RedisRunStore(RunStore):
    def __init__(self, connection: RedisConnection, home: Path) -> None:
        super().__init__(home)
        self.redis = connection
        connection.claim_schema(connection.key("jobs", "schema"), SCHEMA_VERSION, "jobs")
        client = connection.client
        self._claim = client.register_script(_CLAIM)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._sweep = client.register_script(_SWEEP)

    def _k(self, *parts: object) -> str:
        return self.redis.key("jobs", *parts)

    def save_run(self, run: Run) -> None:
        pipe = self.redis.client.pipeline(transaction=True)
        pipe.set(self._k("run", run.run_id), json.dumps(run.to_dict()))
        pipe.zadd(self._k("runs"), {run.run_id: _score(run)})
        pipe.zadd(self._k("runs", run.job), {run.run_id: _score(run)})
        self.redis.call(pipe.execute)

    def get_run(self, run_id: str) -> Run:
        data = self.redis.call(lambda: self.redis.client.get(self._k("run", run_id)))
        if data is None:
            raise RunNotFoundError(f"no run {run_id!r}", run_id=run_id)
        return Run.from_dict(json.loads(data))

    def list_runs(self, job: str | None = None, limit: int = 50) -> list[Run]:
        index = self._k("runs") if job is None else self._k("runs", job)
        ids = [text(i) for i in self.redis.call(lambda: self.redis.client.zrevrange(index, 0, limit - 1))]
        if not ids:
            return []
        rows = self.redis.call(lambda: self.redis.client.mget([self._k("run", i) for i in ids]))
        return [Run.from_dict(json.loads(r)) for r in rows if r is not None]

    def save_output(self, run_id: str, notebook: bytes) -> None:
        self.redis.call(lambda: self.redis.client.set(self._k("output", run_id), notebook))

    def load_output(self, run_id: str) -> bytes:
        data: Any = self.redis.call(lambda: self.redis.client.get(self._k("output", run_id)))
        if data is None:
            raise RunNotFoundError(f"run {run_id!r} has no output notebook", run_id=run_id)
        return bytes(data)

    def save_schedule(self, schedule: Schedule) -> None:
        payload = json.dumps(schedule.to_dict())
        self.redis.call(lambda: self.redis.client.hset(self._k("schedules"), schedule.name, payload))

    def get_schedule(self, name: str) -> Schedule | None:
        data = self.redis.call(lambda: self.redis.client.hget(self._k("schedules"), name))
        return Schedule.from_dict(json.loads(data)) if data else None

    def list_schedules(self) -> list[Schedule]:
        rows = self.redis.call(lambda: self.redis.client.hgetall(self._k("schedules")))
        return sorted((Schedule.from_dict(json.loads(v)) for v in rows.values()), key=lambda s: s.name)

    def remove_schedule(self, name: str) -> bool:
        return bool(self.redis.call(lambda: self.redis.client.hdel(self._k("schedules"), name)))

    def claim_tick(self, schedule: str, due: str, owner: str, run_id: str, seconds: float) -> Claim:
        seconds = self.check_claim(schedule, owner, run_id, seconds)
        keys = [self._k("ticks", schedule), self._k("tickdue", schedule), self._k("lease", schedule), self._k("active")]
        score = datetime.fromisoformat(due).timestamp()
        args: list[str | float] = [schedule, due, owner, run_id, max(1, round(seconds * 1000)), score, TICKS_KEPT]
        mine, encoded, lost = self.redis.call(lambda: self._claim(keys=keys, args=args))
        old = json.loads(lost) if lost else None
        lease = ScheduleLease.from_dict({**old, "expires_at": 0.0}) if old else None
        return Claim(Tick.from_dict(json.loads(encoded)), mine=bool(mine), lost=lease)

    def _lease_value(self, schedule: str, owner: str, run_id: str) -> str | None:
        """The lease's stored JSON when ``owner`` holds it for ``run_id``, else None."""
        stored = self.redis.call(lambda: self.redis.client.get(self._k("lease", schedule)))
        if stored is None:
            return None
        lease = json.loads(stored)
        return text(stored) if (lease["owner"], lease["run_id"]) == (owner, run_id) else None

    def renew_lease(self, schedule: str, owner: str, run_id: str, seconds: float) -> bool:
        milliseconds = max(1, round(self.check_claim(schedule, owner, run_id, seconds) * 1000))
        value = self._lease_value(schedule, owner, run_id)
        if value is None:
            return False
        key = self._k("lease", schedule)
        return bool(self.redis.call(lambda: self._renew(keys=[key], args=[value, milliseconds])))

    def release_lease(self, schedule: str, owner: str, run_id: str) -> bool:
        value = self._lease_value(schedule, owner, run_id)
        if value is None:
            return False
        keys = [self._k("lease", schedule), self._k("active")]
        return bool(self.redis.call(lambda: self._release(keys=keys, args=[value, schedule])))

    def take_expired(self) -> list[ScheduleLease]:
        gone = self.redis.call(lambda: self._sweep(keys=[self._k("active")], args=[self._k("lease", "")]))
        leases = [ScheduleLease.from_dict({**json.loads(row), "expires_at": 0.0}) for row in gone]
        return sorted(leases, key=lambda lease: lease.schedule)

    def leases(self) -> list[ScheduleLease]:
        active = self.redis.call(lambda: self.redis.client.hkeys(self._k("active")))
        names = sorted(text(name) for name in active)
        if not names:
            return []
        pipe = self.redis.client.pipeline(transaction=False)
        for name in names:
            pipe.get(self._k("lease", name))
            pipe.pttl(self._k("lease", name))
        replies = self.redis.call(pipe.execute)
        now = time.time()
        found = []
        for stored, remaining in zip(replies[::2], replies[1::2], strict=True):
            if stored is not None and remaining is not None and remaining > 0:
                found.append(ScheduleLease.from_dict({**json.loads(stored), "expires_at": now + remaining / 1000}))
        return found

    def ticks(self, schedule: str, limit: int = 100) -> list[Tick]:
        found: Any = self.redis.call(lambda: self.redis.client.zrevrange(self._k("tickdue", schedule), 0, limit - 1))
        dues = [text(due) for due in found]
        if not dues:
            return []
        rows = self.redis.call(lambda: self.redis.client.hmget(self._k("ticks", schedule), dues))
        return [Tick.from_dict(json.loads(row)) for row in rows if row is not None]


__all__ = ["RedisRunStore"]
