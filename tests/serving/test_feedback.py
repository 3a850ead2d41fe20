"""Live precision/recall equal scikit-learn's on the same pairs; the prediction log stays bounded."""

from __future__ import annotations

import random

import pytest
from sklearn.metrics import precision_score, recall_score

from workbench.serving.feedback import Confusion, LiveMetrics


@pytest.mark.parametrize("labels", [[0, 1], [0, 1, 2], ["cat", "dog", "eel", "fox"]])
@pytest.mark.parametrize("seed", range(5))
def test_confusion_equals_sklearn(labels: list[object], seed: int) -> None:
    rng = random.Random(seed)
    truth = [rng.choice(labels) for _ in range(rng.randint(1, 200))]
    predicted = [t if rng.random() < 0.7 else rng.choice(labels) for t in truth]
    confusion = Confusion()
    for t, p in zip(truth, predicted, strict=True):
        confusion.add(str(t), str(p))
    report = confusion.report()
    seen = sorted({str(v) for v in truth + predicted})
    y_true, y_pred = [str(t) for t in truth], [str(p) for p in predicted]
    expected_precision = precision_score(y_true, y_pred, average="macro", labels=seen, zero_division=0)
    assert report["precision_macro"] == pytest.approx(expected_precision, abs=1e-12)
    expected_recall = recall_score(y_true, y_pred, average="macro", labels=seen, zero_division=0)
    assert report["recall_macro"] == pytest.approx(expected_recall, abs=1e-12)
    per_class = precision_score(y_true, y_pred, average=None, labels=seen, zero_division=0)
    assert [report["precision"][c] for c in seen] == pytest.approx(list(per_class), abs=1e-12)
    assert report["n"] == len(truth)


def test_feedback_joins_once_per_request_and_only_for_its_model() -> None:
    live = LiveMetrics(capacity=10)
    live.log("iris", 1, [("a", 0), ("b", 1)])
    live.log("other", 3, [("c", 1)])
    result = live.feedback("iris", [("a", 0), ("a", 0), ("b", 2), ("c", 1), ("zzz", 1)])
    assert (result.accepted, result.duplicate, result.unknown) == (2, 1, 2)
    report = live.reports("iris")[("iris", 1)]
    assert report["n"] == 2
    assert set(live.reports()) == {("iris", 1)}


def test_the_prediction_log_keeps_only_the_newest() -> None:
    live = LiveMetrics(capacity=100)
    for start in range(0, 1000, 10):
        live.log("iris", 1, [(str(i), 0) for i in range(start, start + 10)])
    assert len(live) == 100
    result = live.feedback("iris", [("0", 0), ("999", 0)])
    assert (result.accepted, result.unknown) == (1, 1)


def test_numeric_labels_match_whatever_their_json_type() -> None:
    live = LiveMetrics()
    live.log("iris", 1, [("a", 2)])
    assert live.feedback("iris", [("a", 2.0)]).accepted == 1
    assert live.reports()[("iris", 1)]["precision_macro"] == 1.0
