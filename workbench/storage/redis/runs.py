"""The run store of the Redis backend: runs and schedules shared by a team.

Keys, under the backend's prefix::

    <p>:jobs:schema            schema version of this layout
    <p>:jobs:run:<id>          run record (JSON)
    <p>:jobs:runs              sorted set of run ids by start time
    <p>:jobs:runs:<job>        sorted set of one job's run ids by start time
    <p>:jobs:output:<id>       executed notebook (bytes)
    <p>:jobs:schedules         hash: schedule name -> JSON
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from workbench.errors import RunNotFoundError
from workbench.storage.redis_connection import RedisConnection, text
from workbench.storage.run_records import Run
from workbench.storage.run_store import RunStore
from workbench.storage.schedule_records import Schedule

SCHEMA_VERSION = 1


def _score(run: Run) -> float:
    return datetime.fromisoformat(run.started_at).timestamp()


class RedisRunStore(RunStore):
    def __init__(self, connection: RedisConnection, home: Path) -> None:
        super().__init__(home)
        self.redis = connection
        connection.claim_schema(connection.key("jobs", "schema"), SCHEMA_VERSION, "jobs")

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


__all__ = ["RedisRunStore"]
