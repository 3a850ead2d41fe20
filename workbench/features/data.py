"""The checks every feature function runs first, so bad input fails with a :class:`FeatureError`
naming the problem instead of a scikit-learn traceback from deep inside a fold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.errors import FeatureError


@dataclass(frozen=True)
class Data:
    """Features as a finite float array, class labels and the feature names."""

    X: Any
    y: Any
    names: list[str]

    @property
    def n_features(self) -> int:
        return len(self.names)


def feature_names(X: Any, n_features: int) -> list[str]:
    """A DataFrame's column names, else ``x0, x1, ...`` (scikit-learn's own convention)."""
    columns = getattr(X, "columns", None)
    if columns is not None:
        return [str(c) for c in columns]
    return [f"x{i}" for i in range(n_features)]


def check_data(X: Any, y: Any, *, cv: int, what: str) -> Data:
    """``X`` as a finite 2-D float array and ``y`` as class labels, or a :class:`FeatureError`.

    ``cv`` folds need at least ``cv`` rows of every class (stratified folds); ``what``
    names the method in messages about missing values.
    """
    import numpy as np
    from sklearn.utils.multiclass import type_of_target

    try:
        features = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise FeatureError(
            f"X must hold numbers only: {exc}", hint="encode categories (OneHotEncoder) and drop text columns first"
        ) from exc
    if features.ndim != 2 or features.shape[1] == 0:
        raise FeatureError(f"X must be a 2-D table with at least one column, not of shape {features.shape}")
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise FeatureError(f"y must be one column of class labels, not of shape {labels.shape}")
    if len(labels) != len(features):
        raise FeatureError(
            f"X has {len(features)} rows but y has {len(labels)} labels",
            hint="pass labels of the same rows as the features",
        )
    if not np.isfinite(features).all():
        bad = feature_names(X, features.shape[1])[int(np.flatnonzero(~np.isfinite(features).all(axis=0))[0])]
        raise FeatureError(
            f"{what} cannot take missing or infinite values (the first such column is {bad!r})",
            hint="impute them first (sklearn.impute.SimpleImputer) or drop those rows",
        )
    if labels.dtype.kind == "O" and any(v is None or v != v for v in labels):
        raise FeatureError("y has missing labels", hint="drop the rows without a label")
    kind = type_of_target(labels)
    if kind not in ("binary", "multiclass"):
        raise FeatureError(
            f"y must hold class labels, but its values look {kind}",
            hint="the feature toolkit ranks features for classifiers; bin a numeric target into classes first",
        )
    if not isinstance(cv, int) or isinstance(cv, bool) or cv < 2:
        raise FeatureError(f"cv must be a whole number of folds of at least 2, not {cv!r}")
    _, counts = np.unique(labels, return_counts=True)
    if counts.min() < cv:
        raise FeatureError(
            f"cv={cv} stratified folds need {cv} rows of every class; the rarest class has {counts.min()}",
            hint="use fewer folds, or gather more rows of the rare class",
        )
    return Data(features, labels, feature_names(X, features.shape[1]))


def check_methods(methods: Any, known: tuple[str, ...], what: str) -> tuple[str, ...]:
    """``methods`` as a tuple of known names (a single name is accepted too)."""
    chosen = (methods,) if isinstance(methods, str) else tuple(methods)
    if not chosen:
        raise FeatureError(f"no {what} given", hint=f"choose from {', '.join(known)}")
    for method in chosen:
        if method not in known:
            raise FeatureError(f"unknown {what} {method!r}", hint=f"choose from {', '.join(known)}")
    if len(set(chosen)) != len(chosen):
        raise FeatureError(f"a {what} is listed twice: {', '.join(chosen)}")
    return chosen


def check_k(k: Any, largest: int, what: str) -> int:
    """``k`` as a whole number in ``[1, largest]``."""
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= largest:
        raise FeatureError(f"k={k!r} is out of range: {what} takes a whole number from 1 to {largest}")
    return k


def check_count(option: str, value: Any) -> int:
    """A whole-number option that must be at least 1 (trees, repeats)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise FeatureError(f"{option} must be a whole number of at least 1, not {value!r}")
    return value


def check_seed(random_state: Any) -> int:
    if not isinstance(random_state, int) or isinstance(random_state, bool):
        raise FeatureError(f"random_state must be an integer seed, not {random_state!r}")
    return random_state


def folds(data: Data, cv: int, random_state: int) -> list[tuple[Any, Any]]:
    """Shuffled, stratified train/test indices: the same seed gives the same folds."""
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    return list(splitter.split(data.X, data.y))


__all__ = ["Data", "check_count", "check_data", "check_k", "check_methods", "check_seed", "feature_names", "folds"]
