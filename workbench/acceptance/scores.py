"""A classifier's scores on a holdout, each with a seeded bootstrap confidence interval.

Every score is computed from the confusion matrix (precision, recall and F1 per class
and their macro averages, accuracy) or from the ranks of the predicted probabilities
(ROC AUC, one-vs-rest macro for more than two classes), once on the holdout and once per
bootstrap resample. Resamples come from ``numpy.random.default_rng(seed)``, so the same
model on the same holdout gets the same interval every time: a gate near its threshold
fails or passes deterministically. Two models scored with the same seed on the same
holdout share their resamples, which makes their differences a paired comparison.
Undefined ratios (a class never predicted) count as 0, as in scikit-learn with
``zero_division=0``; macro averages take the classes that occur in the rows scored.
``precision``, ``recall`` and ``f1`` are those macro averages, for two classes as for more
(:mod:`workbench.scoring`: the one definition the registry, serving and dashboard use too).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

_CHUNK = 100
"""Resamples handled at once: bounds memory to about 100 x rows integers."""


@dataclass
class Scores:
    """Point values (``scores["recall"]``), bootstrap replicates and the confusion matrix.

    Keys: ``precision``, ``recall``, ``f1`` (macro averages, also under ``precision_macro``,
    ``recall_macro``, ``f1_macro``), ``accuracy``, ``roc_auc`` (when the model has
    ``predict_proba``), and ``precision[LABEL]`` etc. per class.
    """

    labels: list[str]
    values: dict[str, float]
    confusion: list[list[int]]
    n_samples: int
    seed: int
    replicates: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __getitem__(self, key: str) -> float:
        try:
            return self.values[key]
        except KeyError:
            raise KeyError(f"no score {key!r}; there are {', '.join(self.values)}") from None

    def __contains__(self, key: object) -> bool:
        return key in self.values

    @property
    def per_class(self) -> dict[str, dict[str, float]]:
        """``{label: {"precision": ..., "recall": ..., "f1": ...}}``."""
        return {
            label: {m: self.values[f"{m}[{label}]"] for m in ("precision", "recall", "f1")} for label in self.labels
        }

    def interval(self, key: str, level: float = 0.95) -> tuple[float, float]:
        """The two-sided percentile bootstrap interval of ``key`` at ``level``."""
        self[key]
        return _quantiles(self.replicates[key], level)

    def difference_interval(self, baseline: Scores, key: str, level: float = 0.95) -> tuple[float, float]:
        """Interval of this score minus ``baseline``'s, over the resamples both share."""
        if baseline.seed != self.seed or baseline.n_samples != self.n_samples:
            raise ValueError("paired intervals need scores of one holdout with one seed")
        return _quantiles(self.replicates[key] - baseline.replicates[key], level)


def _quantiles(values: np.ndarray, level: float) -> tuple[float, float]:
    import numpy as np

    tail = (1 - level) / 2
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    low, high = np.quantile(finite, [tail, 1 - tail])
    return float(low), float(high)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), 0.0)


def _from_confusion(matrices: np.ndarray, labels: list[str]) -> dict[str, np.ndarray]:
    """Scores of a stack of confusion matrices (``[..., true, predicted]``), one value per matrix."""
    import numpy as np

    diagonal = np.diagonal(matrices, axis1=-2, axis2=-1).astype(float)
    precision = _ratio(diagonal, matrices.sum(axis=-2))
    recall = _ratio(diagonal, matrices.sum(axis=-1))
    f1 = _ratio(2 * precision * recall, precision + recall)
    found: dict[str, np.ndarray] = {"accuracy": diagonal.sum(axis=-1) / matrices.sum(axis=(-2, -1))}
    # like scikit-learn without labels=: the macro average is over the classes that occur
    # (in truth or prediction), so a slice or resample without a class is not dragged to 0
    present = (matrices.sum(axis=-1) + matrices.sum(axis=-2)) > 0
    for name, per_class in (("precision", precision), ("recall", recall), ("f1", f1)):
        found[name] = found[f"{name}_macro"] = (per_class * present).sum(axis=-1) / present.sum(axis=-1)
        for index, label in enumerate(labels):
            found[f"{name}[{label}]"] = per_class[..., index]
    return found


def _auc(truth: np.ndarray, score: np.ndarray) -> np.ndarray:
    """ROC AUC of each row (Mann-Whitney from average ranks); NaN where a row has one class only."""
    import numpy as np
    from scipy.stats import rankdata

    ranks = rankdata(score, axis=-1)
    positives = truth.sum(axis=-1)
    negatives = truth.shape[-1] - positives
    rank_sum = (ranks * truth).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
    return np.where((positives > 0) & (negatives > 0), auc, np.nan)


def _roc_auc(codes: np.ndarray, proba: np.ndarray, known: int) -> np.ndarray:
    import numpy as np

    if known == 2:
        return _auc(codes == 1, proba[..., 1])
    with warnings.catch_warnings():
        # a resample holding a single class has no AUC at all: NaN, left out of the interval
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack([_auc(codes == k, proba[..., k]) for k in range(known)]), axis=0)


def score(model: Any, X: Any, y: Any, *, bootstrap: int = 1000, seed: int = 0) -> Scores:
    """Scores of a fitted classifier on ``(X, y)`` with ``bootstrap`` seeded resamples."""
    import numpy as np

    from workbench.errors import AcceptanceError

    if not callable(getattr(model, "predict", None)):
        raise AcceptanceError(f"a {type(model).__name__} has no predict(): only classifiers can be scored")
    truth = np.asarray(y)
    predicted = np.asarray(model.predict(X))
    classes = list(getattr(model, "classes_", np.unique(np.concatenate([truth, predicted]))))
    extra = sorted({*truth.tolist(), *predicted.tolist()} - set(classes), key=str)
    everything = classes + extra
    labels = [str(c.item() if hasattr(c, "item") else c) for c in everything]
    index = {value: i for i, value in enumerate(everything)}
    t = np.array([index[v] for v in truth.tolist()])
    p = np.array([index[v] for v in predicted.tolist()])
    k = len(everything)
    codes = t * k + p
    matrix = np.bincount(codes, minlength=k * k).reshape(k, k)
    values = {key: float(v) for key, v in _from_confusion(matrix, labels).items()}
    proba = None
    known = len(classes)
    if hasattr(model, "predict_proba") and len(np.unique(t)) > 1 and not extra:
        proba = np.asarray(model.predict_proba(X), dtype=float)
        values["roc_auc"] = float(_roc_auc(t, proba, known))
    rng = np.random.default_rng(seed)
    n = len(t)
    parts: dict[str, list[np.ndarray]] = {key: [] for key in values}
    for start in range(0, bootstrap, _CHUNK):
        rows = rng.integers(0, n, size=(min(_CHUNK, bootstrap - start), n))
        offsets = np.arange(rows.shape[0])[:, None] * (k * k)
        stacked = np.bincount((codes[rows] + offsets).ravel(), minlength=rows.shape[0] * k * k)
        for key, replicate in _from_confusion(stacked.reshape(-1, k, k), labels).items():
            parts[key].append(replicate)
        if proba is not None:
            parts["roc_auc"].append(_roc_auc(t[rows], proba[rows], known))
    return Scores(
        labels=labels,
        values=values,
        confusion=matrix.tolist(),
        n_samples=n,
        seed=seed,
        replicates={key: np.concatenate(chunks) for key, chunks in parts.items()},
    )


__all__ = ["Scores", "score"]
