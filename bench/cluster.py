"""Searches and jobs on a cluster: 2 vs 4 engines, stopping, a killed parent, a job on an engine.

- search: a grid of 12 RandomForest candidates x 3 folds on make_classification(5000 x 20),
  scikit-learn serial vs ``wb.parallel.search`` on 2 and on 4 engines, interleaved by round;
  on a machine with fewer than 4 cores, 4 engines share them: the figure is the overhead of
  more engines, not a speed-up;
- stop: seconds from ``stop`` to every process of a 2-engine cluster gone (controller,
  engines, nannies), ipyparallel's ``stop_cluster_sync`` vs ``Cluster.stop``;
- killed parent: a Python process starts a 2-engine cluster and SIGKILLs itself; seconds
  until every process of its cluster is gone;
- job: wall time of a small notebook run here and on an engine (``wb.jobs.run(on=...)``),
  and seconds from SIGKILL of the engine to the run recorded ``engine_lost``.

Writes bench/results/cluster.json and prints Markdown tables.
Usage: python bench/cluster.py [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipyparallel as ipp
import nbformat
import numpy as np
import psutil
from nbformat.v4 import new_code_cell, new_notebook
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV, ParameterGrid

import workbench as wb
from workbench import parallel

RESULTS = Path(__file__).parent / "results" / "cluster.json"
ROOT = Path(__file__).resolve().parents[1]
GRID = {"n_estimators": [20, 40, 60], "max_depth": [4, 8, 12, None]}
QUICK_GRID = {"n_estimators": [10, 20], "max_depth": [4, None]}


def seconds(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def running(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            continue
    return alive


def until_gone(processes: list[psutil.Process], limit: float = 60.0) -> float:
    start = time.perf_counter()
    while running(processes) and time.perf_counter() - start < limit:
        time.sleep(0.02)
    return time.perf_counter() - start


def tree(pids: list[int]) -> list[psutil.Process]:
    found = [psutil.Process(pid) for pid in pids]
    for process in list(found):
        found += process.children(recursive=True)
    return found


def search_times(rounds: int, quick: bool) -> dict[str, Any]:
    n_samples, grid = (2000, QUICK_GRID) if quick else (5000, GRID)
    X, y = make_classification(n_samples=n_samples, n_features=20, random_state=0)
    estimator = RandomForestClassifier(random_state=0)
    times: dict[str, list[float]] = {"scikit-learn n_jobs=1": [], "2 engines": [], "4 engines": []}
    reference = GridSearchCV(estimator, grid, cv=3).fit(X, y).cv_results_["mean_test_score"]
    with tempfile.TemporaryDirectory() as folder:
        clusters = {
            "2 engines": parallel.Cluster.start(2, profile_dir=Path(folder) / "two"),
            "4 engines": parallel.Cluster.start(4, profile_dir=Path(folder) / "four"),
        }
        try:
            for _ in range(rounds):
                elapsed, _fitted = seconds(lambda: GridSearchCV(estimator, grid, cv=3).fit(X, y))
                times["scikit-learn n_jobs=1"].append(elapsed)
                for name, cluster in clusters.items():
                    elapsed, fitted = seconds(
                        lambda c=cluster: parallel.search(estimator, grid, X, y, cv=3, cluster=c, progress=False)
                    )
                    assert np.array_equal(fitted.cv_results_["mean_test_score"], reference)
                    times[name].append(elapsed)
        finally:
            for cluster in clusters.values():
                cluster.stop()
    medians = {name: statistics.median(values) for name, values in times.items()}
    serial = medians["scikit-learn n_jobs=1"]
    return {
        "data": [n_samples, 20],
        "fits": 3 * len(ParameterGrid(grid)),
        "seconds": medians,
        "speedup_vs_serial": {name: serial / t for name, t in medians.items()},
        "4 vs 2 engines": medians["2 engines"] / medians["4 engines"],
    }


def stop_times(rounds: int) -> dict[str, float]:
    stock: list[float] = []
    ours: list[float] = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as folder:
            ipc = ipp.Cluster(n=2, profile_dir=folder, log_level=40, shutdown_atexit=False)
            client = ipc.start_and_connect_sync()
            client.close()
            processes = tree([ipc.controller.process.pid] + [
                launcher.process.pid for es in ipc.engines.values() for launcher in es.launchers.values()
            ])
            start = time.perf_counter()
            ipc.stop_cluster_sync()
            returned = time.perf_counter() - start
            stock.append(returned + until_gone(processes))
        with tempfile.TemporaryDirectory() as folder:
            cluster = parallel.Cluster.start(2, profile_dir=folder)
            processes = tree(cluster.process_ids())
            start = time.perf_counter()
            cluster.stop()
            returned = time.perf_counter() - start
            assert not running(processes), "Cluster.stop returned with processes left"
            ours.append(returned)
    return {"ipyparallel stop_cluster_sync, until all gone": statistics.median(stock),
            "Cluster.stop (all gone when it returns)": statistics.median(ours)}  # fmt: skip


def killed_parent_times(rounds: int) -> list[float]:
    results = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as folder:
            script = textwrap.dedent(
                f"""
                import os, signal, time, psutil
                from workbench import parallel
                parallel.Cluster.start(2, profile_dir={str(Path(folder) / "p")!r})
                pids = [p.pid for p in psutil.Process().children(recursive=True)]
                print(time.time(), *pids, flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
                """
            )
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
            killed, *pids = out.stdout.split()
            processes = []
            for pid in map(int, pids):
                try:
                    processes.append(psutil.Process(pid))
                except psutil.NoSuchProcess:
                    continue
            until_gone(processes)
            assert not running(processes), "the cluster of a killed parent survived"
            results.append(time.time() - float(killed))
    return results


def set_environment(key: str, value: str) -> None:
    """On an engine: a variable the kernels it starts inherit."""
    import os

    os.environ[key] = value


def job_times(rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        os.environ["WORKBENCH_HOME"] = str(base / "home")
        nb = new_notebook(cells=[new_code_cell("n = 10"), new_code_cell(
            "import os, time, workbench as wb\n"
            "from sklearn.datasets import load_breast_cancer\nfrom sklearn.linear_model import LogisticRegression\n"
            "if n < 0:\n    open(os.environ['MARKER'], 'w').write('started')\n    time.sleep(300)\n"
            "X, y = load_breast_cancer(return_X_y=True)\n"
            "wb.record('accuracy', LogisticRegression(max_iter=n * 100).fit(X, y).score(X, y))"
        )])  # fmt: skip
        nb.cells[0].metadata["tags"] = ["parameters"]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path = base / "train.ipynb"
        nbformat.write(nb, path)
        local: list[float] = []
        remote: list[float] = []
        lost: list[float] = []
        for _ in range(rounds):
            elapsed, _run = seconds(lambda: wb.jobs.run(path))
            local.append(elapsed)
            with parallel.Cluster.start(1, profile_dir=base / "profile", timeout=120) as cluster:
                assert cluster.security_dir is not None
                target = str(cluster.security_dir / f"ipcontroller-{cluster.cluster_id}-client.json")
                elapsed, _run = seconds(lambda t=target: wb.jobs.run(path, on=t))
                remote.append(elapsed)
                marker = base / "started"
                marker.unlink(missing_ok=True)
                cluster.client[:].apply_sync(set_environment, "MARKER", str(marker))
                outcome: dict[str, Any] = {}

                def submit(target: str = target, outcome: dict[str, Any] = outcome) -> None:
                    outcome["run"] = wb.jobs.run(path, {"n": -1}, on=target, check=False)

                worker = threading.Thread(target=submit)
                worker.start()
                deadline = time.monotonic() + 120
                while not marker.is_file():
                    assert worker.is_alive() and time.monotonic() < deadline, "the slow run never started"
                    time.sleep(0.05)
                [engine] = cluster.engine_info().values()
                killed = time.perf_counter()
                os.kill(engine["pid"], signal.SIGKILL)
                worker.join()
                lost.append(time.perf_counter() - killed)
                assert outcome["run"].reason == "engine_lost"
    return {
        "notebook here (s)": statistics.median(local),
        "notebook on an engine (s)": statistics.median(remote),
        "SIGKILL of the engine to engine_lost recorded (s)": statistics.median(lost),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a 4-candidate grid, one round (smoke test)")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    load_before = os.getloadavg()[0]
    search = search_times(rounds, args.quick)
    stops = stop_times(rounds)
    killed = killed_parent_times(rounds)
    jobs = job_times(rounds)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "rounds": rounds,
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "search": search,
        "stop_seconds": stops,
        "killed_parent_seconds_until_cluster_gone": {"median": statistics.median(killed), "max": max(killed)},
        "jobs": jobs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['machine']}; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"\n{search['fits']} fits on {search['data'][0]} x 20\n\n| search | wall (s) | speed-up vs serial |")
    print("|---|---:|---:|")
    for name, t in search["seconds"].items():
        print(f"| {name} | {t:.2f} | {search['speedup_vs_serial'][name]:.2f} |")
    print(f"\n4 vs 2 engines: {search['4 vs 2 engines']:.2f}x\n\n| measure | seconds |\n|---|---:|")
    for name, value in stops.items():
        print(f"| {name} | {value:.2f} |")
    median, worst = statistics.median(killed), max(killed)
    print(f"| parent SIGKILLed to its cluster gone (median / max) | {median:.2f} / {worst:.2f} |")
    for name, value in jobs.items():
        print(f"| {name} | {value:.2f} |")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
