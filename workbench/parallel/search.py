"""``wb.parallel.search``: scikit-learn's GridSearchCV / RandomizedSearchCV on the cluster.

The search *is* scikit-learn's: the returned object is a fitted ``GridSearchCV`` or
``RandomizedSearchCV`` whose (candidate x fold) fits ran on the engines through
:class:`~workbench.parallel.joblib_backend.WorkbenchBackend`. Splitting, scoring, error_score,
``cv_results_`` and the refit are scikit-learn's own code, so the results are the ones
``GridSearchCV(...).fit`` gives with ``n_jobs=1``.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import GridSearchCV, ParameterGrid, ParameterSampler, RandomizedSearchCV
from sklearn.utils import indexable

from workbench.parallel.cluster import Cluster, resolve_cluster
from workbench.parallel.joblib_backend import WorkbenchBackend, backend_config
from workbench.parallel.progress import Progress


@dataclass(frozen=True)
class SearchReport:
    """How a search ran (``engines``: at its start): kept on the search object as ``parallel_report_``."""

    engines: int
    fits: int
    tasks: int
    resubmitted: int
    wall_seconds: float
    bytes_sent: int
    bytes_pushed: int
    bytes_naive: int

    def __str__(self) -> str:
        return (
            f"{self.fits} fits in {self.tasks} tasks on {self.engines} engines, {self.wall_seconds:.2f} s; "
            f"sent {self.bytes_sent / 2**20:.2f} MiB (data with every task: {self.bytes_naive / 2**20:.2f} MiB); "
            f"{self.resubmitted} fits resubmitted"
        )


@dataclass(frozen=True)
class SearchSummary:
    """Best parameters and the top candidates of a fitted search, for ``%ptrain``."""

    best_params: dict[str, Any]
    best_score: float | None
    rows: list[tuple[int, str, float, float]]  # rank, params, mean and std test score
    scoring: str = "score"

    @classmethod
    def of(cls, searcher: Any, top: int = 10) -> SearchSummary:
        results = searcher.cv_results_
        metric = searcher.refit if isinstance(searcher.refit, str) else "score"
        order = np.argsort(results[f"rank_test_{metric}"], kind="stable")[:top]
        rows = [
            (
                int(results[f"rank_test_{metric}"][i]),
                ", ".join(f"{k}={v!r}" for k, v in results["params"][i].items()),
                float(results[f"mean_test_{metric}"][i]),
                float(results[f"std_test_{metric}"][i]),
            )
            for i in order
        ]
        best = getattr(searcher, "best_score_", None)
        scoring = metric if metric != "score" else (searcher.scoring if isinstance(searcher.scoring, str) else metric)
        return cls(dict(getattr(searcher, "best_params_", {})), best, rows, scoring)

    def __str__(self) -> str:
        best = f" (mean test {self.scoring} {self.best_score:.4f})" if self.best_score is not None else ""
        lines = [f"best params: {self.best_params}{best}", f"rank  mean    std     params   ({self.scoring})"]
        lines += [f"{rank:>4}  {mean:.4f}  {std:.4f}  {params}" for rank, params, mean, std in self.rows]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><td>{rank}</td><td>{mean:.4f}</td><td>{std:.4f}</td><td>{html.escape(params)}</td></tr>"
            for rank, params, mean, std in self.rows
        )
        return (
            f"<p>best params: <code>{html.escape(repr(self.best_params))}</code></p>"
            f"<table><tr><th>rank</th><th>mean test {html.escape(self.scoring)}</th><th>std</th><th>params</th></tr>"
            f"{body}</table>"
        )


def search(
    estimator: BaseEstimator,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    X: Any,
    y: Any = None,
    *,
    cv: Any = 5,
    scoring: Any = None,
    n_iter: int | None = None,
    refit: bool | str | Any = True,
    cluster: Cluster | None = None,
    retries: int = 1,
    random_state: Any = None,
    error_score: Any = np.nan,
    return_train_score: bool = False,
    progress: bool = True,
    **fit_params: Any,
) -> GridSearchCV | RandomizedSearchCV:
    """Search ``params`` (a grid, or distributions when ``n_iter`` is given) on the cluster.

    Arguments mean what they mean for ``GridSearchCV`` / ``RandomizedSearchCV``;
    ``cluster`` defaults to the active one, ``retries`` is how many times a task whose
    engine died is resubmitted. Input is checked here, with scikit-learn's own errors,
    before any task is sent.
    """
    X, y = indexable(X, y)
    _check_params(estimator, params, n_iter, random_state)
    resolved = resolve_cluster(cluster)
    common = {
        "scoring": scoring,
        "cv": cv,
        "refit": refit,
        "error_score": error_score,
        "return_train_score": return_train_score,
        "n_jobs": -1,  # every engine; the refit and the estimator's own n_jobs stay as they are
    }
    searcher: GridSearchCV | RandomizedSearchCV
    if n_iter is None:
        searcher = GridSearchCV(estimator, params, **common)
    else:
        searcher = RandomizedSearchCV(estimator, params, n_iter=n_iter, random_state=random_state, **common)
    bar = Progress(score_key=refit if isinstance(refit, str) else None) if progress else None
    be = WorkbenchBackend(resolved, retries=retries, progress=bar)
    engines = len(resolved.engine_ids)
    start = time.perf_counter()
    try:
        be.push(X, y, fit_params)
        with backend_config(be):
            searcher.fit(X, y, **fit_params)
    finally:
        be.stop_call()
        be.terminate()
        if bar is not None:
            bar.close()
    searcher.parallel_report_ = SearchReport(
        engines=engines,
        fits=be.stats.fits,
        tasks=be.stats.tasks,
        resubmitted=be.stats.resubmitted,
        wall_seconds=time.perf_counter() - start,
        bytes_sent=be.stats.bytes_sent,
        bytes_pushed=be.stats.bytes_pushed,
        bytes_naive=be.stats.bytes_naive,
    )
    return searcher


def _check_params(estimator: BaseEstimator, params: Any, n_iter: int | None, random_state: Any) -> None:
    """scikit-learn's own errors for a malformed grid or an unknown parameter name."""
    if n_iter is None:
        groups = ParameterGrid(params).param_grid
    else:
        groups = ParameterSampler(params, n_iter, random_state=random_state).param_distributions
    for group in groups:
        example = {key: _first(value) for key, value in group.items()}
        clone(estimator).set_params(**example)


def _first(value: Any) -> Any:
    if isinstance(value, np.ndarray | Sequence) and not isinstance(value, str) and len(value):
        return value[0]
    return value


__all__ = ["SearchReport", "SearchSummary", "search"]
