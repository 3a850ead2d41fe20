"""``wb.features.rank``: scores, consensus, stability, reproducibility and the reports."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from workbench import features
from workbench.features.ranking import stability

FAST = {"n_estimators": 30, "n_repeats": 3}


def test_the_informative_feature_ranks_first_under_every_method(signal: tuple[pd.DataFrame, Any]) -> None:
    X, y = signal
    ranking = features.rank(X, y, cv=3, **FAST)
    assert ranking.features == list(X.columns)
    for method in features.METHODS:
        assert ranking.ranks[method][2] == 1.0, method
        assert int(np.argmax(ranking.scores[method])) == 2
        assert ranking.fold_scores[method].shape == (3, 6)
        np.testing.assert_allclose(ranking.scores[method], ranking.fold_scores[method].mean(axis=0))
    assert ranking.top(1) == ["signal"]
    assert ranking.consensus[2] == 1.0
    assert ranking.to_frame().index[0] == "signal"


def test_stability_is_bounded_and_the_signal_is_stable(signal: tuple[pd.DataFrame, Any]) -> None:
    X, y = signal
    ranking = features.rank(X, y, cv=4, top_k=1, **FAST)
    for method, found in ranking.stability.items():
        assert -1.0 <= found.spearman <= 1.0, method
        assert 0.0 <= found.top_k_overlap <= 1.0, method
        assert found.top_k_overlap == 1.0, method  # every fold puts the signal first


def test_stability_on_constructed_folds() -> None:
    same = np.array([[4.0, 3.0, 2.0, 1.0]] * 3)
    assert stability(same, 2) == features.Stability(1.0, 1.0)
    opposite = np.array([[4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    assert stability(opposite, 2) == features.Stability(-1.0, 0.0)
    # top-2 sets {0, 1} and {0, 2}: Jaccard 1/3; ranks 1234 vs 1324: Spearman 1 - 6*2/(4*15) = 0.8
    shifted = np.array([[4.0, 3.0, 2.0, 1.0], [4.0, 2.0, 3.0, 1.0]])
    found = stability(shifted, 2)
    assert found.spearman == pytest.approx(0.8)
    assert found.top_k_overlap == pytest.approx(1 / 3)
    # all-zero scores (mutual information of pure noise) agree with each other, not with a ranking
    assert stability(np.zeros((2, 3)), 1).spearman == 1.0
    assert stability(np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]]), 1).spearman == 0.0


def test_same_seed_same_result_other_seed_other_folds(blobs: tuple[Any, Any]) -> None:
    X, y = blobs
    first = features.rank(X, y, cv=3, random_state=7, **FAST)
    again = features.rank(X, y, cv=3, random_state=7, **FAST)
    other = features.rank(X, y, cv=3, random_state=8, **FAST)
    assert first.features == [f"x{i}" for i in range(8)]
    for method in features.METHODS:
        np.testing.assert_array_equal(first.fold_scores[method], again.fold_scores[method])
        assert not np.array_equal(first.fold_scores[method], other.fold_scores[method])
    assert str(first) == str(again) and first._repr_html_() == again._repr_html_()


def test_chosen_methods_and_reports(blobs: tuple[Any, Any]) -> None:
    X, y = blobs
    ranking = features.rank(X, y, methods=["mutual_info"], cv=3, top_k=3)
    assert ranking.methods == ("mutual_info",) and set(ranking.scores) == {"mutual_info"}
    text = str(ranking)
    assert "top 3 of 8 features, mean of 3 folds, seed 0" in text
    assert "mutual_info (rank)" in text and "top-3 overlap" in text
    assert len([line for line in text.splitlines() if line.startswith(("1 ", "2 ", "3 ", "4 "))]) == 3
    page = ranking._repr_html_()
    assert page.count("<tr>") == 1 + 3 + 1 + 1  # ranking head + 3 rows, stability head + 1 row
    assert '<svg class="wb-chart"' in page
    frame = ranking.to_frame()
    assert list(frame.columns) == ["consensus_rank", "mutual_info", "mutual_info_rank"]
    assert len(frame) == 8 and frame["consensus_rank"].is_monotonic_increasing
    figure = ranking.plot()
    assert figure.axes[0].get_title().startswith("feature ranking")
    assert len(figure.axes[0].patches) == 3


def test_names_are_escaped_in_html() -> None:
    X = pd.DataFrame({"<b>x</b>": [0.0, 1.0, 0.1, 0.9, 0.2, 0.8], "z": [1.0, 0, 1, 0, 1, 0]})
    ranking = features.rank(X, [0, 1, 0, 1, 0, 1], methods="mutual_info", cv=2)
    assert "<b>x</b>" not in ranking._repr_html_() and "&lt;b&gt;x&lt;/b&gt;" in ranking._repr_html_()
