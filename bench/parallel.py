"""Parallel model search: workbench vs scikit-learn serial, joblib loky and ipyparallel's backend.

On ``make_classification(n_samples=20000, n_features=20)``, a grid of 24 RandomForest
candidates x 3 folds, timed in one run with the methods interleaved round by round:
- scikit-learn ``GridSearchCV(n_jobs=1)`` (serial);
- ``GridSearchCV(n_jobs=2)`` with joblib's loky backend;
- ``GridSearchCV(n_jobs=2)`` with ipyparallel's stock joblib backend on 2 engines;
- ``wb.parallel.search`` on the same 2 engines.
Also: time from start to a 2-engine cluster ready (workbench and stock ipyparallel),
per-task overhead of 1000 tiny tasks (stock load-balanced map, loky, workbench backend),
and the bytes a search sends.

Writes bench/results/parallel.json and prints a Markdown table.
Usage: python bench/parallel.py [--rounds 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipyparallel as ipp
import numpy as np
from joblib import Parallel, delayed, parallel_config
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV, ParameterGrid

from workbench import parallel

RESULTS = Path(__file__).parent / "results" / "parallel.json"
GRID = {"n_estimators": [10, 20, 30], "max_depth": [4, 8, 12, None], "max_features": ["sqrt", 0.3]}
QUICK_GRID = {"n_estimators": [5, 10], "max_depth": [4, None], "max_features": ["sqrt"]}


def seconds(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def stock_cluster_start() -> float:
    """A stock ipyparallel 2-engine cluster, from start to both engines ready."""
    with tempfile.TemporaryDirectory() as profile:
        cluster = ipp.Cluster(n=2, profile_dir=profile, log_level=40)
        elapsed, client = seconds(lambda: cluster.start_and_connect_sync())
        client.close()
        cluster.stop_cluster_sync()
    return elapsed


def tiny_task_overheads(cluster: parallel.Cluster, n: int = 1000) -> dict[str, float]:
    """Seconds per task for ``n`` tasks that do nothing measurable."""
    view = cluster.client.load_balanced_view()
    stock, _ = seconds(lambda: view.map_sync(math.sqrt, range(n)))
    loky, _ = seconds(lambda: Parallel(n_jobs=2)(delayed(math.sqrt)(i) for i in range(n)))
    with parallel.backend(cluster):
        ours, _ = seconds(lambda: Parallel(n_jobs=2)(delayed(math.sqrt)(i) for i in range(n)))
    return {"ipyparallel map": stock / n, "joblib loky": loky / n, "workbench backend": ours / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds of the four methods")
    parser.add_argument("--quick", action="store_true", help="a 4-candidate grid on 5000 samples (smoke test)")
    args = parser.parse_args()

    n_samples, grid = (5000, QUICK_GRID) if args.quick else (20000, GRID)
    X, y = make_classification(n_samples=n_samples, n_features=20, random_state=0)
    estimator = RandomForestClassifier(random_state=0)
    n_candidates = len(ParameterGrid(grid))
    load_before = os.getloadavg()[0]

    stock_start = stock_cluster_start()
    with tempfile.TemporaryDirectory() as profile:
        ours_start, cluster = seconds(lambda: parallel.Cluster.start(2, profile_dir=profile))
        with cluster:
            stock_view = cluster.client.load_balanced_view()
            stock_view.register_joblib_backend(name="ipyparallel-stock")

            def stock_backend() -> Any:
                with parallel_config(backend="ipyparallel-stock"):
                    return GridSearchCV(estimator, grid, cv=3, n_jobs=2).fit(X, y)

            methods: dict[str, Callable[[], Any]] = {
                "scikit-learn n_jobs=1": lambda: GridSearchCV(estimator, grid, cv=3, n_jobs=1).fit(X, y),
                "joblib loky n_jobs=2": lambda: GridSearchCV(estimator, grid, cv=3, n_jobs=2).fit(X, y),
                "ipyparallel stock backend, 2 engines": stock_backend,
                "wb.parallel.search, 2 engines": lambda: parallel.search(
                    estimator, grid, X, y, cv=3, progress=False
                ),
            }
            times: dict[str, list[float]] = {name: [] for name in methods}
            scores: dict[str, list[float]] = {}
            report = None
            for _ in range(args.rounds):
                for name, run in methods.items():
                    elapsed, fitted = seconds(run)
                    times[name].append(elapsed)
                    scores[name] = list(fitted.cv_results_["mean_test_score"])
                    report = getattr(fitted, "parallel_report_", report)
            overheads = tiny_task_overheads(cluster)

    reference = scores["scikit-learn n_jobs=1"]
    assert all(np.array_equal(s, reference) for s in scores.values()), "a method changed the scores"
    medians = {name: statistics.median(t) for name, t in times.items()}
    serial = medians["scikit-learn n_jobs=1"]
    assert report is not None
    data_bytes = X.nbytes + y.nbytes
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "data": {"n_samples": n_samples, "n_features": 20, "bytes": data_bytes},
        "grid": {"candidates": n_candidates, "folds": 3, "fits": 3 * n_candidates},
        "rounds": args.rounds,
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "search_seconds": medians,
        "speedup_vs_serial": {name: serial / t for name, t in medians.items()},
        "parallel_efficiency_wb": serial / (2 * medians["wb.parallel.search, 2 engines"]),
        "mean_fit_seconds": serial / (3 * n_candidates),
        "cluster_ready_seconds": {"ipyparallel stock": stock_start, "workbench": ours_start},
        "tiny_task_overhead_ms": {name: s * 1000 for name, s in overheads.items()},
        "bytes_per_search": {
            "workbench sent": report.bytes_sent,
            "workbench pushed up front": report.bytes_pushed,
            "data with every task (stock backend)": report.bytes_naive,
            "engines x data": 2 * data_bytes,
            "tasks": report.tasks,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    print(
        f"{n_candidates} candidates x 3 folds, {n_samples} x 20, mean fit {result['mean_fit_seconds']:.2f} s, "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print("| search | wall (s) | speed-up vs serial |")
    print("|---|---:|---:|")
    for name, t in medians.items():
        print(f"| {name} | {t:.2f} | {serial / t:.2f} |")
    print(f"\nparallel efficiency of wb.parallel.search on 2 engines: {result['parallel_efficiency_wb']:.2f}")
    print("\n| measure | value |")
    print("|---|---:|")
    print(f"| stock ipyparallel 2-engine cluster ready | {stock_start:.2f} s |")
    print(f"| workbench 2-engine cluster ready | {ours_start:.2f} s |")
    for name, ms in result["tiny_task_overhead_ms"].items():
        print(f"| per tiny task, {name} | {ms:.3f} ms |")
    for name, value in result["bytes_per_search"].items():
        shown = f"{value / 2**20:.2f} MiB" if name != "tasks" else str(value)
        print(f"| bytes per search, {name} | {shown} |")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
