"""Small synthetic classification data: fast to rank, with a known informative feature."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def signal() -> tuple[pd.DataFrame, Any]:
    """``signal`` decides the label (up to 5% flipped labels); the other columns are noise."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(240, 6)), columns=["noise_a", "noise_b", "signal", "noise_c", "noise_d", "e"])
    y = (X["signal"] > 0).astype(int).to_numpy()
    flipped = rng.random(len(y)) < 0.05
    return X, np.where(flipped, 1 - y, y)


@pytest.fixture(scope="session")
def blobs() -> tuple[Any, Any]:
    """Three classes, eight features of which three informative (an array: names x0..x7)."""
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=210, n_features=8, n_informative=3, n_redundant=1, n_classes=3, random_state=0
    )
