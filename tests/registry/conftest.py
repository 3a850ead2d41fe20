"""Registry fixtures: a store of each kind (memory, local, a real redis-server), small models."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import RedisServer
from workbench.config import load_settings
from workbench.registry import Registry, Store
from workbench.registry.local import LocalStore
from workbench.registry.memory import MemoryStore
from workbench.registry.redis_store import RedisStore

REPO = Path(__file__).resolve().parents[2]
STORE_KINDS = ["memory", "local", "redis"]


def _prefix(request: pytest.FixtureRequest) -> str:
    return "t" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:16]


def make_store(kind: str, request: pytest.FixtureRequest) -> Store:
    if kind == "memory":
        return MemoryStore()
    if kind == "local":
        return LocalStore.from_url("local", load_settings())
    server: RedisServer = request.getfixturevalue("redis_server")
    return RedisStore.from_url(server.url(prefix=_prefix(request)), load_settings())


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    opened = make_store(request.param, request)
    yield opened
    opened.close()


@pytest.fixture
def registry(store: Store) -> Registry:
    return Registry(store)


@pytest.fixture(params=["local", "redis"])
def store_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """WORKBENCH_STORE for a persistent store (what other processes can share)."""
    url = "local"
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url(prefix=_prefix(request))
    monkeypatch.setenv("WORKBENCH_STORE", url)
    return url


def corrupt(store: Store, sha256: str, data: bytes) -> None:
    """Replace stored artifact bytes behind the registry's back, as a bad disk or an attacker would."""
    if isinstance(store, MemoryStore):
        store._artifacts[sha256] = data
    elif isinstance(store, LocalStore):
        (store.artifacts / sha256[:2] / sha256).write_bytes(data)
    else:
        assert isinstance(store, RedisStore)
        store.client.set(store._key("artifact", sha256), data)


@pytest.fixture(scope="session")
def data() -> tuple[Any, Any]:
    from sklearn.datasets import make_classification

    return make_classification(n_samples=200, n_features=6, n_informative=4, n_classes=3, random_state=0)


@pytest.fixture(scope="session")
def model(data: tuple[Any, Any]) -> Any:
    from sklearn.linear_model import LogisticRegression

    X, y = data
    return LogisticRegression(max_iter=1000).fit(X, y)


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return env
