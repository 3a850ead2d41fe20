"""Bad input to rank and select: one FeatureError each, saying what is wrong and what to do."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from workbench import features
from workbench.errors import FeatureError, WorkbenchError

X = np.arange(40, dtype=float).reshape(20, 2) % 7
Y = np.array([0, 1] * 10)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: features.rank(np.where(X > 5, np.nan, X), Y), "cannot take missing or infinite values .* 'x0'"),
        (lambda: features.select(pd.DataFrame({"a": [1.0, np.inf] * 10, "b": X[:, 1]}), Y, "pca"), "column is 'a'"),
        (lambda: features.rank(X, Y[:-1]), "X has 20 rows but y has 19 labels"),
        (lambda: features.rank(X, Y, methods=("tree", "shap")), "unknown ranking method 'shap'"),
        (lambda: features.rank(X, Y, methods=()), "no ranking method given"),
        (lambda: features.rank(X, Y, top_k=3), r"k=3 is out of range: top_k takes a whole number from 1 to 2"),
        (lambda: features.select(X, Y, "lasso"), "unknown selection method 'lasso'"),
        (lambda: features.select(X, Y, "rfe", k=0), "k=0 is out of range"),
        (lambda: features.select(X, Y, "pca", k=3), "from 1 to 2"),
        (lambda: features.select(X, Y, "tree", k=2.5), "k=2.5 is out of range"),
        (lambda: features.rank(X, X[:, 0] / 7 + 0.01), "y must hold class labels, but its values look continuous"),
        (lambda: features.rank(X, Y, cv=1), "cv must be a whole number of folds of at least 2"),
        (lambda: features.rank(X, [0] * 18 + [1, 1], cv=3), "the rarest class has 2"),
        (lambda: features.rank(pd.DataFrame({"a": ["x", "y"] * 10}), Y), "X must hold numbers only"),
        (lambda: features.rank(X[:, 0], Y), r"X must be a 2-D table"),
        (lambda: features.rank(X, Y, random_state=None), "random_state must be an integer seed"),
    ],
)
def test_bad_input_is_a_feature_error_with_a_hint(call: Any, message: str) -> None:
    with pytest.raises(FeatureError, match=message) as caught:
        call()
    assert isinstance(caught.value, WorkbenchError) and isinstance(caught.value, ValueError)
    assert caught.value.hint


def test_options_and_degenerate_data() -> None:
    with pytest.raises(FeatureError, match="n_estimators must be a whole number of at least 1, not 0"):
        features.select(X, Y, "tree", n_estimators=0)
    with pytest.raises(FeatureError, match="n_repeats must be"):
        features.rank(X, Y, n_repeats=-1)
    with pytest.raises(FeatureError, match="every row of X is the same"):
        features.select(np.ones((20, 3)), Y, "kpca", k=2)
