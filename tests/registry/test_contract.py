"""The store contract, run the same way against the memory, local and Redis stores."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from workbench.errors import (
    InvalidMetadataError,
    ModelNotFoundError,
    StageError,
    UnsafeModelError,
)
from workbench.registry import ModelStore, Registry


def test_register_records_what_the_model_is(registry: Registry, model: Any, data: tuple[Any, Any]) -> None:
    X, y = data
    v1 = registry.register(model, "churn", metrics={"lift": 2.5}, tags={"team": "risk"})
    v2 = registry.register(model, "churn", eval_data=(X, y))
    assert (v1.version, v2.version) == (1, 2)
    assert v1.stage == v2.stage == "dev"
    assert v1.format == "skops"
    assert v1.size > 0 and len(v1.sha256) == 64
    assert v1.classes == [0, 1, 2]
    assert v1.n_features == 6 and v1.feature_names == [f"x{i}" for i in range(6)]
    assert v1.metrics == {"lift": 2.5}
    assert v1.tags == {"team": "risk"}
    assert v1.params["max_iter"] == 1000
    assert {"python", "scikit-learn", "skops", "numpy"} <= set(v1.library_versions)
    assert v1.run_id is None
    assert registry.get("churn", version=2) == v2


def test_load_model_round_trips_predictions(registry: Registry, model: Any, data: tuple[Any, Any]) -> None:
    X, _ = data
    registry.register(model, "churn")
    registry.record_stage("churn", registry.register(model, "churn").version, "production")
    assert np.array_equal(registry.load_model("churn").predict(X), model.predict(X))
    assert np.array_equal(registry.load_model("churn", version=1).predict_proba(X), model.predict_proba(X))
    assert registry.get("churn", stage="production").version == 2


def test_models_with_non_default_skops_types_load_without_a_hand_kept_list(
    registry: Registry, data: tuple[Any, Any]
) -> None:
    from sklearn.ensemble import RandomForestClassifier

    X, y = data
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    version = registry.register(forest, "forest")
    assert version.format_info["trusted_types"] == ["sklearn.tree._tree.Tree"]
    assert np.array_equal(registry.load_model("forest", version=1).predict(X), forest.predict(X))


def test_missing_things_are_reported_with_what_to_do(registry: Registry, model: Any) -> None:
    with pytest.raises(ModelNotFoundError, match="no model named 'ghost'"):
        registry.load_model("ghost")
    registry.register(model, "churn")
    with pytest.raises(ModelNotFoundError, match="no version in stage 'production'") as info:
        registry.load_model("churn")
    assert "workbench promote churn VERSION --to production" in str(info.value)
    with pytest.raises(ModelNotFoundError, match="no version 7"):
        registry.load_model("churn", version=7)
    with pytest.raises(StageError, match="unknown stage 'prod'"):
        registry.record_stage("churn", 1, "prod")


def test_the_registry_records_stages_but_sends_none_past_the_gates(registry: Registry, model: Any) -> None:
    for stage in ("production", "challenger"):
        with pytest.raises(StageError, match=f"reaches {stage} through the acceptance gates") as info:
            registry.register(model, "churn", stage=stage)
        assert "wb.register(model, 'churn'" in info.value.hint
    assert registry.register(model, "churn", stage="staging").stage == "staging"
    assert [v.version for v in registry.model_versions("churn")] == [1]


def test_one_production_version_and_a_history_of_who_moved_what(registry: Registry, model: Any) -> None:
    for _ in range(3):
        registry.register(model, "churn")
    registry.record_stage("churn", 1, "production")
    registry.record_stage("churn", 2, "staging")
    registry.record_stage("churn", 2, "production")
    stages = {v.version: v.stage for v in registry.model_versions("churn")}
    assert stages == {1: "archived", 2: "production", 3: "dev"}
    history = registry.history("churn")
    assert [(e.version, e.from_stage, e.to_stage, e.replaced) for e in history] == [
        (1, "dev", "production", None),
        (2, "dev", "staging", None),
        (2, "staging", "production", 1),
    ]
    assert all(e.by and e.at for e in history)


def test_rollback_walks_back_through_production_versions(registry: Registry, model: Any) -> None:
    for version in (1, 2, 3):
        registry.register(model, "churn")
        registry.record_stage("churn", version, "production")
    assert registry.rollback("churn").version == 2
    assert registry.rollback("churn").version == 1
    assert registry.get("churn", stage="production").version == 1
    assert {v.version: v.stage for v in registry.model_versions("churn")} == {
        1: "production",
        2: "archived",
        3: "archived",
    }
    with pytest.raises(StageError, match="nothing to roll back to"):
        registry.rollback("churn")
    assert registry.history("churn")[-1].action == "rollback"


def test_concurrent_promotions_leave_exactly_one_production_version(registry: Registry, model: Any) -> None:
    for _ in range(6):
        registry.register(model, "churn")
    errors: list[BaseException] = []

    def promote(version: int) -> None:
        try:
            for _ in range(3):
                registry.record_stage("churn", version, "production")
                registry.record_stage("churn", version, "staging")
            registry.record_stage("churn", version, "production")
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(v,)) for v in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert [v.stage for v in registry.model_versions("churn")].count("production") == 1


def test_bad_metadata_is_refused_and_nothing_is_registered(registry: Registry, model: Any) -> None:
    with pytest.raises(InvalidMetadataError, match="metric 'auc' is nan"):
        registry.register(model, "churn", metrics={"auc": float("nan")})
    with pytest.raises(InvalidMetadataError, match="metric 'auc' must be a number"):
        registry.register(model, "churn", metrics={"auc": "high"})
    with pytest.raises(InvalidMetadataError, match="tag 'owner'"):
        registry.register(model, "churn", tags={"owner": 3})
    with pytest.raises(InvalidMetadataError, match="params are not plain JSON"):
        registry.register(model, "churn", params={"when": object()})
    assert registry.models() == []


def test_pickle_needs_an_explicit_logged_opt_in(registry: Registry, caplog: pytest.LogCaptureFixture) -> None:
    version = registry.register({"weights": [1, 2, 3]}, "lookup")
    assert version.format == "joblib"
    with pytest.raises(UnsafeModelError, match="stored with joblib"):
        registry.load_model("lookup", version=1)
    with caplog.at_level(logging.WARNING, logger="workbench.registry"):
        assert registry.load_model("lookup", version=1, allow_pickle=True) == {"weights": [1, 2, 3]}
    assert "with pickle" in caplog.text and version.sha256 in caplog.text


def test_the_run_that_produced_a_model_is_recorded(
    registry: Registry, model: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from workbench import run_context

    monkeypatch.setenv("WORKBENCH_RUN_ID", "run-20261127-0001")
    monkeypatch.setenv("WORKBENCH_RUN_DIR", str(tmp_path))
    assert registry.register(model, "churn").run_id == "run-20261127-0001"
    assert registry.register(model, "churn", stage="staging").version == 2
    models = [e for e in run_context.read_records(tmp_path) if e["kind"] == "model"]
    assert models == [
        {"kind": "model", "name": "churn", "version": 1},
        {"kind": "model", "name": "churn", "version": 2},
    ]


def test_tables_list_models_and_escape_user_text(registry: Registry, model: Any) -> None:
    registry.register(model, "churn", metrics={"accuracy": 0.9}, tags={"note": "<script>x</script>"})
    registry.record_stage("churn", registry.register(model, "churn", metrics={"accuracy": 0.95}).version, "production")
    registry.register(model, "fraud")
    table = registry.models()
    assert [(s.name, s.versions, s.production.version if s.production else None) for s in table] == [
        ("churn", 2, 2),
        ("fraud", 1, None),
    ]
    text = str(table)
    assert "churn" in text and "accuracy=0.95" in text
    versions = registry.model_versions("churn")
    assert "<th>stage</th>" in versions._repr_html_()
    html = registry.get("churn", version=1)._repr_html_()
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "stage: dev" in str(registry.get("churn", version=1))


def test_evaluation_matches_sklearn_offline(registry: Registry, model: Any, data: tuple[Any, Any]) -> None:
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    X, y = data
    version = registry.register(model, "churn", eval_data=(X, y))
    pred = model.predict(X)
    assert version.metrics["precision_macro"] == pytest.approx(precision_score(y, pred, average="macro"))
    assert version.metrics["recall_macro"] == pytest.approx(recall_score(y, pred, average="macro"))
    assert version.metrics["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert version.metrics["roc_auc"] == pytest.approx(roc_auc_score(y, model.predict_proba(X), multi_class="ovr"))
    per_class = version.evaluation["per_class"]
    assert per_class["1"]["recall"] == pytest.approx(recall_score(y, pred, average=None)[1])
    assert per_class["2"]["support"] == int((y == 2).sum())
    feature = version.profile["features"]["x3"]
    assert feature["quantiles"][4] == pytest.approx(float(np.median(X[:, 3])))
    assert version.profile["levels"][0] == 0.0


def test_stores_speak_one_contract(store: ModelStore) -> None:
    assert store.list_names() == []
    assert store.list_versions("nothing") == []
    assert store.history("nothing") == []


def test_gate_results_are_kept_with_their_version(store: ModelStore, model: Any) -> None:
    registry = Registry(store)
    registry.register(model, "churn")
    registry.register(model, "churn")
    assert store.gate_results("churn", 1) == []
    first = {"passed": False, "results": [{"id": "recall", "observed": 0.5}], "by": "ana"}
    store.add_gate_result("churn", 1, first)
    store.add_gate_result("churn", 1, {"passed": True, "results": []})
    assert store.gate_results("churn", 1) == [first, {"passed": True, "results": []}]
    assert store.gate_results("churn", 2) == []
    assert registry.gate_results("churn", 1)[0]["results"][0]["observed"] == 0.5


def test_the_history_keeps_the_gate_outcome_and_a_forced_promotion(store: ModelStore, model: Any) -> None:
    Registry(store).register(model, "churn")
    store.promote("churn", 1, "production", gate="failed", forced=True)
    (event,) = store.history("churn")
    assert (event.to_stage, event.gate, event.forced) == ("production", "failed", True)


def test_one_challenger_with_its_weight_in_the_history(registry: Registry, model: Any) -> None:
    for _ in range(4):
        registry.register(model, "churn")
    registry.record_stage("churn", 1, "production")
    registry.record_stage("churn", 2, "challenger", weight=0.1)
    assert registry.store.challenger_weight("churn", 2) == 0.1
    registry.record_stage("churn", 3, "challenger", weight=0.25)  # archives v2 in the same change
    stages = {v.version: v.stage for v in registry.store.list_versions("churn")}
    assert stages == {1: "production", 2: "archived", 3: "challenger", 4: "dev"}
    last = registry.history("churn")[-1]
    assert (last.version, last.to_stage, last.weight, last.replaced) == (3, "challenger", 0.25, 2)
    assert registry.record_stage("churn", 3, "challenger", weight=0.5).stage == "challenger"  # a new weight only
    assert registry.store.challenger_weight("churn", 3) == 0.5
    assert registry.history("churn")[-1].from_stage == "challenger"
    before = len(registry.history("churn"))
    registry.record_stage("churn", 3, "challenger", weight=0.5)
    assert len(registry.history("churn")) == before  # same weight: nothing to record
    registry.record_stage("churn", 3, "production")  # the challenger wins: no challenger left
    stages = {v.version: v.stage for v in registry.store.list_versions("churn")}
    assert stages == {1: "archived", 2: "archived", 3: "production", 4: "dev"}
    assert registry.history("churn")[-1].weight is None


@pytest.mark.parametrize("weight", [None, 0, 1, 1.5, -0.1, True, "0.1", float("nan")])
def test_a_challenger_needs_a_weight_strictly_between_0_and_1(registry: Registry, model: Any, weight: Any) -> None:
    registry.register(model, "churn")
    with pytest.raises(StageError, match=r"weight in \(0, 1\)"):
        registry.record_stage("churn", 1, "challenger", weight=weight)
    assert registry.store.find("churn").stage == "dev" and registry.history("churn") == []


def test_weights_belong_to_challengers_and_production_is_never_one(registry: Registry, model: Any) -> None:
    registry.register(model, "churn")
    registry.register(model, "churn")
    with pytest.raises(StageError, match="only a challenger takes a weight"):
        registry.record_stage("churn", 1, "staging", weight=0.2)
    registry.record_stage("churn", 1, "production")
    with pytest.raises(StageError, match="production version"):
        registry.record_stage("churn", 1, "challenger", weight=0.2)
    with pytest.raises(StageError, match="never promoted to challenger"):
        registry.store.challenger_weight("churn", 2)


def test_old_history_records_without_a_weight_still_read() -> None:
    from workbench.storage.model_records import PromotionEvent

    old = {"version": 1, "from_stage": "dev", "to_stage": "production", "at": "t", "by": "ana", "future": 1}
    assert PromotionEvent.from_record(old).weight is None


def test_concurrent_challenger_promotions_leave_exactly_one(registry: Registry, model: Any) -> None:
    for _ in range(6):
        registry.register(model, "churn")
    registry.record_stage("churn", 1, "production")
    errors: list[BaseException] = []

    def promote(number: int) -> None:
        try:
            registry.store.promote("churn", number, "challenger", weight=number / 10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(n,)) for n in range(2, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    challengers = [v for v in registry.store.list_versions("churn") if v.stage == "challenger"]
    assert len(challengers) == 1
    (winner,) = challengers
    assert registry.store.challenger_weight("churn", winner.version) == winner.version / 10
