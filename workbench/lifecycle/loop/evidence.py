"""The online evidence: the labelled feedback of each arm since the challenge began, compared.

Labels come from the prediction log (:meth:`PredictionStore.labelled`), per (model, version,
arm): production's arm and the challenger's, given after the challenger started. The log
keeps at most ``log_max_labels`` labels per arm (``[tool.workbench.serving]``, default
10,000) for at most ``log_max_age_seconds``: the comparison uses the labels it still holds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from workbench.lifecycle.loop.policy import DecideRule
from workbench.lifecycle.loop.sequential import Comparison, Counts, compare
from workbench.storage.model_records import ModelVersion
from workbench.storage.prediction_store import PredictionStore, label_text


@dataclass(frozen=True)
class Decision:
    """What the evidence says to do: ``promote``, ``retire`` or ``None`` (keep collecting), and why."""

    action: str | None
    reason: str
    comparison: Comparison


def gather(
    store: PredictionStore, production: ModelVersion, challenger: ModelVersion, since: float, rule: DecideRule
) -> Comparison:
    """Compare the two arms on the labels given since ``since`` (Unix time)."""
    window = store.retention.max_labels
    found = store.labelled(production.name, window, since)
    classes = sorted({label_text(c) for c in [*production.classes, *challenger.classes]})

    def arm(version: ModelVersion, name: str) -> Counts:
        pairs = found.get((version.name, version.version, name), [])
        return Counts.of(((truth, predicted) for truth, predicted, _ in pairs), classes)

    return compare(
        arm(production, "production"), arm(challenger, "challenger"), metric=rule.metric, confidence=rule.confidence
    )


def decide(comparison: Comparison, rule: DecideRule, since: float, now: float | None = None) -> Decision:
    """Promote when the challenger is better, retire when worse (each arm with at least ``min_labels``
    labels), retire when still undecided after ``max_days``; otherwise keep collecting."""
    now = time.time() if now is None else now
    enough = min(comparison.n_production, comparison.n_challenger) >= rule.min_labels
    days = (now - since) / 86400.0
    if enough and comparison.verdict == "better":
        return Decision("promote", f"the challenger is better on {rule.metric}: {comparison.summary()}", comparison)
    if enough and comparison.verdict == "worse":
        return Decision("retire", f"the challenger is worse on {rule.metric}: {comparison.summary()}", comparison)
    if days >= rule.max_days:
        why = "undecided" if enough else f"short of {rule.min_labels} labels per arm"
        return Decision(
            "retire", f"inconclusive after {days:.2f} days ({why}): {comparison.summary()}", comparison
        )
    return Decision(None, f"collecting: {comparison.summary()}", comparison)


__all__ = ["Decision", "decide", "gather"]
