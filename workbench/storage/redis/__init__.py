"""The Redis backend (``WORKBENCH_STORE=redis://[user:password@]host:port/db?prefix=workbench&timeout=5``,
``rediss://`` for TLS): every store of a team in one Redis database, under one key prefix,
on one connection with bounded timeouts and no client retries.

Keys, all under ``<prefix>:``: the models' (:mod:`.models`), ``jobs:`` (:mod:`.runs`),
``datamart:`` (:mod:`.datamarts`), ``predlog:`` (:mod:`.predictions`) and ``loop:`` (:mod:`.loop`); each kind keeps
its layout version under its own ``schema`` key. Datamart bytes are read through a local
cache at ``<home>/datamart-cache/``; run folders stay local (``<home>/runs/``). For
"nothing acknowledged is lost", run Redis with ``appendonly yes`` and ``appendfsync always``.
"""

from __future__ import annotations

from workbench.config import Settings
from workbench.storage.backend import Storage
from workbench.storage.prediction_store import Retention
from workbench.storage.redis.datamarts import RedisDatamartStore
from workbench.storage.redis.loop import RedisLoopStore
from workbench.storage.redis.models import RedisModelStore
from workbench.storage.redis.predictions import RedisPredictionStore
from workbench.storage.redis.runs import RedisRunStore
from workbench.storage.redis_connection import RedisConnection


class RedisStorage(Storage):
    """Every store in one Redis database; see the module docstring."""

    scheme = "redis"

    def __init__(self, url: str, settings: Settings) -> None:
        super().__init__(url, settings)
        self.connection = RedisConnection(url)

    def open_models(self) -> RedisModelStore:
        return RedisModelStore(self.connection)

    def open_runs(self) -> RedisRunStore:
        return RedisRunStore(self.connection, self.settings.home)

    def open_datamarts(self) -> RedisDatamartStore:
        return RedisDatamartStore(self.connection, self.settings.home / "datamart-cache")

    def open_predictions(self) -> RedisPredictionStore:
        return RedisPredictionStore(self.connection, Retention.from_settings(self.settings))

    def open_loop(self) -> RedisLoopStore:
        return RedisLoopStore(self.connection)

    def release(self) -> None:
        self.connection.close()


__all__ = ["RedisStorage"]
