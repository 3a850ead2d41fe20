"""One Redis connection as every workbench store uses it: bounded timeouts, no client
retries, errors translated, keys under a prefix.

URL: ``redis://[user:password@]host:port/db?prefix=workbench&timeout=5`` (``rediss://``
for TLS). An unreachable or frozen server surfaces as :class:`StorageUnavailableError`
within the timeout, never as a hang.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from workbench.errors import MissingDependencyError, StorageError, StorageUnavailableError
from workbench.storage.schema import needs_upgrade

T = TypeVar("T")

DEFAULT_PREFIX = "workbench"
DEFAULT_TIMEOUT_S = 5.0
_UPGRADE = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) end"
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def parse_redis_url(url: str) -> dict[str, Any]:
    """Connection options, key prefix and timeout from a store URL; raises :class:`StorageError`."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise StorageError(f"not a Redis URL: {url!r}", hint="use redis://host:port/db")
    query = parse_qs(parts.query)
    unknown = set(query) - {"prefix", "timeout"}
    if unknown:
        raise StorageError(f"unknown Redis store options: {', '.join(sorted(unknown))}", hint="use prefix, timeout")
    prefix = query.get("prefix", [DEFAULT_PREFIX])[-1]
    if not _PREFIX.fullmatch(prefix):
        raise StorageError(f"Redis key prefix {prefix!r} is not allowed", hint="letters, digits, '.', '_', '-'")
    try:
        timeout = float(query.get("timeout", [DEFAULT_TIMEOUT_S])[-1])
        db = int(parts.path.strip("/") or 0)
        port = parts.port or 6379
    except ValueError as exc:
        raise StorageError(f"malformed Redis URL {url!r}: {exc}", hint="use redis://host:port/db") from exc
    if not 0 < timeout <= 300:
        raise StorageError(f"Redis timeout must be in (0, 300] seconds, not {timeout}")
    return {
        "host": parts.hostname,
        "port": port,
        "db": db,
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "ssl": parts.scheme == "rediss",
        "prefix": prefix,
        "timeout": timeout,
    }


class RedisConnection:
    """A Redis client, its key prefix and timeout, and error translation."""

    def __init__(self, url: str) -> None:
        options = parse_redis_url(url)
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as exc:
            raise MissingDependencyError(
                "a Redis store needs the redis package", hint="pip install 'workbench[redis]'"
            ) from exc
        self.prefix: str = options.pop("prefix")
        self.timeout: float = options.pop("timeout")
        self._errors = redis.exceptions
        self.client = redis.Redis(
            **options,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )

    def key(self, *parts: object) -> str:
        return ":".join((self.prefix, *map(str, parts)))

    def where(self) -> str:
        kwargs = self.client.connection_pool.connection_kwargs
        return f"{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db')}"

    def call(self, operation: Callable[[], T]) -> T:
        """Run one Redis operation, translating its errors into workbench ones."""
        try:
            return operation()
        except (self._errors.ConnectionError, self._errors.TimeoutError, TimeoutError, OSError) as exc:
            raise StorageUnavailableError(
                f"Redis store at {self.where()} did not answer within {self.timeout:g} s: {exc}",
                hint="start Redis or fix WORKBENCH_STORE; nothing was written",
                store=self.where(),
            ) from exc
        except self._errors.RedisError as exc:
            raise StorageError(f"Redis store at {self.where()} refused the operation: {exc}") from exc

    def claim_schema(self, key: str, version: int, what: str) -> None:
        """Record the layout version under ``key`` (first writer wins); upgrade an older one, refuse a newer one."""
        self.call(lambda: self.client.set(key, version, nx=True))
        found = int(self.call(lambda: self.client.get(key)) or 0)
        if needs_upgrade(found, version, f"{what} in the Redis store at {self.where()} (prefix {self.prefix!r})"):
            # only over the version read: a newer writer that upgraded meanwhile is not downgraded
            self.call(lambda: self.client.eval(_UPGRADE, 1, key, found, version))

    def close(self) -> None:
        self.client.close()


def text(value: Any) -> str:
    """A Redis reply (bytes: clients do not decode, artifacts being binary) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


__all__ = ["DEFAULT_PREFIX", "DEFAULT_TIMEOUT_S", "RedisConnection", "parse_redis_url", "text"]
