"""``wb.features.select``: fitted scikit-learn transformers, usable in Pipeline and GridSearchCV,
and their reports."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from workbench import features

# the parameter that tunes k of each method's transformer inside a Pipeline step "select"
GRIDS = {
    "rfe": {"select__n_features_to_select": [2, 4]},
    "pca": {"select__pca__n_components": [2, 4]},
    "kpca": {"select__kernelpca__n_components": [2, 4]},
    "tree": {"select__max_features": [2, 4]},
}


@pytest.mark.parametrize("method", features.SELECTORS)
def test_the_transformer_works_in_a_pipeline_and_a_grid_search(method: str, blobs: tuple[Any, Any]) -> None:
    X, y = blobs
    selection = features.select(X, y, method, k=3, cv=3)
    assert selection.k == 3 and selection.transform(X).shape == (len(X), 3)
    pipe = Pipeline([("select", clone(selection.transformer)), ("model", LogisticRegression(max_iter=2000))])
    search = GridSearchCV(pipe, GRIDS[method], cv=3).fit(X, y)
    assert search.best_score_ > 0.5  # three classes: chance is 1/3
    assert search.best_estimator_.named_steps["select"].transform(X).shape[1] in (2, 4)


def test_rfe_path_and_survivors(signal: tuple[pd.DataFrame, Any]) -> None:
    X, y = signal
    chosen = features.select(X, y, "rfe", k=2, cv=3)
    assert chosen.rfe_path is not None and chosen.rfe_std is not None and chosen.rfe_ranking is not None
    assert list(chosen.rfe_path) == list(range(1, 7)) and list(chosen.rfe_std) == list(range(1, 7))
    assert all(0.0 <= s <= 1.0 for s in chosen.rfe_path.values())
    assert "signal" in chosen.selected and len(chosen.selected) == 2
    assert chosen.rfe_ranking.count(1) == 2
    assert chosen.rfe_path[1] > 0.85  # the signal alone classifies almost every row
    best = features.select(X, y, "rfe", cv=3)  # k None: RFECV picks the number
    assert best.k == best.transformer.n_features_ and best.rfe_path == chosen.rfe_path
    text = str(chosen)
    assert "recursive feature elimination: 2 of 6 features" in text and "kept: " in text
    best = max(chosen.rfe_path, key=lambda n: (chosen.rfe_path[n], -n))
    rows = {int(line.split()[0]): line for line in text.splitlines()[3:] if line[:1].isdigit()}
    assert set(rows) == {2, best, 6}  # the points that matter, not the whole path
    assert rows[2].endswith("kept") and "best" in rows[best] and rows[6].endswith("all features")
    assert chosen.plot().axes[0].get_xlabel() == "number of features"


@pytest.mark.parametrize("method", ["pca", "kpca"])
def test_explained_variance_is_a_share(method: str, blobs: tuple[Any, Any]) -> None:
    X, y = blobs
    selection = features.select(X, y, method, k=4, cv=3)
    ratios = selection.explained_variance_ratio
    assert ratios is not None and len(ratios) == 4
    assert all(0.0 < r <= 1.0 for r in ratios) and sum(ratios) <= 1.0
    assert ratios == sorted(ratios, reverse=True)
    assert selection.selected[0] in ("pc1", "kpc1")
    full = features.select(X, y, method, k=8, cv=3)
    if method == "pca":  # every component: all of the variance
        assert sum(full.explained_variance_ratio or []) == pytest.approx(1.0)
    assert "cumulative" in str(selection) and '<svg class="wb-chart"' in selection._repr_html_()


def test_pca_without_k_keeps_95_percent_of_the_variance(blobs: tuple[Any, Any]) -> None:
    X, y = blobs
    selection = features.select(X, y, "pca")
    ratios = selection.explained_variance_ratio or []
    assert sum(ratios) >= 0.95 > sum(ratios[:-1])
    assert selection.loadings is not None and len(selection.loadings) == len(ratios)


def test_tree_keeps_the_most_important(signal: tuple[pd.DataFrame, Any]) -> None:
    X, y = signal
    selection = features.select(X, y, "tree", k=1, n_estimators=30)
    assert selection.selected == ["signal"]
    assert selection.importances is not None and int(np.argmax(selection.importances)) == 2
    assert selection.transform(X.to_numpy()).shape == (len(X), 1)
    assert str(selection).splitlines()[3].split() == ["signal", f"{selection.importances[2]:.4g}", "kept"]
    assert len(selection.plot().axes[0].patches) == 6


def test_same_seed_same_selection(blobs: tuple[Any, Any]) -> None:
    X, y = blobs
    assert str(features.select(X, y, "tree", random_state=3)) == str(features.select(X, y, "tree", random_state=3))
    assert str(features.select(X, y, "kpca", k=2)) == str(features.select(X, y, "kpca", k=2))
