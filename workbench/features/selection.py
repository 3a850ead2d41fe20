"""``select()``: a fitted scikit-learn transformer that keeps or builds ``k`` features, with the
figures that justify ``k``.

- ``rfe``: recursive feature elimination with a scaled logistic regression. The report is
  the elimination path: the cross-validated accuracy (``RFECV``) for every number of
  features, drawn as a line with its spread (the table names the kept, best and all-features
  points); the transformer is ``RFE`` keeping ``k``, or the ``RFECV`` itself (best number)
  when ``k`` is None.
- ``pca``: ``PCA`` on standardised features (``k`` None: as many components as reach 95% of
  the variance); the report is each component's explained variance ratio.
- ``kpca``: ``KernelPCA`` (RBF) on standardised features (``k`` None: 10, or fewer when
  there are fewer features); each component's share is its eigenvalue over the trace of
  the centred kernel matrix, i.e. over the sum of all eigenvalues.
- ``tree``: ``SelectFromModel`` over a random forest, keeping the ``k`` most important
  features (``k`` None: those above the mean importance).

The transformer is a plain scikit-learn object: put ``selection.transformer`` in a
``Pipeline`` and tune ``k`` with ``GridSearchCV`` (``n_features_to_select`` of ``RFE``,
``pca__n_components``, ``kernelpca__n_components``, ``max_features`` of ``SelectFromModel``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from workbench.errors import FeatureError
from workbench.features.data import Data, check_count, check_data, check_k, check_methods, check_seed
from workbench.features.report import bars_figure, bars_svg, new_figure, number, path_svg
from workbench.formatting import html_table, text_table

SELECTORS: tuple[str, ...] = ("rfe", "pca", "kpca", "tree")
_TITLES = {
    "rfe": "recursive feature elimination",
    "pca": "principal components",
    "kpca": "kernel principal components (RBF)",
    "tree": "random forest importance",
}


@dataclass(frozen=True, eq=False)
class Selection:
    """A fitted ``transformer`` and what it kept.

    ``selected`` names the output columns: surviving features (``rfe``, ``tree``) or
    components (``pc1``, ...). ``explained_variance_ratio`` holds the share of each kept
    component (``pca``: of the variance; ``kpca``: of the eigenvalue sum); ``rfe_path`` maps
    a number of features to its mean cross-validated accuracy and ``rfe_std`` to its spread;
    ``importances`` (``tree``) and ``rfe_ranking`` (``rfe``: 1 for survivors, higher for
    features eliminated earlier) are per input feature.
    """

    method: str
    transformer: Any
    features: list[str]
    selected: list[str]
    explained_variance_ratio: list[float] | None = None
    rfe_path: dict[int, float] | None = None
    rfe_std: dict[int, float] | None = None
    rfe_ranking: list[int] | None = None
    importances: list[float] | None = None
    loadings: list[str] | None = None  # pca: the input feature weighing most in each component

    @property
    def k(self) -> int:
        return len(self.selected)

    def transform(self, X: Any) -> Any:
        return self.transformer.transform(X)

    def _summary(self) -> str:
        return f"{_TITLES[self.method]}: {self.k} of {len(self.features)} features"

    def _table(self) -> tuple[list[str], list[list[str]]]:
        if self.explained_variance_ratio is not None:
            ratios = self.explained_variance_ratio
            headers = ["component", "share", "cumulative"]
            rows = [[name, number(r), number(sum(ratios[: i + 1]))] for i, (name, r) in enumerate(
                zip(self.selected, ratios, strict=True)
            )]
            if self.loadings is not None:
                headers.append("largest loading")
                for row, loading in zip(rows, self.loadings, strict=True):
                    row.append(loading)
            return headers, rows
        if self.rfe_path is not None and self.rfe_std is not None:
            # the whole path is the chart (and rfe_path); the table names the points that matter
            best = max(self.rfe_path, key=lambda n: (self.rfe_path[n], -n))  # type: ignore[index]
            marks: dict[int, list[str]] = {}
            for n, mark in ((self.k, "kept"), (best, "best"), (max(self.rfe_path), "all features")):
                marks.setdefault(n, []).append(mark)
            headers = ["features", "CV accuracy", "std", ""]
            rows = [
                [str(n), number(self.rfe_path[n]), number(self.rfe_std[n]), ", ".join(marks[n])] for n in sorted(marks)
            ]
            return headers, rows
        assert self.importances is not None
        order = sorted(range(len(self.features)), key=lambda i: (-self.importances[i], i))  # type: ignore[index]
        kept = set(self.selected)
        headers = ["feature", "importance", ""]
        rows = [
            [self.features[i], number(self.importances[i]), "kept" if self.features[i] in kept else ""] for i in order
        ]
        return headers, rows

    def _kept_line(self) -> str:
        return "kept: " + ", ".join(self.selected)

    def __str__(self) -> str:
        headers, rows = self._table()
        return "\n".join([self._summary(), text_table(headers, rows), self._kept_line()])

    def __repr__(self) -> str:
        return f"<Selection {self.method}: {self.k} of {len(self.features)} features>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """The text report where IPython shows a plain-text result (a terminal)."""
        printer.text(str(self))

    def _series(self) -> tuple[list[str], dict[str, list[float]], str]:
        if self.explained_variance_ratio is not None:
            return list(self.selected), {"share": list(self.explained_variance_ratio)}, "share of variance"
        assert self.importances is not None
        return list(self.features), {"importance": list(self.importances)}, "importance"

    def _repr_html_(self) -> str:
        headers, rows = self._table()
        table = html_table(headers, [[html.escape(c) for c in row] for row in rows], caption=self._summary())
        kept = f"<p>{html.escape(self._kept_line())}</p>"
        if self.rfe_path is not None and self.rfe_std is not None:
            title = "cross-validated accuracy by number of features"
            chart = path_svg(self.rfe_path, self.rfe_std, self.k, title, "CV accuracy (± std)")
        else:
            chart = bars_svg(*self._series())
        return table + chart + kept

    def plot(self) -> Any:
        """A matplotlib Figure: the RFE path as a line with its spread, else bars."""
        if self.rfe_path is None or self.rfe_std is None:
            labels, series, title = self._series()
            return bars_figure(labels, series, self._summary(), title)
        fig = new_figure(6.0, 3.5)
        ax = fig.add_subplot()
        n = list(self.rfe_path)
        mean = [self.rfe_path[i] for i in n]
        std = [self.rfe_std[i] for i in n]
        ax.errorbar(n, mean, yerr=std, marker="o", capsize=3)
        ax.axvline(self.k, color="grey", linestyle="--", label=f"kept {self.k}")
        ax.set_xlabel("number of features")
        ax.set_ylabel("cross-validated accuracy")
        ax.set_title(self._summary())
        ax.legend()
        return fig


def _logistic() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))


def _rfe(data: Data, k: int | None, cv: int, random_state: int) -> Selection:
    from sklearn.feature_selection import RFE, RFECV
    from sklearn.model_selection import StratifiedKFold

    getter = "named_steps.logisticregression.coef_"
    splitter = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    path = RFECV(_logistic(), step=1, cv=splitter, importance_getter=getter).fit(data.X, data.y)
    results = path.cv_results_
    counts = [int(n) for n in results.get("n_features", range(1, data.n_features + 1))]
    transformer = path if k is None else RFE(_logistic(), n_features_to_select=k, importance_getter=getter)
    if k is not None:
        transformer.fit(data.X, data.y)
    support = transformer.get_support()
    return Selection(
        method="rfe",
        transformer=transformer,
        features=data.names,
        selected=[name for name, kept in zip(data.names, support, strict=True) if kept],
        rfe_path={n: float(s) for n, s in zip(counts, results["mean_test_score"], strict=True)},
        rfe_std={n: float(s) for n, s in zip(counts, results["std_test_score"], strict=True)},
        rfe_ranking=[int(r) for r in transformer.ranking_],
    )


def _pca(data: Data, k: int | None, random_state: int) -> Selection:
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    components: int | float = 0.95 if k is None else k
    solver = "full" if k is None else "auto"
    transformer = make_pipeline(StandardScaler(), PCA(n_components=components, svd_solver=solver,
                                                      random_state=random_state))
    transformer.fit(data.X)
    pca = transformer.named_steps["pca"]
    ratios = [float(r) for r in pca.explained_variance_ratio_]
    loadings = [data.names[int(np.argmax(np.abs(c)))] for c in pca.components_]
    return Selection(
        method="pca",
        transformer=transformer,
        features=data.names,
        selected=[f"pc{i + 1}" for i in range(len(ratios))],
        explained_variance_ratio=ratios,
        loadings=loadings,
    )


def _kpca(data: Data, k: int, random_state: int) -> Selection:
    from sklearn.decomposition import KernelPCA
    from sklearn.metrics.pairwise import rbf_kernel
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import KernelCenterer, StandardScaler

    transformer = make_pipeline(StandardScaler(), KernelPCA(n_components=k, kernel="rbf", random_state=random_state))
    transformer.fit(data.X)
    kpca = transformer.named_steps["kernelpca"]
    scaled = transformer.named_steps["standardscaler"].transform(data.X)
    gamma = kpca.gamma if kpca.gamma is not None else 1.0 / data.n_features
    centred = KernelCenterer().fit_transform(rbf_kernel(scaled, gamma=gamma))
    total = float(centred.trace())
    if total <= 0.0:
        raise FeatureError("kpca needs rows that differ: every row of X is the same", hint="check X")
    ratios = [float(v) / total for v in kpca.eigenvalues_]
    return Selection(
        method="kpca",
        transformer=transformer,
        features=data.names,
        selected=[f"kpc{i + 1}" for i in range(len(ratios))],
        explained_variance_ratio=ratios,
    )


def _tree(data: Data, k: int | None, random_state: int, n_estimators: int) -> Selection:
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.feature_selection import SelectFromModel

    forest = RandomForestClassifier(n_estimators=n_estimators, random_state=random_state)
    threshold = -np.inf if k is not None else "mean"
    transformer = SelectFromModel(forest, threshold=threshold, max_features=k).fit(data.X, data.y)
    support = transformer.get_support()
    return Selection(
        method="tree",
        transformer=transformer,
        features=data.names,
        selected=[name for name, kept in zip(data.names, support, strict=True) if kept],
        importances=[float(v) for v in transformer.estimator_.feature_importances_],
    )


def select(
    X: Any,
    y: Any,
    method: str = "rfe",
    k: int | None = None,
    cv: int = 5,
    random_state: int = 0,
    *,
    n_estimators: int = 100,
) -> Selection:
    """Fit a feature selector or projection of ``method`` (``rfe``, ``pca``, ``kpca``, ``tree``;
    see the module docstring) keeping ``k`` features or components.

    ``cv`` folds (stratified, shuffled with ``random_state``) score the RFE path; the other
    methods check that ``y`` could be cross-validated the same way, so every method refuses
    the same bad input. Raises :class:`~workbench.errors.FeatureError` on an unknown method,
    a ``k`` out of range, missing values, mismatched lengths or labels that are not classes.
    """
    if not isinstance(method, str):
        raise FeatureError(f"method must be a string, not {type(method).__name__}", hint=f"choose from {SELECTORS}")
    (chosen,) = check_methods((method,), SELECTORS, "selection method")
    check_seed(random_state)
    check_count("n_estimators", n_estimators)
    data = check_data(X, y, cv=cv, what=chosen)
    largest = data.n_features if chosen != "kpca" else len(data.y)
    if chosen == "pca":
        largest = min(data.n_features, len(data.y))
    if k is not None:
        check_k(k, largest, chosen)
    if chosen == "rfe":
        return _rfe(data, k, cv, random_state)
    if chosen == "pca":
        return _pca(data, k, random_state)
    if chosen == "kpca":
        return _kpca(data, k if k is not None else min(10, data.n_features), random_state)
    return _tree(data, k, random_state, n_estimators)


__all__ = ["SELECTORS", "Selection", "select"]
