"""The online comparison: intervals that hold at every look, decisions in the right direction, and
few false decisions between equal arms however often they are looked at (the full 200-test
figure is bench/loop.py's)."""

from __future__ import annotations

import random

import pytest

from workbench.lifecycle.loop.sequential import Counts, Interval, arm_sequence, bernoulli_sequence, compare

CLASSES = ["0", "1"]


def _labels(rng: random.Random, accuracy: float, positive: float = 0.5) -> tuple[str, str]:
    truth = "1" if rng.random() < positive else "0"
    predicted = truth if rng.random() < accuracy else ("0" if truth == "1" else "1")
    return truth, predicted


def _grow(counts: Counts, truth: str, predicted: str) -> Counts:
    table = {c: list(v) for c, v in counts.per_class.items()}
    if truth == predicted:
        table[truth][0] += 1
    else:
        table[predicted][1] += 1
        table[truth][2] += 1
    per_class = {c: (v[0], v[1], v[2]) for c, v in table.items()}
    return Counts(counts.n + 1, counts.correct + (truth == predicted), per_class)


def test_counts_agree_with_scikit_learn() -> None:
    from sklearn.metrics import f1_score, precision_score, recall_score

    rng = random.Random(4)
    pairs = [_labels(rng, 0.8, positive=0.3) for _ in range(500)]
    counts = Counts.of(pairs, CLASSES)
    truth, predicted = zip(*pairs, strict=True)
    for metric, score in (("f1", f1_score), ("precision", precision_score), ("recall", recall_score)):
        expected = score(truth, predicted, average="macro", zero_division=0)
        assert arm_sequence(counts, metric, 0.05).estimate == pytest.approx(expected)
    assert arm_sequence(counts, "accuracy", 0.05).estimate == pytest.approx(counts.correct / 500)


def test_the_bisected_interval_is_the_set_the_martingale_accepts() -> None:
    import math

    rng = random.Random(7)
    for _ in range(200):
        trials = rng.randint(1, 3000)
        successes = rng.randint(0, trials)
        low, high = bernoulli_sequence(successes, trials, 0.05)
        prior = math.lgamma(1 + successes) + math.lgamma(1 + trials - successes) - math.lgamma(2 + trials)
        accepted = [
            p / 4000
            for p in range(1, 4000)
            if prior - successes * math.log(p / 4000) - (trials - successes) * math.log(1 - p / 4000) < math.log(20)
        ]
        assert low <= successes / trials <= high
        assert low == pytest.approx(accepted[0], abs=3e-4) or (low == 0.0 and accepted[0] == 1 / 4000)
        assert high == pytest.approx(accepted[-1], abs=3e-4) or (high == 1.0 and accepted[-1] == 3999 / 4000)


def test_the_interval_holds_the_true_value_at_every_look_nearly_always() -> None:
    rng = random.Random(11)
    misses = 0
    for _ in range(100):
        counts = Counts.of([], CLASSES)
        for n in range(1, 1001):
            counts = _grow(counts, *_labels(rng, 0.8))
            if n % 4:
                continue
            found = arm_sequence(counts, "accuracy", 0.05)
            if not found.low <= 0.8 <= found.high:
                misses += 1
                break
    assert misses <= 5  # at most alpha of the runs ever leave the interval


def test_equal_arms_looked_at_after_every_label_are_rarely_told_apart() -> None:
    rng = random.Random(5)
    decided = 0
    for _ in range(60):
        production, challenger = Counts.of([], CLASSES), Counts.of([], CLASSES)
        for n in range(1, 601):
            production = _grow(production, *_labels(rng, 0.85))
            challenger = _grow(challenger, *_labels(rng, 0.85))
            if n % 5 == 0 and compare(production, challenger, metric="f1", confidence=0.95).verdict != "undecided":
                decided += 1
                break
    assert decided <= 3  # 5% of 60


@pytest.mark.parametrize(("production", "challenger", "verdict"), [(0.6, 0.9, "better"), (0.92, 0.7, "worse")])
def test_a_clear_difference_is_found_in_its_direction(production: float, challenger: float, verdict: str) -> None:
    rng = random.Random(2)
    arms = [Counts.of([_labels(rng, accuracy) for _ in range(400)], CLASSES) for accuracy in (production, challenger)]
    found = compare(arms[0], arms[1], metric="f1", confidence=0.95)
    assert found.verdict == verdict
    assert found.difference.low < found.challenger.estimate - found.production.estimate < found.difference.high
    assert "difference" in found.summary() and found.to_record()["verdict"] == verdict


def test_no_labels_say_nothing() -> None:
    empty = Counts.of([], CLASSES)
    assert arm_sequence(empty, "f1", 0.05) == Interval(0.0, 0.0, 1.0)
    assert compare(empty, empty, metric="precision", confidence=0.9).verdict == "undecided"
    with pytest.raises(ValueError, match="unknown metric"):
        arm_sequence(empty, "auc", 0.05)
    with pytest.raises(ValueError, match="confidence"):
        compare(empty, empty, metric="f1", confidence=1.0)
