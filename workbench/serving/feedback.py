"""The prediction log and live precision/recall from feedback labels joined to it.

Both live in the server process's memory: a restart forgets them, and with several
server processes each one only knows its own predictions (feedback must reach the
process that answered). The log keeps the newest ``capacity`` predictions; feedback for
an older or unknown request id is counted as unknown and otherwise ignored. Each
request id is scored once; repeated feedback for it counts as a duplicate.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Logged:
    name: str
    version: int
    prediction: Any
    labelled: bool = False


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
        """Per-class precision and recall, and their macro averages over the labels seen.

        Equal to ``sklearn.metrics.precision_score`` / ``recall_score`` with
        ``average=None`` or ``"macro"`` and ``zero_division=0`` on the same pairs.
        """
        labels = sorted(self.tp)
        precision = {c: _ratio(self.tp[c], self.tp[c] + self.fp[c]) for c in labels}
        recall = {c: _ratio(self.tp[c], self.tp[c] + self.fn[c]) for c in labels}
        return {
            "n": self.n,
            "precision": precision,
            "recall": recall,
            "precision_macro": sum(precision.values()) / len(labels) if labels else 0.0,
            "recall_macro": sum(recall.values()) / len(labels) if labels else 0.0,
        }


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


@dataclass(frozen=True)
class FeedbackResult:
    """What a feedback call did: labels scored, ids not in the log (or not of that model), ids already labelled."""

    accepted: int
    unknown: int
    duplicate: int


class LiveMetrics:
    """A bounded log of predictions and the confusion counts of each (model, version) from feedback."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._log: OrderedDict[str, _Logged] = OrderedDict()
        self._confusion: dict[tuple[str, int], Confusion] = {}
        self._lock = threading.Lock()

    def log(self, name: str, version: int, pairs: Iterable[tuple[str, Any]]) -> None:
        """Remember ``(request_id, prediction)`` pairs answered by ``version`` of ``name``."""
        with self._lock:
            for request_id, prediction in pairs:
                self._log[request_id] = _Logged(name, version, prediction)
            while len(self._log) > self.capacity:
                self._log.popitem(last=False)

    def feedback(self, name: str, pairs: Iterable[tuple[str, Any]]) -> FeedbackResult:
        """Join ``(request_id, true label)`` pairs of ``name`` to the log and count them."""
        accepted = unknown = duplicate = 0
        with self._lock:
            for request_id, label in pairs:
                logged = self._log.get(request_id)
                if logged is None or logged.name != name:
                    unknown += 1
                    continue
                if logged.labelled:
                    duplicate += 1
                    continue
                logged.labelled = True
                confusion = self._confusion.setdefault((name, logged.version), Confusion())
                confusion.add(label_text(label), label_text(logged.prediction))
                accepted += 1
        return FeedbackResult(accepted, unknown, duplicate)

    def reports(self, name: str | None = None) -> dict[tuple[str, int], dict[str, Any]]:
        """The live report of every (model, version) with feedback, optionally of one model only."""
        with self._lock:
            return {key: c.report() for key, c in sorted(self._confusion.items()) if name is None or key[0] == name}

    def __len__(self) -> int:
        return len(self._log)


def label_text(value: Any) -> str:
    """Labels compared as text, so a JSON ``1`` matches the class ``1`` whatever its numpy type."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


__all__ = ["Confusion", "FeedbackResult", "LiveMetrics", "label_text"]
