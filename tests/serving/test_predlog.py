"""The store-backed prediction log: one contract on every backend (memory, SQLite, real Redis), then
through real servers.

Live precision/recall/F1 equal scikit-learn's on the same pairs, retention holds, the
window slides, feedback reaches every server process and survives a restart, and a
store outage never fails a predict.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from tests.conftest import key_prefix
from tests.redis_server import RedisServer
from tests.serving.conftest import TOKEN, Server, iris_data, register_iris, start_server
from workbench.config import load_settings
from workbench.errors import ConfigError, StorageUnavailableError
from workbench.registry.api import Registry
from workbench.serving.logwriter import LogWriter
from workbench.serving.predlog import PredictionLog, PredictionRecord, Retention, open_prediction_log
from workbench.storage import open_storage
from workbench.storage.local.predictions import LocalPredictionStore
from workbench.storage.memory.predictions import MemoryPredictionStore
from workbench.storage.model_records import ModelVersion
from workbench.storage.prediction_store import FeedbackResult
from workbench.storage.redis.predictions import RedisPredictionStore

AUTH = {"authorization": f"Bearer {TOKEN}"}


def _no_reference(name: str, version: int) -> ModelVersion:
    raise AssertionError("no drift lookups in these tests")


def _open(retention: Retention) -> PredictionLog:
    """The prediction log of the test's backend (``store_url``), its retention set in pyproject.toml as a user would."""
    Path("pyproject.toml").write_text(
        "[tool.workbench.serving]\n"
        f"log_max_predictions = {retention.max_predictions}\n"
        f"log_max_age_seconds = {retention.max_age_s}\n"
        f"log_max_labels = {retention.max_labels}\n"
        f"drift_rows = {retention.drift_rows}\n"
    )
    storage = open_storage()
    return PredictionLog(storage.predictions, _no_reference, on_close=storage.close)


def records(
    n: int,
    *,
    name: str = "iris",
    version: int = 1,
    arm: str = "production",
    start: int = 0,
    at: float | None = None,
    prediction: Any = 0,
) -> list[PredictionRecord]:
    now = time.time() if at is None else at
    return [
        PredictionRecord(f"{name}-{version}-{arm}-{i}", name, version, arm, "0" * 64, prediction, now, 1.0 + i % 5)
        for i in range(start, start + n)
    ]


def test_open_picks_the_store_of_the_backend(store_url: str) -> None:
    opened = open_prediction_log(reference=_no_reference)
    try:
        kinds = {"memory": MemoryPredictionStore, "local": LocalPredictionStore, "redis": RedisPredictionStore}
        assert type(opened.store) is kinds[store_url.split(":")[0]]
        assert opened.retention == Retention()
    finally:
        opened.close()


def test_each_id_is_labelled_once_and_only_for_its_model(store_url: str) -> None:
    log = _open(Retention())
    try:
        log.append(records(2) + records(1, name="other", version=3))
        pairs = [("iris-1-production-0", 0), ("iris-1-production-0", 0), ("iris-1-production-1", 2)]
        result = log.label("iris", [*pairs, ("other-3-production-0", 1), ("zzz", 1)])
        assert result == FeedbackResult(accepted=2, unknown=2, duplicate=1)
        assert log.label("iris", [("iris-1-production-1", 1)]) == FeedbackResult(0, 0, 1)
        (report,) = log.live()
        assert (report.name, report.version, report.arm, report.n) == ("iris", 1, "production", 2)
        expected = precision_score(["0", "2"], ["0", "0"], average="macro", zero_division=0)
        assert report.precision == pytest.approx(expected, abs=1e-12)
        assert log.feedback_counts() == {("iris", "accepted"): 2, ("iris", "unknown"): 2, ("iris", "duplicate"): 2}
    finally:
        log.close()


@pytest.mark.parametrize("seed", range(3))
def test_live_scores_equal_sklearn_per_version_and_arm(store_url: str, seed: int) -> None:
    rng = random.Random(seed)
    log = _open(Retention())
    pairs: dict[tuple[int, str], tuple[list[str], list[str]]] = {}
    try:
        for version, arm in ((1, "production"), (2, "challenger")):
            predicted = [rng.choice(["a", "b", "c"]) for _ in range(300)]
            batch = [
                PredictionRecord(f"{version}-{i}", "m", version, arm, "0" * 64, p, time.time(), 2.0)
                for i, p in enumerate(predicted)
            ]
            log.append(batch)
            truth = [p if rng.random() < 0.6 else rng.choice(["a", "b", "c", "d"]) for p in predicted]
            assert log.label("m", [(r.request_id, t) for r, t in zip(batch, truth, strict=True)]).accepted == 300
            pairs[(version, arm)] = (truth, predicted)
        reports = log.live("m", window=1000)
        assert [(r.version, r.arm, r.n) for r in reports] == [(1, "production", 300), (2, "challenger", 300)]
        for report in reports:
            truth, predicted = pairs[(report.version, report.arm)]
            for field, score in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score)):
                expected = score(truth, predicted, average="macro", zero_division=0)
                assert getattr(report, field) == pytest.approx(expected, abs=1e-12), field
        assert log.live("nothing") == []
    finally:
        log.close()


def test_the_window_slides_over_the_newest_labels(store_url: str) -> None:
    log = _open(Retention(max_labels=50))
    try:
        log.append(records(100))
        ids = [r.request_id for r in records(100)]
        log.label("iris", [(rid, 0) for rid in ids[:60]])  # correct
        (before,) = log.live(window=20)
        assert (before.n, before.precision, before.recall) == (20, 1.0, 1.0)
        log.label("iris", [(rid, 1) for rid in ids[60:]])  # all wrong: predicted 0, truth 1
        (after,) = log.live(window=20)
        assert (after.n, after.precision, after.recall, after.f1) == (20, 0.0, 0.0, 0.0)
        (capped,) = log.live(window=10_000)
        assert capped.n == capped.window == 50  # labels kept per group: max_labels
        assert capped.first_at <= capped.last_at
    finally:
        log.close()


def test_retention_keeps_the_newest_predictions_only(store_url: str) -> None:
    log = _open(Retention(max_predictions=50, max_age_s=60))
    try:
        for start in range(0, 200, 20):
            log.append(records(20, start=start))
        ids = [r.request_id for r in records(200)]
        assert log.label("iris", [(rid, 0) for rid in ids[:150]]) == FeedbackResult(0, 150, 0)
        assert log.label("iris", [(rid, 0) for rid in ids[150:]]) == FeedbackResult(50, 0, 0)
        log.append(records(10, name="old", at=time.time() - 120))
        assert log.label("old", [(r.request_id, 0) for r in records(10, name="old")]).unknown == 10
        assert _stored_predictions(log) <= 50
    finally:
        log.close()


def _stored_predictions(log: PredictionLog) -> int:
    store = log.store
    if isinstance(store, MemoryPredictionStore):
        return len(store._predictions)
    if isinstance(store, LocalPredictionStore):
        return int(store.db.query("SELECT COUNT(*) FROM predictions")[0][0])
    assert isinstance(store, RedisPredictionStore)
    order = int(store.client.zcard(store._key("order")))
    stored = sum(1 for _ in store.client.scan_iter(match=store._key("p", "*")))  # test-only inspection
    assert stored == order
    return order


def test_traffic_counts_rows_and_latency_percentiles(store_url: str) -> None:
    log = _open(Retention())
    try:
        old = records(5, at=time.time() - 3600, start=500)
        log.append(records(100) + records(10, version=2, arm="challenger") + old)
        reports = {(r.version, r.arm): r for r in log.traffic("iris", seconds=60)}
        production, challenger = reports[(1, "production")], reports[(2, "challenger")]
        assert (production.requests, challenger.requests) == (100, 10)
        assert production.rate_per_s == pytest.approx(100 / 60)
        assert (production.p50_ms, production.p99_ms) == (3.0, 5.0)
    finally:
        log.close()


class _Down(LocalPredictionStore):
    """A store that is down until ``up`` is set."""

    up = False

    def append(self, records: Sequence[PredictionRecord]) -> None:
        if not self.up:
            raise StorageUnavailableError("down for the test")
        super().append(records)


def test_the_writer_retries_then_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    down = _Down(tmp_path, Retention())
    log = PredictionLog(down, _no_reference)
    writer = LogWriter(log, interval=0.01, max_pending=100)
    try:
        for start in range(0, 150, 10):
            writer.add(records(10, start=start), "iris", 1, [[1.0]] * 10)
        with pytest.raises(StorageUnavailableError):
            writer.flush()
        assert writer.stats().healthy is False
        assert (writer.stats().dropped, writer.stats().pending) == (50, 100)
        down.up = True
        deadline = time.monotonic() + 10
        while writer.stats().pending:
            assert time.monotonic() < deadline, "the writer never caught up"
            time.sleep(0.01)
        assert writer.stats() == type(writer.stats())(written=100, dropped=50, pending=0, healthy=True)
        ids = [r.request_id for r in records(150)]
        assert log.label("iris", [(rid, 0) for rid in ids]) == FeedbackResult(100, 50, 0)
    finally:
        writer.close()
        log.close()


# -- through real servers -----------------------------------------------------------------------


@pytest.fixture(params=["local", "redis"])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """WORKBENCH_STORE for the servers, with ``iris`` v1 in production in that store."""
    env = {}
    if request.param == "redis":
        env["WORKBENCH_STORE"] = request.getfixturevalue("redis_server").url(prefix=key_prefix(request))
    storage = open_storage(load_settings(), url=env.get("WORKBENCH_STORE", "local"))
    store = storage.models
    try:
        register_iris(Registry(store))
    finally:
        storage.close()
    return env


@pytest.fixture
def servers(tmp_path: Path, isolated_environment: Path, store_env: dict[str, str]) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def _serve(tmp_path: Path, home: Path, env: dict[str, str], started: list[Server], tag: str) -> Server:
    folder = tmp_path / tag
    folder.mkdir()
    server = start_server(folder, home, ["--reload-seconds", "0"], env=env)
    started.append(server)
    return server


def test_the_writer_keeps_a_uniform_sample_of_input_rows_for_drift(tmp_path: Path) -> None:
    from workbench.serving.logwriter import DRIFT_CAP

    log = PredictionLog(LocalPredictionStore(tmp_path, Retention(drift_rows=100_000)), _no_reference)
    writer = LogWriter(log, interval=60)
    try:
        rows = [[float(i)] for i in range(10 * DRIFT_CAP)]
        writer.add(records(len(rows)), "iris", 1, rows)
        for start in range(0, 2000, 100):  # the same share whatever the batches: 20 requests in one write
            batch = [[float(i)] for i in range(start, start + 100)]
            writer.add(records(100, start=len(rows) + start), "iris", 2, batch)
        writer.flush()
        kept = log.store.feature_rows("iris", 1)
        assert len(kept) == DRIFT_CAP and len({r[0] for r in kept}) == DRIFT_CAP  # capped: 0.25 of 6,400 > 640
        assert {r[0] for r in kept} <= {r[0] for r in rows}
        assert max(r[0] for r in kept) > 5 * DRIFT_CAP  # drawn from the whole batch, not its start
        sampled = len(log.store.feature_rows("iris", 2))
        assert 2000 * 0.25 - 4 * (2000 * 0.25 * 0.75) ** 0.5 < sampled < 2000 * 0.25 + 4 * (2000 * 0.25 * 0.75) ** 0.5
        assert writer.stats().written == len(rows) + 2000  # every prediction is still logged
    finally:
        writer.close()
        log.close()


def test_a_drift_share_of_one_keeps_every_row(tmp_path: Path) -> None:
    log = PredictionLog(LocalPredictionStore(tmp_path, Retention(drift_sample=1.0)), _no_reference)
    writer = LogWriter(log, interval=60)
    try:
        writer.add(records(3), "iris", 2, [[1.0], [2.0], [3.0]])
        writer.flush()
        assert sorted(r[0] for r in log.store.feature_rows("iris", 2)) == [1.0, 2.0, 3.0]
    finally:
        writer.close()
        log.close()
    with pytest.raises(ConfigError, match=r"drift_sample must be a share of rows in \(0, 1\], not 0"):
        Retention(drift_sample=0)


def test_live_metrics_through_real_servers_equal_sklearn(
    tmp_path: Path, isolated_environment: Path, store_env: dict[str, str], servers: list[Server]
) -> None:
    """Predict on one server process, feed back on another: the shared log joins and scores like sklearn."""
    first = _serve(tmp_path, isolated_environment, store_env, servers, "a")
    second = _serve(tmp_path, isolated_environment, store_env, servers, "b")
    X, y = iris_data()
    answered = first.client.post("/v1/models/iris/predict", json={"instances": X.tolist()}).json()
    labels = [int(t) if i % 5 else (int(t) + 1) % 3 for i, t in enumerate(y)]
    body = {"request_ids": answered["request_ids"], "labels": labels}
    _wait_written(first, len(y))  # another process's buffer is written within its batch interval
    joined = second.client.post("/v1/models/iris/feedback", json=body, headers=AUTH).json()
    assert joined == {"accepted": len(y), "unknown": 0, "duplicate": 0}
    again = {"request_ids": [*answered["request_ids"][:3], "never-issued"], "labels": [*labels[:3], 0]}
    rejoined = first.client.post("/v1/models/iris/feedback", json=again, headers=AUTH).json()
    assert rejoined == {"accepted": 0, "unknown": 1, "duplicate": 3}
    predicted = answered["predictions"]
    for server in (first, second):
        (live,) = server.client.get("/v1/models/iris").json()["live"]
        assert (live["version"], live["arm"], live["n"]) == (1, "production", len(y))
        for field, score in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score)):
            assert live[field] == pytest.approx(score(labels, predicted, average="macro", zero_division=0), abs=1e-12)
        metrics = server.client.get("/metrics").text
        assert "workbench_predlog_up 1" in metrics
        assert f'workbench_live_f1_macro{{model="iris",version="1",arm="production"}} {live["f1"]!r}' in metrics
        assert 'workbench_feedback_total{model="iris",result="duplicate"} 3' in metrics
    (traffic,) = second.client.get("/v1/models/iris").json()["traffic"]
    assert traffic["requests"] == len(y) and traffic["arm"] == "production"


def test_feedback_after_a_restart_still_joins(
    tmp_path: Path, isolated_environment: Path, store_env: dict[str, str], servers: list[Server]
) -> None:
    server = _serve(tmp_path, isolated_environment, store_env, servers, "before")
    answered = server.client.post("/v1/models/iris/predict", json={"instances": [[5.1, 3.5, 1.4, 0.2]]}).json()
    server.stop()  # right after the predict: the buffered record is written at shutdown
    restarted = _serve(tmp_path, isolated_environment, store_env, servers, "after")
    body = {"request_ids": answered["request_ids"], "labels": [0]}
    assert restarted.client.post("/v1/models/iris/feedback", json=body, headers=AUTH).json()["accepted"] == 1


@pytest.mark.timeout(180)
def test_a_store_outage_never_fails_a_predict_and_loses_nothing_buffered(
    tmp_path: Path, isolated_environment: Path, own_redis: RedisServer
) -> None:
    url = own_redis.url(prefix="outage", timeout=1.0)
    storage = open_storage(load_settings(), url=url)
    store = storage.models
    try:
        register_iris(Registry(store))
    finally:
        storage.close()
    server = start_server(tmp_path, isolated_environment, ["--reload-seconds", "0"], env={"WORKBENCH_STORE": url})
    try:
        row = {"instances": [[5.9, 3.0, 5.1, 1.8]]}
        assert server.client.post("/v1/models/iris/predict", json=row).status_code == 200
        own_redis.stop()
        ids = []
        for _ in range(20):
            answer = server.client.post("/v1/models/iris/predict", json=row)
            assert answer.status_code == 200, answer.text
            ids += answer.json()["request_ids"]
        metrics = server.client.get("/metrics").text
        assert "workbench_predlog_up 0" in metrics
        assert int(_metric(metrics, "workbench_predlog_pending")) > 0
        one = {"request_ids": ids[:1], "labels": [2]}
        refused = server.client.post("/v1/models/iris/feedback", json=one, headers=AUTH)
        assert refused.status_code == 503 and "redis" not in refused.text.lower()
        own_redis.start()
        deadline = time.monotonic() + 60
        while "workbench_predlog_pending 0" not in server.client.get("/metrics").text:
            assert time.monotonic() < deadline, "the buffered predictions were never written"
            time.sleep(0.1)
        body = {"request_ids": ids, "labels": [2] * len(ids)}
        assert server.client.post("/v1/models/iris/feedback", json=body, headers=AUTH).json()["accepted"] == 20
        metrics = server.client.get("/metrics").text
        assert "workbench_predlog_up 1" in metrics and "workbench_predlog_dropped_total 0" in metrics
    finally:
        server.stop()
    assert "the store is unreachable" in server.output()


def _wait_written(server: Server, n: int) -> None:
    deadline = time.monotonic() + 30
    while int(_metric(server.client.get("/metrics").text, "workbench_predlog_written_total")) < n:
        assert time.monotonic() < deadline, "the server never wrote its predictions"
        time.sleep(0.02)


def _metric(text: str, name: str) -> str:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return found.group(1)


def test_retention_comes_from_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.workbench.serving]\nlog_max_predictions = 7\nlog_max_age_seconds = 30\ndrift_rows = 9\n"
    )
    retention = Retention.from_settings(load_settings(cwd=tmp_path))
    assert (retention.max_predictions, retention.max_age_s, retention.drift_rows) == (7, 30, 9)
    assert retention.max_labels == Retention().max_labels
    (tmp_path / "pyproject.toml").write_text("[tool.workbench.serving]\nlog_max_predictions = 0\n")
    with pytest.raises(ConfigError, match="positive integer"):
        Retention.from_settings(load_settings(cwd=tmp_path))
