"""The online comparison of a challenger against production: confidence sequences that stay valid
however often they are looked at.

Each arm's metric (macro precision, recall or F1 over the model's classes, or accuracy) gets
an *always-valid confidence sequence*: intervals that all contain the true value, at every
number of labels at once, with probability at least ``1 - alpha`` (Howard, Ramdas,
McAuliffe and Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence sequences",
Ann. Statist. 2021). The loop may therefore look after every label and stop the first time
the intervals separate, without the inflated false decisions of peeking at a fixed-sample
test (Johari et al., "Peeking at A/B tests", KDD 2017).

How. Every per-class metric is the success rate of a Bernoulli sub-stream of the labelled
predictions: precision of class ``c`` is the share of predictions of ``c`` that were right,
recall the share of true ``c`` predicted so, accuracy the share of all that were right, and
F1 is ``2q / (1 + q)`` with ``q`` the share of true positives among the predictions where
``c`` is the truth or the prediction (TP / (TP + FP + FN)). With the stream's order fixed,
each sub-stream is i.i.d. Bernoulli, and the beta-binomial mixture of likelihood ratios,
``M_n(p) = B(1 + S, 1 + n - S) / (p**S * (1 - p)**(n - S))`` (a uniform prior), is a
nonnegative martingale under the true ``p``; by Ville's inequality it never reaches
``1 / alpha`` with probability ``1 - alpha``, so ``{p : M_n(p) < 1 / alpha}`` is a
confidence sequence (an interval: solved for by bisection on each side of ``S / n``).

Union bounds make the pieces one statement: each arm at ``alpha / 2``; a macro average of
``K`` classes from per-class sequences at ``alpha / (2 K)``, averaged; the difference's
interval is ``[challenger low - production high, challenger high - production low]``. The
verdict is ``better`` when that interval is above 0, ``worse`` when below, and
``undecided`` otherwise: with two equal arms, the chance of ever deciding is at most
``alpha`` (``1 - confidence``). The union bounds make it conservative (bench/loop.py
measures how much).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

METRICS = ("f1", "precision", "recall", "accuracy")
VERDICTS = ("better", "worse", "undecided")
METHOD = "always-valid confidence sequences (beta-binomial mixture), union bound over arms and classes"
_BISECTIONS = 40


@dataclass(frozen=True)
class Counts:
    """The confusion counts of one arm: labelled predictions, correct ones, and TP/FP/FN per class."""

    n: int
    correct: int
    per_class: dict[str, tuple[int, int, int]]

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]], classes: Sequence[str]) -> Counts:
        """Counts of ``(true, predicted)`` label pairs over ``classes`` (labels outside them count as errors)."""
        table = {c: [0, 0, 0] for c in classes}
        n = correct = 0
        for truth, predicted in pairs:
            n += 1
            if truth == predicted:
                correct += 1
                if truth in table:
                    table[truth][0] += 1
                continue
            if predicted in table:
                table[predicted][1] += 1
            if truth in table:
                table[truth][2] += 1
        return cls(n, correct, {c: (tp, fp, fn) for c, (tp, fp, fn) in table.items()})


@dataclass(frozen=True)
class Interval:
    """A point estimate and the confidence sequence's interval around it, at the current count."""

    estimate: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bernoulli_sequence(successes: int, trials: int, alpha: float) -> tuple[float, float]:
    """The level-``alpha`` confidence sequence of a Bernoulli rate after ``successes`` of ``trials``."""
    if trials <= 0:
        return 0.0, 1.0
    failures = trials - successes
    limit = math.log(1.0 / alpha)
    prior = math.lgamma(1 + successes) + math.lgamma(1 + failures) - math.lgamma(2 + trials)

    def log_m(p: float) -> float:
        if (p <= 0.0 and successes) or (p >= 1.0 and failures):
            return math.inf
        hits = successes * math.log(p) if successes else 0.0
        misses = failures * math.log1p(-p) if failures else 0.0
        return prior - hits - misses

    estimate = successes / trials
    if log_m(estimate) >= limit:
        return estimate, estimate
    bounds = []
    for inside, outside in ((estimate, 0.0), (estimate, 1.0)):
        if log_m(outside) < limit:
            bounds.append(outside)
            continue
        for _ in range(_BISECTIONS):
            middle = (inside + outside) / 2.0
            inside, outside = (middle, outside) if log_m(middle) < limit else (inside, middle)
        bounds.append(inside)
    return bounds[0], bounds[1]


def _class_sequence(counts: Counts, metric: str, label: str, alpha: float) -> Interval:
    tp, fp, fn = counts.per_class[label]
    if metric == "precision":
        low, high = bernoulli_sequence(tp, tp + fp, alpha)
        return Interval(tp / (tp + fp) if tp + fp else 0.0, low, high)
    if metric == "recall":
        low, high = bernoulli_sequence(tp, tp + fn, alpha)
        return Interval(tp / (tp + fn) if tp + fn else 0.0, low, high)
    low, high = bernoulli_sequence(tp, tp + fp + fn, alpha)  # f1 = 2q / (1 + q), increasing in q
    return Interval(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0, 2 * low / (1 + low), 2 * high / (1 + high))


def arm_sequence(counts: Counts, metric: str, alpha: float) -> Interval:
    """The level-``alpha`` interval for one arm's metric (a macro average over its classes, but accuracy)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if metric == "accuracy":
        low, high = bernoulli_sequence(counts.correct, counts.n, alpha)
        return Interval(counts.correct / counts.n if counts.n else 0.0, low, high)
    if not counts.per_class:
        return Interval(0.0, 0.0, 1.0)
    share = alpha / len(counts.per_class)
    pieces = [_class_sequence(counts, metric, label, share) for label in counts.per_class]
    return Interval(
        sum(p.estimate for p in pieces) / len(pieces),
        sum(p.low for p in pieces) / len(pieces),
        sum(p.high for p in pieces) / len(pieces),
    )


@dataclass(frozen=True)
class Comparison:
    """The challenger against production on ``metric``: each arm's interval, the difference's, the verdict."""

    metric: str
    confidence: float
    production: Interval
    challenger: Interval
    difference: Interval
    n_production: int
    n_challenger: int
    verdict: str
    method: str = METHOD

    def summary(self) -> str:
        return (
            f"{self.metric}: challenger {self.challenger} on {self.n_challenger} labels, production "
            f"{self.production} on {self.n_production}; difference {self.difference} at "
            f"{self.confidence:.0%}: {self.verdict}"
        )

    def to_record(self) -> dict[str, object]:
        return asdict(self)


def compare(production: Counts, challenger: Counts, *, metric: str, confidence: float) -> Comparison:
    """Compare two arms at ``confidence`` (the chance that no interval shown ever misses)."""
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must be in [0.5, 1), not {confidence!r}")
    alpha = 1.0 - confidence
    prod = arm_sequence(production, metric, alpha / 2)
    chal = arm_sequence(challenger, metric, alpha / 2)
    difference = Interval(chal.estimate - prod.estimate, chal.low - prod.high, chal.high - prod.low)
    verdict = "better" if difference.low > 0 else "worse" if difference.high < 0 else "undecided"
    return Comparison(metric, confidence, prod, chal, difference, production.n, challenger.n, verdict)


__all__ = [
    "METHOD",
    "METRICS",
    "VERDICTS",
    "Comparison",
    "Counts",
    "Interval",
    "arm_sequence",
    "bernoulli_sequence",
    "compare",
]
