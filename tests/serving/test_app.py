"""The app in a server thread: answers, shapes, missing values, feedback, OpenAPI, hot swap."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import numpy as np
import pytest

import workbench as wb
from tests.serving.conftest import TOKEN, fit_iris, iris_data, register_iris, serve_in_thread
from workbench.errors import ModelNotFoundError
from workbench.registry.api import default_registry
from workbench.serving.app import create_app
from workbench.serving.factory import ModelFactory
from workbench.serving.service import ServeConfig

AUTH = {"authorization": f"Bearer {TOKEN}"}


@contextmanager
def client_for(names: list[str] | None = None, factory: ModelFactory | None = None) -> Iterator[httpx.Client]:
    if factory is None:
        factory = ModelFactory(default_registry(), names)
        factory.load()
    with serve_in_thread(create_app(factory, ServeConfig(token=TOKEN, reload_seconds=0))) as client:
        yield client


@pytest.fixture
def iris() -> Iterator[httpx.Client]:
    register_iris(default_registry())
    with client_for() as client:
        yield client


def test_instances_answer_like_the_model_with_one_id_per_row(iris: httpx.Client) -> None:
    X, _ = iris_data()
    rows = X[::10]
    body = iris.post("/v1/models/iris/predict", json={"instances": rows.tolist()}).json()
    model = fit_iris()
    assert body["model"] == "iris" and body["version"] == 1
    assert body["predictions"] == model.predict(rows).tolist()
    probabilities = np.array([[p[str(c)] for c in model.classes_] for p in body["probabilities"]])
    np.testing.assert_allclose(probabilities, model.predict_proba(rows), rtol=1e-12)
    assert len(set(body["request_ids"])) == len(rows)


def test_records_follow_the_feature_names(iris: httpx.Client) -> None:
    row = [6.3, 3.3, 6.0, 2.5]
    record = {"x3": row[3], "x1": row[1], "x0": row[0], "x2": row[2]}
    by_record = iris.post("/v1/models/iris/predict", json={"records": [record]}).json()
    by_instance = iris.post("/v1/models/iris/predict", json={"instances": [row]}).json()
    assert by_record["predictions"] == by_instance["predictions"] == [2]
    assert by_record["probabilities"] == by_instance["probabilities"]


def test_a_model_fitted_on_a_frame_takes_its_column_names() -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    wb.register(model, "cancer", eval_data=(X, y), stage="production")
    with client_for(["cancer"]) as client:
        info = client.get("/v1/models/cancer").json()
        assert info["feature_names"] == list(X.columns)
        record = X.iloc[0].to_dict()
        body = client.post("/v1/models/cancer/predict", json={"records": [record]}).json()
        assert body["predictions"] == model.predict(X.iloc[:1]).tolist()


def test_missing_values_are_refused_unless_the_model_handles_them() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = iris_data()
    register_iris(default_registry())
    wb.register(HistGradientBoostingClassifier(max_iter=5).fit(X, y), "hgb", eval_data=(X, y), stage="production")
    with client_for() as client:
        row = [None, 3.0, 1.0, 0.2]
        refused = client.post("/v1/models/iris/predict", json={"instances": [row]})
        assert refused.status_code == 422 and "missing values" in refused.json()["message"]
        answered = client.post("/v1/models/hgb/predict", json={"instances": [row]})
        assert answered.status_code == 200
        assert client.get("/v1/models/hgb").json()["handles_missing_values"] is True
        infinite = client.post(
            "/v1/models/hgb/predict",
            content=b'{"instances": [[Infinity, 1, 1, 1]]}',
            headers={"content-type": "application/json"},
        )
        assert infinite.status_code == 422


def test_a_model_without_probabilities_answers_null() -> None:
    from sklearn.svm import LinearSVC

    X, y = iris_data()
    wb.register(LinearSVC(max_iter=20000).fit(X, y), "svc", eval_data=(X, y), stage="production")
    with client_for() as client:
        body = client.post("/v1/models/svc/predict", json={"instances": [X[0].tolist()]}).json()
        assert body["probabilities"] is None and len(body["predictions"]) == 1


def test_models_list_and_detail(iris: httpx.Client) -> None:
    register_iris(default_registry(), C=0.1, stage="staging")
    listed = iris.get("/v1/models").json()["models"]
    assert [(m["name"], m["version"]) for m in listed] == [("iris", 1)]
    detail = iris.get("/v1/models/iris").json()
    assert [(v["version"], v["stage"]) for v in detail["versions"]] == [(1, "production"), (2, "staging")]
    assert detail["metrics"]["accuracy"] > 0.9 and detail["classes"] == [0, 1, 2]


def test_feedback_needs_the_token_and_gives_live_metrics(iris: httpx.Client) -> None:
    from sklearn.metrics import precision_score, recall_score

    X, y = iris_data()
    answered = iris.post("/v1/models/iris/predict", json={"instances": X.tolist()}).json()
    # feed back labels that disagree with the model now and then, so precision is not trivially 1
    labels = [int(t) if i % 7 else (int(t) + 1) % 3 for i, t in enumerate(y)]
    body = {"request_ids": answered["request_ids"], "labels": labels}
    assert iris.post("/v1/models/iris/feedback", json=body).status_code == 401
    wrong = iris.post("/v1/models/iris/feedback", json=body, headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401 and TOKEN not in wrong.text
    typo = {"request_ids": answered["request_ids"][:1], "labels": ["setosa"]}
    refused = iris.post("/v1/models/iris/feedback", json=typo, headers=AUTH)
    assert refused.status_code == 422 and "classes are 0, 1, 2" in refused.json()["message"]
    result = iris.post("/v1/models/iris/feedback", json=body, headers=AUTH).json()
    assert result == {"accepted": len(y), "unknown": 0, "duplicate": 0}
    detail = iris.get("/v1/models/iris").json()
    (live,) = detail["live"]
    assert detail["live_average"] == "macro"  # labelled: the same macro average as the registry's *_macro
    assert (live["version"], live["arm"], live["n"]) == (1, "production", len(y))
    assert live["precision"] == pytest.approx(
        precision_score(labels, answered["predictions"], average="macro", zero_division=0), abs=1e-12
    )
    assert live["recall"] == pytest.approx(
        recall_score(labels, answered["predictions"], average="macro", zero_division=0), abs=1e-12
    )
    metrics = iris.get("/metrics").text
    labels_text = 'model="iris",version="1",arm="production"'
    assert f"workbench_live_precision_macro{{{labels_text}}} {live['precision']!r}" in metrics
    assert 'workbench_predict_seconds_count{model="iris",version="1"} 1' in metrics


def test_refresh_swaps_in_a_new_production_version() -> None:
    register_iris(default_registry())
    factory = ModelFactory(default_registry())
    factory.load()
    number = register_iris(default_registry(), C=0.05, stage="staging")
    factory.refresh()
    with client_for(factory=factory) as iris:
        assert iris.post("/v1/models/iris/predict", json={"instances": [[5.0, 3.0, 1.0, 0.2]]}).json()["version"] == 1
        wb.promote("iris", number, "production")
        factory.refresh()
        assert iris.post("/v1/models/iris/predict", json={"instances": [[5.0, 3.0, 1.0, 0.2]]}).json()["version"] == 2


def test_openapi_documents_the_routes(iris: httpx.Client) -> None:
    document = iris.get("/openapi.json").json()
    assert {"/v1/models/{name}/predict", "/v1/models/{name}/feedback", "/v1/models", "/healthz", "/metrics"} <= set(
        document["paths"]
    )
    predict = document["paths"]["/v1/models/{name}/predict"]["post"]
    assert "requestBody" in predict and "422" in predict["responses"]


def test_naming_a_model_without_a_production_version_fails_at_start() -> None:
    register_iris(default_registry(), stage="staging")
    with pytest.raises(ModelNotFoundError, match="production"):
        ModelFactory(default_registry(), ["iris"]).load()
