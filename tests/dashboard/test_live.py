"""Live figures end to end: predictions and feedback through a real ``workbench serve``, read by the dashboard."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import Dashboard, iris_data, login, settings_for, start_dashboard
from tests.serving.conftest import TOKEN as SERVE_TOKEN
from tests.serving.conftest import Server, start_server
from workbench.serving.predlog import open_prediction_log

pytestmark = pytest.mark.timeout(120)


def _predict_and_label(server: Server, rows: list[int], flip_every: int) -> tuple[list[Any], list[Any]]:
    """Predict ``rows`` of iris, then send their labels (every ``flip_every``-th one wrong); (labels, predictions)."""
    X, y = iris_data()
    answer = server.client.post("/v1/models/iris/predict", json={"instances": X[rows].tolist()})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    labels = [int(y[r]) if i % flip_every else int((y[r] + 1) % 3) for i, r in enumerate(rows)]
    feedback = server.client.post(
        "/v1/models/iris/feedback",
        json={"request_ids": body["request_ids"], "labels": labels},
        headers={"Authorization": f"Bearer {SERVE_TOKEN}"},
    )
    assert feedback.status_code == 200 and feedback.json()["accepted"] == len(rows), feedback.text
    return labels, body["predictions"]


def _live_cell(page: Any, field: str) -> Any:
    return page.locator(f"tr[data-model='iris'][data-version='2'] [data-field='{field}']")


def test_live_precision_and_recall_on_the_page_equal_sklearn(tmp_path: Path, shared_home: Path, page: Any) -> None:
    from sklearn.metrics import precision_score, recall_score

    home = tmp_path / "wbhome"
    shutil.copytree(shared_home, home)
    server = start_server(tmp_path, home)
    dashboard: Dashboard | None = None
    try:
        labels, predictions = _predict_and_label(server, list(range(0, 150, 2)), flip_every=5)
        dashboard = start_dashboard(tmp_path, home)
        login(page, dashboard)
        expect(_live_cell(page, "labelled")).to_have_attribute("data-value", str(len(labels)), timeout=5000)
        precision = precision_score(labels, predictions, average="macro", zero_division=0)
        recall = recall_score(labels, predictions, average="macro", zero_division=0)
        shown = _live_cell(page, "live_precision")
        assert float(shown.get_attribute("data-value")) == pytest.approx(precision, abs=1e-12)
        assert shown.text_content() == f"{precision:.3f}"
        assert float(_live_cell(page, "live_recall").get_attribute("data-value")) == pytest.approx(recall, abs=1e-12)
        assert _live_cell(page, "live_recall").text_content() == f"{recall:.3f}"
        assert _live_cell(page, "rate").text_content().endswith("/s")
        assert _live_cell(page, "p99").text_content().endswith(" ms")
        assert page.locator("section[data-model='iris'] figure svg path[data-kind='live']").count() == 2
        # the serving replica, its traffic and the combined figure (one replica: the same rows)
        replica = server.client.get("/healthz").json()["replica"]
        row = page.locator(f"#replicas-body tr[data-replica='{replica}']")
        expect(row.locator("[data-field='serving']")).to_have_text("iris v2", timeout=5000)
        expect(row.locator("[data-field='rows_last_minute']")).to_have_text(f"iris={len(labels)}")
        combined = page.locator("#replicas-combined tr[data-model='iris']")
        expect(combined.locator("[data-field='rows_last_minute']")).to_have_attribute("data-value", str(len(labels)))
        expect(combined.locator("[data-field='serving']")).to_have_attribute("data-value", "agree")

        more_labels, more_predictions = _predict_and_label(server, list(range(1, 150, 2)), flip_every=3)
        started = time.monotonic()
        expect(_live_cell(page, "labelled")).to_have_attribute("data-value", "150", timeout=2000)
        print(f"feedback shown after {time.monotonic() - started:.2f} s")
        everything = precision_score(labels + more_labels, predictions + more_predictions, average="macro")
        assert float(_live_cell(page, "live_precision").get_attribute("data-value")) == pytest.approx(everything)

        X, _ = iris_data()
        shifted = server.client.post("/v1/models/iris/predict", json={"instances": (X * 1.8).tolist() * 2})
        assert shifted.status_code == 200
        warned = _live_cell(page, "drift").locator("li.warn")
        warned.first.wait_for(timeout=5000)
        time.sleep(1.0)  # the server's log writer has flushed every row by now
        log = open_prediction_log(settings_for(home))
        try:
            psi = log.drift("iris", 2)
        finally:
            log.close()
        top = sorted(psi, key=psi.__getitem__, reverse=True)[:3]
        for feature in top:
            item = _live_cell(page, "drift").locator(f"li[data-feature='{feature}']")
            expect(item).to_have_attribute("data-value", repr(float(psi[feature])), timeout=3000)
            assert (psi[feature] > 0.2) == ("warn" in (item.get_attribute("class") or ""))
        assert warned.count() >= 1
        assert page.problems == []
    finally:
        if dashboard is not None:
            dashboard.stop()
        server.stop()


def test_serve_mounts_the_dashboard_behind_its_token(tmp_path: Path, shared_home: Path) -> None:
    home = tmp_path / "wbhome"
    shutil.copytree(shared_home, home)
    server = start_server(tmp_path, home)
    try:
        assert server.client.get("/dashboard/api/snapshot").status_code == 401
        assert server.client.get("/dashboard/").status_code == 401
        answer = server.client.get("/dashboard/api/snapshot", headers={"Authorization": f"Bearer {SERVE_TOKEN}"})
        assert answer.status_code == 200
        assert {m["name"] for m in answer.json()["data"]["models"]} == {"iris", "churn-model"}
        login = server.client.get(f"/dashboard/?token={SERVE_TOKEN}")
        assert login.status_code == 303 and login.headers["location"] == "/dashboard/"
        assert "Path=/dashboard" in login.headers["set-cookie"]
        assert server.client.get("/healthz").status_code == 200
    finally:
        server.stop()
