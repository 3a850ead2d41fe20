"""Registry fixtures: the model store of every backend (memory, local, a real redis-server), small models."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from workbench.registry import ModelStore, Registry
from workbench.storage import Storage
from workbench.storage.local.models import LocalModelStore
from workbench.storage.memory.models import MemoryModelStore
from workbench.storage.redis.models import RedisModelStore

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(storage: Storage) -> ModelStore:
    """The model store of each backend in turn (the ``storage`` fixture of tests/conftest.py)."""
    return storage.models


@pytest.fixture
def registry(store: ModelStore) -> Registry:
    return Registry(store)


def corrupt(store: ModelStore, sha256: str, data: bytes) -> None:
    """Replace stored artifact bytes behind the registry's back, as a bad disk or an attacker would."""
    if isinstance(store, MemoryModelStore):
        store._artifacts[sha256] = data
    elif isinstance(store, LocalModelStore):
        (store.artifacts / sha256[:2] / sha256).write_bytes(data)
    else:
        assert isinstance(store, RedisModelStore)
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
