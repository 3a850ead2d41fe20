"""From notebook to production: models trained by notebooks/train.ipynb as jobs, served over
HTTP and Thrift with a challenger, scored by feedback, shown on the dashboard's snapshot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import workbench as wb
from tests.serving.conftest import TOKEN, start_server
from workbench.jobs import run
from workbench.serving.thrift_client import connect, predictions

TRAIN = Path(__file__).resolve().parents[1] / "notebooks" / "train.ipynb"
_THRIFT_LINE = re.compile(r"workbench serve: thrift on 127\.0\.0\.1:(\d+)")


@pytest.mark.timeout(300)
def test_models_trained_by_the_notebook_serve_ab_traffic_and_learn_from_feedback(
    tmp_path: Path, isolated_environment: Path
) -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import precision_score, recall_score

    for model in ("forest", "logistic"):
        result = run(TRAIN, {"model": model, "n_estimators": 20, "model_name": "e2e"})
        assert result.status == "succeeded", result
    wb.promote("e2e", 1, "production")
    wb.promote("e2e", 2, "challenger", weight=0.5)

    server = start_server(tmp_path, isolated_environment, ["--thrift-port", "0"])
    try:
        found = _THRIFT_LINE.search(server.stdout.read_text())
        assert found is not None, server.output()
        X, y = load_breast_cancer(return_X_y=True)
        rows, truth = X[:120].tolist(), y[:120].tolist()
        answers = [
            server.client.post(
                "/v1/models/e2e/predict", json={"instances": [row]}, headers={"x-routing-key": f"user-{i}"}
            ).json()
            for i, row in enumerate(rows)
        ]
        assert {(a["arm"], a["version"]) for a in answers} == {("production", 1), ("challenger", 2)}

        # Thrift answers the same rows with the same arm and the same predictions as HTTP
        with connect("127.0.0.1", int(found.group(1))) as (client, idl):
            for i in (0, 1, 2, 3):
                request = idl.PredictRequest(model="e2e", instances=[rows[i]], routing_key=f"user-{i}")
                answer = client.predict(request)
                assert (answer.arm, answer.version) == (answers[i]["arm"], answers[i]["version"])
                assert predictions(answer) == answers[i]["predictions"]

        feedback = {"request_ids": [a["request_ids"][0] for a in answers], "labels": truth}
        accepted = server.client.post(
            "/v1/models/e2e/feedback", json=feedback, headers={"authorization": f"Bearer {TOKEN}"}
        )
        assert accepted.json() == {"accepted": len(truth), "unknown": 0, "duplicate": 0}

        live = {r["arm"]: r for r in server.client.get("/v1/models/e2e").json()["live"]}
        for arm in ("production", "challenger"):
            pairs = [(t, a["predictions"][0]) for t, a in zip(truth, answers, strict=True) if a["arm"] == arm]
            expected, predicted = zip(*pairs, strict=True)
            assert live[arm]["n"] == len(pairs)
            assert live[arm]["precision"] == pytest.approx(precision_score(expected, predicted, average="macro"))
            assert live[arm]["recall"] == pytest.approx(recall_score(expected, predicted, average="macro"))

        # the dashboard, mounted by the server, shows both versions with their live figures
        page = server.client.get("/dashboard/api/snapshot", headers={"authorization": f"Bearer {TOKEN}"})
        assert page.status_code == 200, page.text
        assert "e2e" in page.text and '"challenger"' in page.text
    finally:
        server.stop()
