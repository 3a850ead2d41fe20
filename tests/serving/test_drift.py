"""Drift: PSI per feature of live traffic against the registration profile, offline and through a server."""

from __future__ import annotations

import copy
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.serving.conftest import start_server
from tests.stages import in_production
from workbench.registry.api import default_registry
from workbench.registry.evaluation import profile
from workbench.serving.drift import feature_psi, psi, reference_bins

NAMES = ["x0", "x1", "x2", "x3", "x4"]


def population(seed: int = 0) -> tuple[Any, Any]:
    """One draw of a fixed population: reference rows, then fresh rows from the same distribution."""
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=9000, n_features=5, n_informative=3, n_redundant=0, n_classes=2, random_state=seed
    )


def shifted(rows: Any, feature: int) -> Any:
    moved = np.array(rows, dtype=float)
    moved[:, feature] += moved[:, feature].std()
    return moved


@pytest.mark.parametrize("legacy", [False, True])
def test_the_training_distribution_is_stable_and_a_shift_shows_on_its_feature_only(legacy: bool) -> None:
    X, _ = population()
    reference = profile(X[:3000], NAMES)
    if legacy:  # a profile written before drift bins existed: quantiles only
        reference = copy.deepcopy(reference)
        for entry in reference["features"].values():
            del entry["bins"]
    same = feature_psi(reference, NAMES, X[3000:5000].tolist())
    assert set(same) == set(NAMES) and max(same.values()) < 0.1, same
    moved = feature_psi(reference, NAMES, shifted(X[5000:7000], 2).tolist())
    assert moved["x2"] > 0.25, moved
    assert max(v for k, v in moved.items() if k != "x2") < 0.1, moved


def test_bins_hold_the_reference_shares_even_with_ties() -> None:
    column = np.array([[0.0]] * 60 + [[1.0]] * 30 + [[2.0]] * 10)
    reference = profile(column, ["x"])
    edges, shares, missing = reference_bins(reference, "x") or ([], [], 1.0)
    assert edges == reference["features"]["x"]["bins"]["edges"] == sorted(set(edges)) and missing == 0.0
    # counted, not read off the quantile levels: the three values fall into bins holding 60%, 30% and 10%
    assert sorted(s for s in shares if s) == pytest.approx([0.1, 0.3, 0.6])
    assert feature_psi(reference, ["x"], column.tolist()) == {"x": pytest.approx(0.0)}
    assert feature_psi(reference, ["x"], [[2.0]] * 100)["x"] > 1


def test_psi_is_zero_for_equal_shares_and_grows_with_the_difference() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert 0 < psi([0.5, 0.5], [0.6, 0.4]) < psi([0.5, 0.5], [0.9, 0.1])
    assert psi([0.5, 0.5, 0.0], [0.5, 0.4, 0.1]) < 2  # an empty bin is floored, not infinite


def test_missing_values_count_as_a_bin_of_their_own() -> None:
    X, _ = population()
    reference = profile(X[:3000], NAMES)
    rows = np.array(X[3000:5000], dtype=float)
    rows[: len(rows) // 2, 0] = np.nan
    drift = feature_psi(reference, NAMES, rows.tolist())
    assert drift["x0"] > 0.25 and drift["x1"] < 0.1


def test_drift_through_a_real_server(tmp_path: Path, isolated_environment: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = population()
    model = LogisticRegression(max_iter=1000).fit(X[:3000], y[:3000])
    in_production(default_registry(), default_registry().register(model, "shift", eval_data=(X[:3000], y[:3000])))
    (tmp_path / "pyproject.toml").write_text("[tool.workbench.serving]\ndrift_rows = 2000\ndrift_sample = 1\n")
    server = start_server(tmp_path, isolated_environment, ["--reload-seconds", "0"])
    try:
        assert server.client.get("/v1/models/shift").json()["drift"] == {"1": {}}  # no traffic yet
        _send(server, X[3000:5000])
        same = _drift(server, 2000)
        assert set(same) == set(NAMES) and max(same.values()) < 0.1, same
        _send(server, shifted(X[5000:7000], 3))  # fills the newest 2000 rows kept for drift
        moved = _drift(server, 4000)
        assert moved["x3"] > 0.25 and max(v for k, v in moved.items() if k != "x3") < 0.1, moved
        metrics = server.client.get("/metrics").text
        found = re.search(r'^workbench_drift_psi\{model="shift",version="1",feature="x3"\} (\S+)$', metrics, re.M)
        assert found and float(found.group(1)) == pytest.approx(moved["x3"])
    finally:
        server.stop()


def _send(server: Any, rows: Any) -> None:
    for start in range(0, len(rows), 500):
        answer = server.client.post("/v1/models/shift/predict", json={"instances": rows[start : start + 500].tolist()})
        assert answer.status_code == 200, answer.text


def _drift(server: Any, written: int) -> dict[str, float]:
    deadline = time.monotonic() + 30
    while True:
        metrics = server.client.get("/metrics").text
        if f"workbench_predlog_written_total {written}" in metrics and "workbench_predlog_pending 0" in metrics:
            break
        assert time.monotonic() < deadline, "the predictions were never written"
        time.sleep(0.05)
    drift: dict[str, float] = server.client.get("/v1/models/shift").json()["drift"]["1"]
    return drift
