"""Live precision/recall/F1 equal scikit-learn's on the same pairs; labels compare as text."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from workbench.serving.feedback import Confusion
from workbench.storage.prediction_store import label_text


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
    for key, score in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score)):
        expected = score(y_true, y_pred, average="macro", labels=seen, zero_division=0)
        assert report[f"{key}_macro"] == pytest.approx(expected, abs=1e-12), key
        per_class = score(y_true, y_pred, average=None, labels=seen, zero_division=0)
        assert [report[key][c] for c in seen] == pytest.approx(list(per_class), abs=1e-12), key
    assert report["n"] == len(truth)


def test_a_class_never_predicted_scores_zero_like_sklearn() -> None:
    confusion = Confusion()
    for truth, predicted in [("a", "b"), ("a", "b"), ("b", "b")]:
        confusion.add(truth, predicted)
    report = confusion.report()
    expected = f1_score(["a", "a", "b"], ["b", "b", "b"], average="macro", zero_division=0)
    assert report["f1_macro"] == pytest.approx(expected, abs=1e-12)
    assert report["precision"]["a"] == 0.0


def test_numeric_labels_match_whatever_their_json_type() -> None:
    assert label_text(2) == label_text(2.0) == label_text(np.int64(2)) == label_text(np.float32(2.0)) == "2"
    assert label_text("cat") == "cat" and label_text(0.5) == "0.5"
