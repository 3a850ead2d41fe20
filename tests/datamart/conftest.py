"""Datamart fixtures: a frame of every dtype a modeller meets (the backends come from
``store_url`` and ``shared_store_url`` in tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


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
