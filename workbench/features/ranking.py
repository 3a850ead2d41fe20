"""``rank()``: which features matter, by several methods, and how stable each method's answer is.

Every method scores every feature on each of ``cv`` shuffled, stratified folds:

- ``tree``: a random forest's impurity importance, fitted on the training part;
- ``permutation``: the drop in accuracy of that forest when a feature is shuffled in the
  held-out part (importance on data the model did not see);
- ``mutual_info``: mutual information between the feature and the label, on the training part.

A method's score is its mean over folds; its rank orders those means (1 is best, ties
share the mean rank). The consensus rank is the mean of the methods' ranks. Stability says
whether a method would give the same answer on other data: the mean Spearman correlation
of its fold scores between every pair of folds (in [-1, 1]) and the mean Jaccard overlap
of their top-k sets (in [0, 1]). One seed fixes the folds, the forests, the shuffles and
the nearest-neighbour noise of mutual information, so a seed gives one exact result.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from workbench.features.data import Data, check_count, check_data, check_k, check_methods, check_seed, folds
from workbench.features.report import bars_figure, bars_svg, number
from workbench.formatting import html_table, text_table

METHODS: tuple[str, ...] = ("tree", "permutation", "mutual_info")


@dataclass(frozen=True)
class Stability:
    """How alike a method's rankings are across folds."""

    spearman: float  # mean pairwise Spearman rank correlation of the fold scores, in [-1, 1]
    top_k_overlap: float  # mean pairwise Jaccard overlap of the fold top-k sets, in [0, 1]


@dataclass(frozen=True, eq=False)
class Ranking:
    """Scores, ranks and stability of every feature under each method (see the module docstring).

    ``scores[method]`` and ``ranks[method]`` are arrays in the order of ``features``;
    ``fold_scores[method]`` has one row per fold; ``order`` lists feature indices from the
    best consensus rank down.
    """

    features: list[str]
    methods: tuple[str, ...]
    scores: dict[str, Any]
    fold_scores: dict[str, Any]
    ranks: dict[str, Any]
    consensus: Any
    stability: dict[str, Stability]
    top_k: int
    cv: int
    random_state: int

    @property
    def order(self) -> list[int]:
        import numpy as np

        return [int(i) for i in np.lexsort((np.arange(len(self.features)), self.consensus))]

    def top(self, k: int | None = None) -> list[str]:
        """The names of the ``k`` (default ``top_k``) best features by consensus rank."""
        count = self.top_k if k is None else check_k(k, len(self.features), "top")
        return [self.features[i] for i in self.order[:count]]

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per feature (best first): consensus rank, then each
        method's score and rank."""
        import pandas as pd

        order = self.order
        columns: dict[str, Any] = {"consensus_rank": self.consensus[order]}
        for method in self.methods:
            columns[method] = self.scores[method][order]
            columns[f"{method}_rank"] = self.ranks[method][order]
        frame = pd.DataFrame(columns, index=pd.Index([self.features[i] for i in order], name="feature"))
        return frame

    def _rows(self) -> list[list[str]]:
        rows = []
        for position, i in enumerate(self.order[: self.top_k], start=1):
            cells = [str(position), self.features[i], number(self.consensus[i])]
            cells += [f"{number(self.scores[m][i])} ({number(self.ranks[m][i])})" for m in self.methods]
            rows.append(cells)
        return rows

    def _headers(self) -> list[str]:
        return ["#", "feature", "consensus rank", *(f"{m} (rank)" for m in self.methods)]

    def _summary(self) -> str:
        shown = f"top {self.top_k} of {len(self.features)} features" if self.top_k < len(self.features) else (
            f"all {len(self.features)} features"
        )
        return f"feature ranking, {shown}, mean of {self.cv} folds, seed {self.random_state}"

    def _stability_rows(self) -> list[list[str]]:
        return [
            [m, number(self.stability[m].spearman), number(self.stability[m].top_k_overlap)] for m in self.methods
        ]

    def __str__(self) -> str:
        stability = text_table(["method", "Spearman", f"top-{self.top_k} overlap"], self._stability_rows())
        return "\n".join(
            [self._summary(), text_table(self._headers(), self._rows()), "", "stability across folds", stability]
        )

    def __repr__(self) -> str:
        return f"<Ranking of {len(self.features)} features by {', '.join(self.methods)}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """The text report where IPython shows a plain-text result (a terminal)."""
        printer.text(str(self))

    def _chart_series(self) -> tuple[list[str], dict[str, list[float]]]:
        shown = self.order[: self.top_k]
        labels = [self.features[i] for i in shown]
        return labels, {m: [float(self.scores[m][i]) for i in shown] for m in self.methods}

    def _repr_html_(self) -> str:
        labels, series = self._chart_series()
        stability = html_table(
            ["method", "Spearman", f"top-{self.top_k} overlap"],
            [[html.escape(c) for c in row] for row in self._stability_rows()],
            caption="stability across folds",
        )
        table = html_table(
            self._headers(), [[html.escape(c) for c in row] for row in self._rows()], caption=self._summary()
        )
        return table + bars_svg(labels, series, "feature scores, each method scaled to its best") + stability

    def plot(self) -> Any:
        """A matplotlib Figure of the top features' scores, one bar per method."""
        labels, series = self._chart_series()
        return bars_figure(labels, series, self._summary(), "mean score over folds")


def _spearman(a: Any, b: Any) -> float:
    """Spearman correlation of two score vectors; two constant vectors agree (1), one does not (0)."""
    import numpy as np
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    da, db = ra - ra.mean(), rb - rb.mean()
    norm = float(np.sqrt((da * da).sum() * (db * db).sum()))
    if norm == 0.0:
        return 1.0 if not da.any() and not db.any() else 0.0
    return float(np.clip((da * db).sum() / norm, -1.0, 1.0))


def _top_set(scores: Any, k: int) -> set[int]:
    import numpy as np

    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores)))
    return {int(i) for i in order[:k]}


def stability(fold_scores: Any, k: int) -> Stability:
    """Mean pairwise Spearman correlation and top-``k`` Jaccard overlap of the rows of ``fold_scores``."""
    pairs = list(combinations(range(len(fold_scores)), 2))
    if not pairs:
        return Stability(float("nan"), float("nan"))
    spearman = sum(_spearman(fold_scores[i], fold_scores[j]) for i, j in pairs) / len(pairs)
    overlap = 0.0
    for i, j in pairs:
        a, b = _top_set(fold_scores[i], k), _top_set(fold_scores[j], k)
        overlap += len(a & b) / len(a | b)
    return Stability(spearman, overlap / len(pairs))


def _fold_scores(
    data: Data, methods: tuple[str, ...], cv: int, random_state: int, n_estimators: int, n_repeats: int
) -> dict[str, Any]:
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.feature_selection import mutual_info_classif
    from sklearn.inspection import permutation_importance

    found: dict[str, list[Any]] = {m: [] for m in methods}
    for train, test in folds(data, cv, random_state):
        X_train, y_train = data.X[train], data.y[train]
        if "tree" in methods or "permutation" in methods:
            forest = RandomForestClassifier(n_estimators=n_estimators, random_state=random_state)
            forest.fit(X_train, y_train)
            if "tree" in methods:
                found["tree"].append(forest.feature_importances_)
            if "permutation" in methods:
                result = permutation_importance(
                    forest, data.X[test], data.y[test], n_repeats=n_repeats, random_state=random_state
                )
                found["permutation"].append(result.importances_mean)
        if "mutual_info" in methods:
            found["mutual_info"].append(mutual_info_classif(X_train, y_train, random_state=random_state))
    return {m: np.vstack(rows) for m, rows in found.items()}


def rank(
    X: Any,
    y: Any,
    methods: tuple[str, ...] | list[str] | str = METHODS,
    cv: int = 5,
    random_state: int = 0,
    top_k: int | None = None,
    *,
    n_estimators: int = 100,
    n_repeats: int = 5,
) -> Ranking:
    """Rank the columns of ``X`` (a DataFrame, or an array: names ``x0, x1, ...``) for
    predicting the classes ``y``; see the module docstring for the methods.

    ``top_k`` (default: 10, or every feature when fewer) is the size of the top sets whose
    overlap measures stability, and the number of features the report shows. ``n_estimators``
    sizes the forest of ``tree`` and ``permutation``, ``n_repeats`` the shuffles of
    ``permutation``. Raises :class:`~workbench.errors.FeatureError` on input it cannot use.
    """
    import numpy as np
    from scipy.stats import rankdata

    chosen = check_methods(methods, METHODS, "ranking method")
    check_seed(random_state)
    check_count("n_estimators", n_estimators)
    check_count("n_repeats", n_repeats)
    data = check_data(X, y, cv=cv, what=", ".join(chosen))
    k = min(10, data.n_features) if top_k is None else check_k(top_k, data.n_features, "top_k")
    per_fold = _fold_scores(data, chosen, cv, random_state, n_estimators, n_repeats)
    scores = {m: per_fold[m].mean(axis=0) for m in chosen}
    ranks = {m: rankdata(-scores[m]) for m in chosen}
    consensus = np.mean([ranks[m] for m in chosen], axis=0)
    return Ranking(
        features=data.names,
        methods=chosen,
        scores=scores,
        fold_scores=per_fold,
        ranks=ranks,
        consensus=consensus,
        stability={m: stability(per_fold[m], k) for m in chosen},
        top_k=k,
        cv=cv,
        random_state=random_state,
    )


__all__ = ["METHODS", "Ranking", "Stability", "rank", "stability"]
