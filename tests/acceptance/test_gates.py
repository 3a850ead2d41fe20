"""Gate tables, holdout sources and the scores behind every verdict."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from workbench.acceptance import load_holdout, parse_gates, read_source
from workbench.acceptance.config import parse_gate
from workbench.acceptance.scores import score
from workbench.config import load_settings
from workbench.errors import AcceptanceError, HoldoutError
from workbench.storage.local.models import LocalModelStore


def gate(tmp_path: Path, **table: Any) -> Any:
    return parse_gate("churn", {"holdout": "sklearn:iris", **table}, {}, tmp_path)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"recal": 0.9}, "unknown key 'recal'"),
        ({"recall": 1.5}, "recall = 1.5 is outside [0, 1]"),
        ({"recall": "high"}, "recall must be a number"),
        ({}, "no thresholds"),
        ({"recall": 0.9, "confidence": 1}, "confidence = 1 is outside (0, 1)"),
        ({"recall": 0.9, "bootstrap": 10}, "bootstrap must be an integer from 100"),
        ({"recall": 0.9, "no_worse_than": "prod"}, "no_worse_than must be a stage"),
        ({"per_class": {"1": {"auc": 0.9}}}, "per-class metrics are precision, recall, f1"),
    ],
)
def test_a_mistyped_gate_is_refused_not_ignored(tmp_path: Path, table: dict[str, Any], message: str) -> None:
    with pytest.raises(AcceptanceError, match=re.escape(message)):
        gate(tmp_path, **table)


def test_shared_settings_and_criteria(tmp_path: Path) -> None:
    section = {
        "confidence": 0.9,
        "seed": 3,
        "churn": {
            "holdout": "sklearn:iris",
            "recall": 0.8,
            "per_class": {"2": {"f1": 0.7}},
            "no_worse_than": "production",
        },
    }
    parsed = parse_gates(section, tmp_path)["churn"]
    assert (parsed.confidence, parsed.seed, parsed.bootstrap) == (0.9, 3, 1000)
    assert [c.id for c in parsed.criteria] == ["recall", "f1[2]", "recall-vs-production", "f1[2]-vs-production"]
    with pytest.raises(AcceptanceError, match="unknown key 'sead'"):
        parse_gates({"sead": 3}, tmp_path)


def test_holdout_sources(tmp_path: Path) -> None:
    X, y = read_source("sklearn:wine", root=tmp_path)
    assert X.shape == (178, 13)
    with pytest.raises(HoldoutError, match="no dataset named 'churn'"):
        read_source("datamart:churn@3", root=tmp_path, target="label")
    with pytest.raises(HoldoutError, match="not a dataset bundled with scikit-learn"):
        read_source("sklearn:mnist", root=tmp_path)
    with pytest.raises(HoldoutError, match="cannot tell what holdout"):
        read_source("holdout.xlsx", root=tmp_path)
    (tmp_path / "rows.csv").write_text("a,b,label\n1,2,x\n3,4,y\n")
    with pytest.raises(HoldoutError, match="name its label column with target"):
        read_source("rows.csv", root=tmp_path)
    with pytest.raises(HoldoutError, match="has no column 'target'; its columns: a, b, label"):
        read_source("rows.csv", root=tmp_path, target="target")
    X, y = read_source("rows.csv", root=tmp_path, target="label")
    assert list(X.columns) == ["a", "b"] and list(y) == ["x", "y"]
    X.assign(label=y).to_parquet(tmp_path / "rows.parquet")
    assert list(read_source("rows.parquet", root=tmp_path, target="label")[1]) == ["x", "y"]
    (tmp_path / "my_holdouts.py").write_text(
        "def small():\n    return [[0], [1]], [0, 1]\n\ndef bad():\n    return 3\n"
    )
    assert read_source("my_holdouts:small", root=tmp_path) == ([[0], [1]], [0, 1])
    with pytest.raises(HoldoutError, match="must return"):
        read_source("my_holdouts:bad", root=tmp_path)


def test_the_pinned_hash_follows_the_data_not_the_file(tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_text("a,b,label\n1,2,0\n3,4,1\n")
    first = load_holdout(gate(tmp_path, holdout="rows.csv", target="label", recall=0.5))
    (tmp_path / "rows.csv").write_text("a,b,label\n1.0,2.0,0\n3.0,4.0,1\n")
    pinned = gate(tmp_path, holdout="rows.csv", target="label", recall=0.5, holdout_sha256=first.sha256)
    assert load_holdout(pinned).sha256 == first.sha256
    (tmp_path / "rows.csv").write_text("a,b,label\n1,2,0\n3,5,1\n")
    with pytest.raises(HoldoutError, match=f"changed: its SHA-256 is [0-9a-f]{{64}}, the gate pins {first.sha256}"):
        load_holdout(pinned)


def test_scores_match_scikit_learn_and_are_reproducible() -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X[::2], y[::2])
    X_test, y_test = X[1::2], y[1::2]
    predicted = model.predict(X_test)
    found = score(model, X_test, y_test, bootstrap=300, seed=1)
    assert found["precision"] == pytest.approx(precision_score(y_test, predicted, average="macro"))
    assert found["recall[2]"] == pytest.approx(recall_score(y_test, predicted, average=None)[2])
    assert found["f1_macro"] == pytest.approx(f1_score(y_test, predicted, average="macro"))
    assert found["roc_auc"] == pytest.approx(roc_auc_score(y_test, model.predict_proba(X_test), multi_class="ovr"))
    assert found.confusion == confusion_matrix(y_test, predicted).tolist()
    assert found.per_class["1"]["precision"] == found["precision[1]"]
    again = score(model, X_test, y_test, bootstrap=300, seed=1)
    assert found.interval("recall") == again.interval("recall")
    assert found.interval("recall") != score(model, X_test, y_test, bootstrap=300, seed=2).interval("recall")
    assert np.all(found.replicates["accuracy"] <= 1)


def test_a_schema_1_local_store_gains_the_gate_results_table() -> None:
    store = LocalModelStore(load_settings().home / "registry")
    store.close()
    database = store.root / "registry.sqlite3"
    with sqlite3.connect(database) as conn:
        conn.execute("DROP TABLE gate_results")
        conn.execute("PRAGMA user_version = 1")
    reopened = LocalModelStore(load_settings().home / "registry")
    assert reopened.gate_results("churn", 1) == []
    reopened.close()


def test_only_classifiers_are_scored() -> None:
    with pytest.raises(AcceptanceError, match="a dict has no predict"):
        score({"weights": [1]}, [[0]], [0])


def test_slices_judge_rows_of_the_holdout(tmp_path: Path, data_iris: Any) -> None:
    from workbench.acceptance import evaluate
    from workbench.registry import Registry
    from workbench.storage.memory.models import MemoryModelStore

    X, y = data_iris
    registry = Registry(MemoryModelStore())
    version = registry.register(_iris_model(X, y), "flowers")
    slices = {
        "long": {"column": "petal length (cm)", "min": 4.0, "recall": 0.5},
        "none": {"column": "petal length (cm)", "max": 0.5, "recall": 0.5},
    }
    report = evaluate(registry, gate(tmp_path, recall=0.5, slices=slices), version)
    assert [r.id for r in report.results] == ["recall", "recall@long", "recall@none"]
    long_rows = X["petal length (cm)"] >= 4.0
    expected = score(registry.load_version(version), X[long_rows], y[long_rows])["recall"]
    assert report.result("recall@long").observed == pytest.approx(expected)
    assert report.result("recall@long").description == "recall (macro) on slice long >= 0.5"
    empty = report.result("recall@none")
    assert not empty.passed and empty.note == "slice none has no rows in the holdout"
    with pytest.raises(AcceptanceError, match=r"slices\.long needs either equals or min/max"):
        gate(tmp_path, slices={"long": {"column": "x", "recall": 0.5}})
    with pytest.raises(AcceptanceError, match=r"slices\.long has no threshold"):
        gate(tmp_path, slices={"long": {"column": "x", "min": 1}})


@pytest.fixture(scope="module")
def data_iris() -> tuple[Any, Any]:
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True, as_frame=True)


def _iris_model(X: Any, y: Any) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000).fit(X, y)
