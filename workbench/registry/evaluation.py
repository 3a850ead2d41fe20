"""What a classifier looks like and how it scores, computed at registration time.

Everything returned here is plain JSON (floats, strings, lists), so every store keeps
it as it is. The feature profile (per-feature quantiles of the evaluation features) is
the reference a later drift check compares live inputs against.
"""

from __future__ import annotations

from typing import Any

PROFILE_QUANTILES: tuple[float, ...] = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
DRIFT_BIN_LEVELS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
"""Quantiles of the evaluation data used as interior bin edges for drift (PSI) checks."""


def _plain(value: Any) -> Any:
    """A numpy scalar or array as the matching Python value (JSON-ready)."""
    return value.tolist() if hasattr(value, "tolist") else value


def describe(model: object, X: Any = None) -> dict[str, Any]:
    """Feature names and count and classes of a fitted model, as far as it tells."""
    names = getattr(model, "feature_names_in_", None)
    if names is None and X is not None and hasattr(X, "columns"):
        names = list(X.columns)
    count = getattr(model, "n_features_in_", None)
    if names is None and count is not None:
        names = [f"x{i}" for i in range(int(count))]
    classes = getattr(model, "classes_", None)
    return {
        "feature_names": [str(n) for n in names] if names is not None else [],
        "n_features": int(count) if count is not None else (len(names) if names is not None else None),
        "classes": [_plain(c) for c in classes] if classes is not None else [],
    }


def evaluate(model: Any, X: Any, y: Any) -> tuple[dict[str, float], dict[str, Any]]:
    """Scores of ``model`` on ``(X, y)``: headline metrics and the full report.

    Headline: accuracy, macro precision, recall and F1 (``precision_macro``, ...: the
    definition every part of workbench uses, :mod:`workbench.scoring`, so these equal the
    acceptance gates' ``precision`` on the same rows), and ROC AUC when the model has
    ``predict_proba`` and ``y`` has at least two classes (one-vs-rest macro for more than
    two). The report adds precision, recall, F1 and support per class of the model.
    Undefined ratios (a class never predicted) count as 0 rather than warn.
    """
    import numpy as np
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support, roc_auc_score

    y_true = np.asarray(y)
    y_pred = model.predict(X)
    labels = getattr(model, "classes_", None)
    if labels is None:
        labels = np.unique(np.concatenate([y_true, np.asarray(y_pred)]))
    # macro over the classes present in truth or prediction (no labels=): a class of the model
    # missing from these rows is not averaged in as a 0
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    metrics: dict[str, float] = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_macro": float(precision),
        "recall_macro": float(recall),
        "f1_macro": float(f1),
    }
    if hasattr(model, "predict_proba") and len(np.unique(y_true)) > 1:
        proba = model.predict_proba(X)
        if proba.shape[1] == 2:
            metrics["roc_auc"] = float(roc_auc_score(y_true == labels[1], proba[:, 1]))
        else:
            metrics["roc_auc"] = float(roc_auc_score(y_true, proba, multi_class="ovr", labels=labels))
    per_p, per_r, per_f, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    per_class = {
        str(_plain(label)): {
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "support": int(s),
        }
        for label, p, r, f, s in zip(labels, per_p, per_r, per_f, support, strict=True)
    }
    return metrics, {"n_samples": len(y_true), "per_class": per_class}


def profile(X: Any, feature_names: list[str]) -> dict[str, Any]:
    """Per-feature quantiles, mean, standard deviation, missing share and drift bins of numeric columns.

    Non-numeric columns are listed under ``skipped``; the quantile levels are stored with
    the profile so a reader never has to guess them. ``bins`` (interior decile ``edges``
    and the ``shares`` of finite rows between them) is the reference of the serving
    side's PSI (:mod:`workbench.serving.drift`); profiles written before it lack it.
    """
    import numpy as np

    array = np.asarray(X)
    if array.ndim != 2:
        return {}
    names = feature_names if len(feature_names) == array.shape[1] else [f"x{i}" for i in range(array.shape[1])]
    features: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    for index, name in enumerate(names):
        try:
            column = array[:, index].astype(float)
        except (TypeError, ValueError):
            skipped.append(name)
            continue
        finite = column[np.isfinite(column)]
        if finite.size == 0:
            skipped.append(name)
            continue
        # bins for PSI: unique decile edges, and the share of finite rows in each bin counted the
        # way live rows are counted (edges[i-1] <= x < edges[i]), so ties do not skew the shares
        edges = np.unique(np.quantile(finite, DRIFT_BIN_LEVELS))
        counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=edges.size + 1)
        features[name] = {
            "quantiles": [float(q) for q in np.quantile(finite, PROFILE_QUANTILES)],
            "mean": float(finite.mean()),
            "std": float(finite.std()),
            "missing": float(1 - finite.size / column.size),
            "bins": {"edges": [float(e) for e in edges], "shares": [float(c) for c in counts / finite.size]},
        }
    return {
        "levels": list(PROFILE_QUANTILES),
        "n_samples": int(array.shape[0]),
        "features": features,
        "skipped": skipped,
    }


__all__ = ["DRIFT_BIN_LEVELS", "PROFILE_QUANTILES", "describe", "evaluate", "profile"]
