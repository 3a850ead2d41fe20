"""The prediction store of the Redis backend, on the backend's one connection (URL, key prefix, timeouts).

Retention is described in :mod:`workbench.storage.prediction_store`. Labelling and
eviction are Lua scripts, which Redis runs atomically, so two server processes labelling
the same request id count it once. Keys, all under ``<prefix>:predlog:``::

    schema                      layout version
    p:<request_id>              JSON [name, version, arm, prediction, at, latency_ms, features_sha256], TTL max age
    l:<request_id>              labelled marker (SET NX), TTL max age
    order                       sorted set of logged request ids by time (count bound)
    t:<name>:<version>:<arm>    sorted set "<id> <latency_ms>" by time (traffic), TTL max age
    labels:<name>:<version>:<arm>  list of JSON [label, prediction, labelled_at], newest first, LTRIM'd
    f:<name>:<version>          list of JSON input rows, newest first, LTRIM'd, TTL max age
    groups                      set of JSON [name, version, arm] that were ever logged
    counts                      hash "<name>:accepted|unknown|duplicate" -> feedback totals
    replica:<name>              JSON replica report, TTL its time to live
    replicas                    sorted set of replica names by report expiry (expired ones removed on report)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from workbench.storage.prediction_store import (
    SCHEMA_VERSION,
    FeedbackResult,
    Group,
    Labelled,
    PredictionRecord,
    PredictionStore,
    Retention,
    label_text,
)
from workbench.storage.redis_connection import RedisConnection, text
from workbench.storage.replica_records import ReplicaReport

_TRIM = """
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
local over = redis.call('ZCARD', KEYS[1]) - #old - tonumber(ARGV[4])
if over > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], #old, #old + over - 1)) do table.insert(old, id) end
end
for _, id in ipairs(old) do
  redis.call('DEL', ARGV[1] .. id, ARGV[2] .. id)
  redis.call('ZREM', KEYS[1], id)
end
return #old
"""

_LABEL = """
local accepted, unknown, duplicate = 0, 0, 0
for _, pair in ipairs(cjson.decode(ARGV[2])) do
  local raw = redis.call('GET', ARGV[3] .. pair[1])
  local p = raw and cjson.decode(raw)
  if not p or p[1] ~= ARGV[1] then
    unknown = unknown + 1
  elseif redis.call('SET', ARGV[4] .. pair[1], '1', 'NX', 'EX', ARGV[8]) then
    local key = ARGV[5] .. p[1] .. ':' .. p[2] .. ':' .. p[3]
    redis.call('LPUSH', key, cjson.encode({pair[2], p[4], ARGV[7]}))
    redis.call('LTRIM', key, 0, tonumber(ARGV[6]) - 1)
    redis.call('EXPIRE', key, ARGV[8])
    accepted = accepted + 1
  else
    duplicate = duplicate + 1
  end
end
if accepted > 0 then redis.call('HINCRBY', KEYS[1], ARGV[1] .. ':accepted', accepted) end
if unknown > 0 then redis.call('HINCRBY', KEYS[1], ARGV[1] .. ':unknown', unknown) end
if duplicate > 0 then redis.call('HINCRBY', KEYS[1], ARGV[1] .. ':duplicate', duplicate) end
return {accepted, unknown, duplicate}
"""


class RedisPredictionStore(PredictionStore):
    """Predictions, labels and drift inputs in Redis; see the module docstring."""

    def __init__(self, connection: RedisConnection, retention: Retention) -> None:
        super().__init__(retention)
        self.redis = connection
        self.client = connection.client
        self._trim = self.client.register_script(_TRIM)
        self._label = self.client.register_script(_LABEL)
        self.redis.claim_schema(self._key("schema"), SCHEMA_VERSION, "the prediction log")

    def _key(self, *parts: object) -> str:
        return self.redis.key("predlog", *parts)

    def append(self, records: Sequence[PredictionRecord]) -> None:
        if not records:
            return
        ttl, now = self.retention.ttl, time.time()
        oldest = now - self.retention.max_age_s
        pipe = self.client.pipeline(transaction=False)
        groups: set[Group] = set()
        for r in records:
            value = [r.name, str(r.version), r.arm, label_text(r.prediction), repr(r.at), repr(r.latency_ms)]
            pipe.set(self._key("p", r.request_id), json.dumps([*value, r.features_sha256]), ex=ttl, nx=True)
            pipe.zadd(self._key("order"), {r.request_id: r.at}, nx=True)
            pipe.zadd(self._key("t", r.name, r.version, r.arm), {f"{r.request_id} {r.latency_ms!r}": r.at})
            groups.add((r.name, r.version, r.arm))
        for name, version, arm in groups:
            key = self._key("t", name, version, arm)
            pipe.zremrangebyscore(key, "-inf", f"({oldest!r}")
            pipe.zremrangebyrank(key, 0, -self.retention.max_predictions - 1)
            pipe.expire(key, ttl)
            pipe.sadd(self._key("groups"), json.dumps([name, version, arm]))
        self.redis.call(pipe.execute)
        self.redis.call(
            lambda: self._trim(
                keys=[self._key("order")],
                args=[self._key("p", ""), self._key("l", ""), repr(oldest), self.retention.max_predictions],
            )
        )

    def observe_features(self, name: str, version: int, rows: Sequence[Sequence[float]]) -> None:
        if not rows:
            return
        key = self._key("f", name, version)
        pipe = self.client.pipeline(transaction=False)
        pipe.lpush(key, *[json.dumps([float(x) for x in row]) for row in rows[-self.retention.drift_rows :]])
        pipe.ltrim(key, 0, self.retention.drift_rows - 1)
        pipe.expire(key, self.retention.ttl)
        self.redis.call(pipe.execute)

    def label(self, name: str, pairs: Iterable[tuple[str, Any]]) -> FeedbackResult:
        payload = json.dumps([[str(rid), label_text(label)] for rid, label in pairs])
        accepted, unknown, duplicate = self.redis.call(
            lambda: self._label(
                keys=[self._key("counts")],
                args=[
                    name,
                    payload,
                    self._key("p", ""),
                    self._key("l", ""),
                    self._key("labels", ""),
                    self.retention.max_labels,
                    repr(time.time()),
                    self.retention.ttl,
                ],
            )
        )
        return FeedbackResult(int(accepted), int(unknown), int(duplicate))

    def feedback_counts(self) -> dict[tuple[str, str], int]:
        raw = self.redis.call(lambda: self.client.hgetall(self._key("counts")))
        found: dict[tuple[str, str], int] = {}
        for field, n in raw.items():
            name, _, kind = text(field).rpartition(":")
            found[(name, kind)] = int(n)
        return found

    def _groups(self, name: str | None) -> list[Group]:
        members = self.redis.call(lambda: self.client.smembers(self._key("groups")))
        groups = []
        for member in members:
            model, version, arm = json.loads(text(member))
            if name is None or model == name:
                groups.append((str(model), int(version), str(arm)))
        return sorted(groups)

    def labelled(self, name: str | None, window: int, since: float) -> dict[Group, list[Labelled]]:
        groups = self._groups(name)
        if not groups:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for model, version, arm in groups:
            pipe.lrange(self._key("labels", model, version, arm), 0, window - 1)
        replies = self.redis.call(pipe.execute)
        found: dict[Group, list[Labelled]] = {}
        for group, rows in zip(groups, replies, strict=True):
            pairs = [(str(t), str(p), float(at)) for t, p, at in map(json.loads, rows)]
            found[group] = [pair for pair in pairs if pair[2] >= since]
        return found

    def latencies(self, name: str | None, since: float) -> dict[Group, list[float]]:
        groups = self._groups(name)
        if not groups:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for model, version, arm in groups:
            pipe.zrangebyscore(self._key("t", model, version, arm), repr(since), "+inf")
        replies = self.redis.call(pipe.execute)
        return {
            group: [float(member.rsplit(b" ", 1)[1]) for member in members]
            for group, members in zip(groups, replies, strict=True)
        }

    def feature_rows(self, name: str, version: int) -> list[list[float]]:
        rows = self.redis.call(lambda: self.client.lrange(self._key("f", name, version), 0, -1))
        return [json.loads(row) for row in rows]

    def report_replica(self, report: ReplicaReport, ttl: float) -> None:
        now = time.time()
        milliseconds = max(1, round(ttl * 1000))
        pipe = self.client.pipeline(transaction=True)
        pipe.set(self._key("replica", report.replica), json.dumps(report.to_dict()), px=milliseconds)
        pipe.zadd(self._key("replicas"), {report.replica: now + ttl})
        pipe.zremrangebyscore(self._key("replicas"), "-inf", now)
        self.redis.call(pipe.execute)

    def replicas(self) -> list[ReplicaReport]:
        names = [text(n) for n in self.redis.call(lambda: self.client.zrange(self._key("replicas"), 0, -1))]
        if not names:
            return []
        rows = self.redis.call(lambda: self.client.mget([self._key("replica", name) for name in names]))
        found = [ReplicaReport.from_dict(json.loads(row)) for row in rows if row is not None]
        return sorted(found, key=lambda report: report.replica)


__all__ = ["RedisPredictionStore"]
