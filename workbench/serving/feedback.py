"""Scoring feedback: confusion counts and macro precision/recall/F1.

The prediction store keeps predictions and the labels joined to them, compared as text
(:func:`workbench.storage.prediction_store.label_text`); this module only turns
``(true label, predicted label)`` pairs into the figures a live report shows, the way
scikit-learn would. Live precision, recall and F1 are the macro averages of
:mod:`workbench.scoring`, the definition the gates and the registry use, so a live figure
and an offline one of the same rows are equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Confusion:
    """Per-class true positive, false positive and false negative counts of one model version."""

    tp: dict[str, int] = field(default_factory=dict)
    fp: dict[str, int] = field(default_factory=dict)
    fn: dict[str, int] = field(default_factory=dict)
    n: int = 0

    def add(self, truth: str, predicted: str) -> None:
        self.n += 1
        for counts in (self.tp, self.fp, self.fn):
            counts.setdefault(truth, 0)
            counts.setdefault(predicted, 0)
        if truth == predicted:
            self.tp[truth] += 1
        else:
            self.fp[predicted] += 1
            self.fn[truth] += 1

    def report(self) -> dict[str, Any]:
        """Per-class precision, recall and F1, and their macro averages over the labels seen.

        Equal to ``sklearn.metrics.precision_score`` / ``recall_score`` / ``f1_score`` with
        ``average=None`` or ``"macro"`` and ``zero_division=0`` on the same pairs.
        """
        labels = sorted(self.tp)
        precision = {c: _ratio(self.tp[c], self.tp[c] + self.fp[c]) for c in labels}
        recall = {c: _ratio(self.tp[c], self.tp[c] + self.fn[c]) for c in labels}
        # 2tp / (2tp + fp + fn) is the harmonic mean of precision and recall, and 0 where sklearn's is
        f1 = {c: _ratio(2 * self.tp[c], 2 * self.tp[c] + self.fp[c] + self.fn[c]) for c in labels}
        return {
            "n": self.n,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "precision_macro": _mean(precision.values()),
            "recall_macro": _mean(recall.values()),
            "f1_macro": _mean(f1.values()),
        }


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def _mean(values: Any) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


__all__ = ["Confusion"]
