"""A/B serving through real server processes: the split, stickiness, hot pickup, live metrics per arm."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import workbench as wb
from tests.serving.conftest import TOKEN, Server, iris_data, register_iris, start_server
from workbench import cli
from workbench.config import load_settings
from workbench.registry.api import Registry, default_registry
from workbench.serving.routing import Route, key_share
from workbench.storage import open_storage

AUTH = {"authorization": f"Bearer {TOKEN}"}
ROW = {"instances": [[5.9, 3.0, 5.1, 1.8]]}
WEIGHT = 0.2


def four_sigma(n: int, p: float) -> tuple[float, float]:
    """Bounds a binomial(n, p) count stays within with probability above 0.9999."""
    spread = 4 * math.sqrt(n * p * (1 - p))
    return n * p - spread, n * p + spread


@pytest.fixture(scope="module")
def ab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """iris v1 in production, v2 as challenger at 0.2, served by one process."""
    folder = tmp_path_factory.mktemp("ab")
    home = folder / "wbhome"
    storage = open_storage(load_settings(home=home, cwd=folder, environ={}), url="local")
    store = storage.models
    try:
        registry = Registry(store)
        register_iris(registry)
        challenger = register_iris(registry, C=0.05, stage="staging")
        registry.record_stage("iris", challenger, "challenger", weight=WEIGHT)
    finally:
        storage.close()
    server = start_server(folder, home, ["--reload-seconds", "0"])
    yield server
    server.stop()


def test_the_split_follows_the_weight(ab_server: Server) -> None:
    arms = []
    for _ in range(2000):
        body = ab_server.client.post("/v1/models/iris/predict", json=ROW).json()
        assert (body["arm"], body["version"]) in {("production", 1), ("challenger", 2)}
        arms.append(body["arm"])
    low, high = four_sigma(2000, WEIGHT)
    assert low <= arms.count("challenger") <= high, arms.count("challenger")


def test_a_routing_key_always_lands_on_the_same_arm(ab_server: Server) -> None:
    keys = [uuid.uuid4().hex for _ in range(300)]
    on_challenger = 0
    for key in keys:
        by_header = [
            ab_server.client.post("/v1/models/iris/predict", json=ROW, headers={"x-routing-key": key}).json()["arm"]
            for _ in range(2)
        ]
        by_body = ab_server.client.post("/v1/models/iris/predict", json={**ROW, "routing_key": key}).json()["arm"]
        expected = "challenger" if key_share("iris", key) < WEIGHT else "production"
        assert by_header == [expected, expected] and by_body == expected
        on_challenger += expected == "challenger"
    low, high = four_sigma(len(keys), WEIGHT)
    assert low <= on_challenger <= high
    refused = ab_server.client.post("/v1/models/iris/predict", json={**ROW, "routing_key": 7})
    assert refused.status_code == 422 and "routing key" in refused.json()["message"]


def test_live_metrics_are_kept_per_version_and_arm(ab_server: Server) -> None:
    from sklearn.metrics import precision_score

    X, y = iris_data()
    answers = [ab_server.client.post("/v1/models/iris/predict", json={"instances": [row]}).json() for row in X.tolist()]
    labels = [int(t) if i % 4 else (int(t) + 1) % 3 for i, t in enumerate(y)]
    body = {"request_ids": [a["request_ids"][0] for a in answers], "labels": labels}
    assert ab_server.client.post("/v1/models/iris/feedback", json=body, headers=AUTH).json()["accepted"] == len(y)
    detail = ab_server.client.get("/v1/models/iris").json()
    assert (detail["version"], detail["challenger"]["version"], detail["challenger"]["weight"]) == (1, 2, WEIGHT)
    live = {(r["version"], r["arm"]): r for r in detail["live"]}
    assert set(live) == {(1, "production"), (2, "challenger")}
    for (version, arm), report in live.items():
        pairs = [(t, a["predictions"][0]) for t, a in zip(labels, answers, strict=True) if a["arm"] == arm]
        assert report["n"] == len(pairs) and all(a["version"] == version for a in answers if a["arm"] == arm)
        truth, predicted = zip(*pairs, strict=True)
        expected = precision_score(truth, predicted, average="macro", zero_division=0)
        assert report["precision"] == pytest.approx(expected, abs=1e-12)
    metrics = ab_server.client.get("/metrics").text
    assert 'workbench_live_labels{model="iris",version="2",arm="challenger"}' in metrics
    assert {(t["version"], t["arm"]) for t in detail["traffic"]} == {(1, "production"), (2, "challenger")}


def test_a_challenger_promoted_while_serving_is_picked_up(tmp_path: Path, isolated_environment: Path) -> None:
    register_iris(default_registry())
    second = register_iris(default_registry(), C=0.05, stage="staging")
    third = register_iris(default_registry(), C=0.01, stage="staging")
    server = start_server(tmp_path, isolated_environment, ["--reload-seconds", "0.2"])
    try:
        assert {_answer(server) for _ in range(20)} == {("production", 1)}
        wb.promote("iris", second, "challenger", weight=0.5)
        _wait_for(server, ("challenger", second))
        wb.promote("iris", third, "challenger", weight=0.5)  # replaces v2 as challenger
        _wait_for(server, ("challenger", third))
        assert {_answer(server) for _ in range(60)} == {("production", 1), ("challenger", third)}
        wb.promote("iris", third, "production")  # the challenger wins
        _wait_for(server, ("production", third))
        assert {_answer(server) for _ in range(40)} == {("production", third)}
        assert server.client.get("/v1/models/iris").json()["challenger"] is None
    finally:
        server.stop()


def _answer(server: Server) -> tuple[str, int]:
    body = server.client.post("/v1/models/iris/predict", json=ROW).json()
    return body["arm"], body["version"]


def _wait_for(server: Server, wanted: tuple[str, int]) -> None:
    deadline = time.monotonic() + 60
    while _answer(server) != wanted:
        assert time.monotonic() < deadline, f"{wanted} never answered:\n{server.output()}"


def test_the_cli_promotes_a_challenger_with_its_weight(capsys: pytest.CaptureFixture[str]) -> None:
    register_iris(default_registry())
    register_iris(default_registry(), C=0.05, stage="staging")
    assert cli.main(["promote", "iris", "2", "--to", "challenger", "--weight", "0.1"]) == 0
    assert capsys.readouterr().out == "iris v2 is now challenger, taking 0.1 of the traffic\n"
    assert default_registry().store.challenger_weight("iris", 2) == 0.1
    assert cli.main(["promote", "iris", "2", "--to", "challenger"]) == 1
    assert "needs a weight in (0, 1)" in capsys.readouterr().err


def test_an_arm_is_picked_from_one_routing_entry() -> None:
    class Fake:
        def __init__(self, number: int) -> None:
            self.version = type("V", (), {"name": "m", "version": number})()

    route = Route(Fake(1), Fake(2), 0.3)  # type: ignore[arg-type]
    picks: dict[str, Any] = {key: route.pick(key) for key in map(str, range(1000))}
    assert all(route.pick(key) == pick for key, pick in picks.items())
    assert Route(Fake(1)).pick("anything")[0] == "production"  # type: ignore[arg-type]
    higher = Route(Fake(1), Fake(2), 0.6)  # type: ignore[arg-type]
    # raising the weight only moves keys to the challenger, never back
    assert all(higher.pick(k)[0] == "challenger" for k, (arm, _) in picks.items() if arm == "challenger")
