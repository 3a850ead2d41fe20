"""Precision and recall mean one thing everywhere: the gates, the registry and the live figures agree."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_score, recall_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from workbench.acceptance.scores import score
from workbench.registry import Registry
from workbench.serving.feedback import Confusion
from workbench.storage.memory.models import MemoryModelStore
from workbench.storage.prediction_store import label_text


def _cancer() -> tuple[Any, Any, Any]:
    """A binary model whose positive-class precision (0.85) is far from its macro precision (0.90)."""
    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.001)).fit(X[::2], y[::2])
    return model, X[1::2], y[1::2]


def _iris_one_class() -> tuple[Any, Any, Any]:
    """A three-class model scored on rows of one class only: two of its classes never occur."""
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=2000).fit(X, y)
    return model, X[y == 0], y[y == 0]


@pytest.mark.parametrize("case", [_cancer, _iris_one_class], ids=["binary", "classes-missing"])
def test_gate_registry_and_live_figures_agree_on_one_definition(case: Any) -> None:
    model, X, y = case()
    predicted = model.predict(X)
    registered = Registry(MemoryModelStore()).register(model, "m", eval_data=(X, y)).metrics
    gate = score(model, X, y, bootstrap=100)
    confusion = Confusion()
    for truth, guess in zip(y, predicted, strict=True):
        confusion.add(label_text(truth), label_text(guess))
    live = confusion.report()
    for metric, sklearn_score in (("precision", precision_score), ("recall", recall_score)):
        expected = sklearn_score(y, predicted, average="macro", zero_division=0)
        assert registered[f"{metric}_macro"] == pytest.approx(expected, abs=1e-12)
        assert gate[metric] == gate[f"{metric}_macro"] == pytest.approx(expected, abs=1e-12)
        assert live[f"{metric}_macro"] == pytest.approx(expected, abs=1e-12)
    if case is _cancer:  # the positive class alone is a per-class figure, named as such
        assert gate["precision[1]"] == pytest.approx(precision_score(y, predicted), abs=1e-12)
        assert abs(gate["precision[1]"] - gate["precision"]) > 0.03
    else:
        assert np.all(predicted == 0) and gate["precision"] == 1.0  # not (1 + 0 + 0) / 3
