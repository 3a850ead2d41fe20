"""The engines behind a served version: ONNX Runtime where a verified rendering exists, scikit-learn otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.serving.conftest import start_server
from tests.stages import in_production
from workbench.errors import IntegrityError, MissingDependencyError
from workbench.registry.api import default_registry
from workbench.serving import factory as factory_module
from workbench.serving.engines import OnnxEngine, SklearnEngine, argmax_is_predict
from workbench.serving.factory import ServedModel

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")


def cancer() -> tuple[Any, Any]:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return X, y


def forest() -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=30, random_state=0).fit(*cancer())


def logistic() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(*cancer())


def served(model: Any, name: str, *, onnx: bool) -> ServedModel:
    registry = default_registry()
    version = in_production(registry, registry.register(model, name, eval_data=cancer(), onnx=onnx))
    return ServedModel.load(registry, version)


def as_arrays(answer: tuple[list[Any], Any], classes: Any) -> tuple[np.ndarray, np.ndarray]:
    predictions, probabilities = answer
    return np.asarray(predictions), np.array([[p[str(c)] for c in classes] for p in probabilities])


@pytest.mark.parametrize("make", [forest, logistic], ids=["forest", "logistic"])
def test_onnx_and_sklearn_give_the_same_answers(make: Any) -> None:
    model = make()
    X, _ = cancer()
    with_onnx, without = served(model, "with-onnx", onnx=True), served(model, "without", onnx=False)
    assert with_onnx.engine.name == "onnxruntime" and without.engine.name == "sklearn"
    for rows in (X[:1], X[::3]):
        onnx_labels, onnx_proba = as_arrays(with_onnx.predict(rows.tolist()), model.classes_)
        labels, proba = as_arrays(without.predict(rows.tolist()), model.classes_)
        assert onnx_labels.tolist() == labels.tolist() == model.predict(rows).tolist()
        assert type(with_onnx.predict(rows.tolist())[0][0]) is type(without.predict(rows.tolist())[0][0]) is int
        np.testing.assert_allclose(onnx_proba, proba, atol=1e-5)
        np.testing.assert_allclose(proba, model.predict_proba(rows), rtol=1e-12)


def test_rows_with_nan_go_to_scikit_learn() -> None:
    model = forest()
    version = served(model, "forest", onnx=True)
    assert version.shape.allow_nan and version.engine.name == "onnxruntime"
    X, _ = cancer()
    rows = X[:20].copy()
    rows[::2, 3] = np.nan
    labels, proba = as_arrays(version.predict(rows.tolist()), model.classes_)
    assert labels.tolist() == model.predict(rows).tolist()
    np.testing.assert_allclose(proba, model.predict_proba(rows), rtol=1e-12)


def test_a_deferred_model_lets_onnx_answer_first() -> None:
    model = forest()
    registry = default_registry()
    version = ServedModel.load(
        registry, in_production(registry, registry.register(model, "forest", eval_data=cancer(), onnx=True)), defer=True
    )
    assert version.engine.name == "onnxruntime"
    X, _ = cancer()
    labels, proba = as_arrays(version.predict(X[:40].tolist()), model.classes_)
    assert labels.tolist() == model.predict(X[:40]).tolist()
    np.testing.assert_allclose(proba, model.predict_proba(X[:40]), atol=1e-5)
    rows = X[:4].copy()
    rows[0, 0] = np.nan
    assert version.predict(rows.tolist())[0] == model.predict(rows).tolist()  # waits for the model
    assert version.shape.allow_nan and version.sklearn.model.n_estimators == 30


def test_a_tampered_model_behind_an_onnx_rendering_is_never_loaded(caplog: pytest.LogCaptureFixture) -> None:
    from tests.registry.conftest import corrupt

    registry = default_registry()
    registered = in_production(registry, registry.register(logistic(), "logreg", eval_data=cancer(), onnx=True))
    corrupt(registry.store, registered.sha256, b"not the model")
    with pytest.raises(IntegrityError):
        ServedModel.load(registry, registered, defer=False)
    version = ServedModel.load(registry, registered, defer=True)
    assert version.predict(cancer()[0][:2].tolist())[0] == [0, 0]  # the ONNX rendering is intact and verified
    with pytest.raises(IntegrityError):
        version.loading.result(timeout=60)
    assert "cannot load the scikit-learn model of logreg v1" in caplog.text


def test_a_rendering_stored_with_zipmap_gives_the_same_answers() -> None:
    import onnxruntime
    import skl2onnx

    model = logistic()
    X, _ = cancer()
    data = skl2onnx.to_onnx(model, X[:1].astype(np.float32)).SerializeToString()
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    engine = OnnxEngine(session, np.asarray(model.classes_), has_proba=True)
    assert engine.zipmap
    labels, proba = engine.predict(X[:50])
    assert labels == model.predict(X[:50]).tolist()
    np.testing.assert_allclose(proba, model.predict_proba(X[:50]), atol=1e-5)


def test_string_classes_keep_their_labels() -> None:
    from sklearn.ensemble import RandomForestClassifier

    X, y = cancer()
    names = np.array(["benign", "malignant"])[y]
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, names)
    registry = default_registry()
    version = ServedModel.load(registry, registry.register(model, "named", eval_data=(X, names), onnx=True))
    assert version.engine.name == "onnxruntime"
    predictions, probabilities = version.predict(X[:5].tolist())
    assert predictions == model.predict(X[:5]).tolist()
    assert probabilities is not None and set(probabilities[0]) == {"benign", "malignant"}


def test_without_onnxruntime_the_version_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(data: bytes, classes: Any, has_proba: bool) -> OnnxEngine:
        raise MissingDependencyError("onnxruntime is missing", hint="pip install 'workbench[onnx]'")

    monkeypatch.setattr(factory_module, "onnx_engine", missing)
    version = served(logistic(), "logreg", onnx=True)
    assert version.engine.name == "sklearn"
    assert version.predict(cancer()[0][:3].tolist())[0] == logistic().predict(cancer()[0][:3]).tolist()


def test_one_predict_proba_call_only_where_argmax_is_exactly_predict() -> None:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    X, y = cancer()
    assert argmax_is_predict(forest())
    assert argmax_is_predict(make_pipeline(StandardScaler(), forest()))
    assert not argmax_is_predict(LogisticRegression())
    svc = CalibratedClassifierCV(SVC(), ensemble=False).fit(X[:200], y[:200])
    assert not argmax_is_predict(svc)
    engine = SklearnEngine(svc, tuple(f"x{i}" for i in range(30)))
    assert engine.predict(X)[0] == svc.predict(X).tolist()


def test_the_served_engine_is_shown(tmp_path: Path, isolated_environment: Path) -> None:
    registry = default_registry()
    in_production(registry, registry.register(logistic(), "fast", eval_data=cancer(), onnx=True))
    in_production(registry, registry.register(logistic(), "plain", eval_data=cancer()))
    trees = forest()
    in_production(registry, registry.register(trees, "trees", eval_data=cancer(), onnx=True))
    server = start_server(tmp_path, isolated_environment)
    try:
        rows = cancer()[0][:3].copy()
        rows[1, 2] = np.nan
        body = json.dumps({"instances": rows.tolist()})  # NaN: not strict JSON, accepted for models handling it
        with_nan = server.client.post(
            "/v1/models/trees/predict", content=body, headers={"content-type": "application/json"}
        )
        assert with_nan.json()["predictions"] == trees.predict(rows).tolist()
        assert server.client.get("/v1/models/trees").json()["handles_missing_values"] is True
        assert server.client.get("/v1/models/fast").json()["engine"] == "onnxruntime"
        assert server.client.get("/v1/models/plain").json()["engine"] == "sklearn"
        row = {"instances": cancer()[0][:2].tolist()}
        fast = server.client.post("/v1/models/fast/predict", json=row).json()
        plain = server.client.post("/v1/models/plain/predict", json=row).json()
        assert fast["predictions"] == plain["predictions"]
        for a, b in zip(fast["probabilities"], plain["probabilities"], strict=True):
            assert a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-5 for k in a)
    finally:
        server.stop()


@pytest.mark.parametrize(
    "rows",
    [
        [[1.5, 2, 3.25]],
        [[1, 2, 3], [4.0, 5.0, 6.0]],
        [[1.0, 2.0, True]],
        [[1.0, 2.0, None]],
        [[1.0, float("nan"), 3.0]],
        [[1.0, float("inf"), 3.0]],
        [[1e308, 1e308, 1e308]],
        [[10**400, 1.0, 2.0]],
        [[2**63, 1.0, 2.0]],
        [[1.0, 2.0]],
        [[1.0, 2.0, 3.0], [1.0, 2.0]],
        [[1.0, 2.0, "3"]],
        [(1.0, 2.0, 3.0)],
    ],
)
@pytest.mark.parametrize("allow_nan", [False, True])
def test_the_bulk_input_check_accepts_exactly_what_the_value_check_does(rows: list[Any], allow_nan: bool) -> None:
    from workbench.errors import BadInputError
    from workbench.serving import inputs

    shape = inputs.InputShape(("a", "b", "c"), 3, allow_nan)
    try:
        expected: Any = [inputs._instance(i, row, shape) for i, row in enumerate(rows)]
    except BadInputError as exc:
        expected = exc.message
    try:
        got: Any = inputs.prediction_rows({"instances": rows}, shape, 10)
    except BadInputError as exc:
        got = exc.message
    assert got == expected or (
        np.asarray(got).shape == np.asarray(expected).shape
        and np.array_equal(np.asarray(got, dtype=float), np.asarray(expected, dtype=float), equal_nan=True)
    )
    assert all(type(v) is float for row in got for v in row) if isinstance(got, list) else True


def test_a_starting_server_does_not_import_scikit_learn_to_open_onnx() -> None:
    """The fast start depends on it: scikit-learn (with scipy) takes longer to import than the start may."""
    import subprocess
    import sys

    code = (
        "import sys, workbench.serving.server; from workbench.registry import onnx; onnx._require(export=False); "
        "print(sorted(m for m in ('sklearn', 'skl2onnx', 'scipy', 'skops', 'pandas') if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert found.stdout.strip() == "[]", found.stderr
