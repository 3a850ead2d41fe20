"""Datamart fixtures: the configured store as ``local`` or a real redis-server, and a frame
of every dtype a modeller meets."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from tests.redis_server import RedisServer


def _prefix(request: pytest.FixtureRequest) -> str:
    return "dm" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:16]


@pytest.fixture(params=["local", "redis"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The store value every test's datamart calls use (set as WORKBENCH_STORE)."""
    if request.param == "local":
        value = "local"
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        value = server.url(prefix=_prefix(request))
    monkeypatch.setenv("WORKBENCH_STORE", value)
    yield value


@pytest.fixture
def mixed() -> pd.DataFrame:
    """Ints, floats, categoricals, strings, tz-aware datetimes, each with missing values."""
    times = pd.to_datetime(["2024-01-01 10:00", None, "2024-03-31 04:30", "2024-10-27 01:15"])
    return pd.DataFrame(
        {
            "count": np.array([1, -2, 3, 2**40], dtype=np.int64),
            "maybe_count": pd.array([1, None, 3, 4], dtype="Int64"),
            "small": np.array([1, 2, 3, 4], dtype=np.int8),
            "score": [0.5, np.nan, -1e300, 3.25],
            "ratio": np.array([1.5, 2.5, np.nan, 0.0], dtype=np.float32),
            "segment": pd.Categorical(["gold", None, "silver", "gold"], categories=["silver", "gold"], ordered=True),
            "city": ["Zürich", None, "", "naïve \u2603"],
            "flag": pd.array([True, None, False, True], dtype="boolean"),
            "seen": times.tz_localize("Europe/Paris"),
            "at_utc": times.tz_localize("UTC"),
        }
    )
