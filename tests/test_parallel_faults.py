"""Faults on a real local cluster: engines SIGKILLed mid-search, processes left behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV

from workbench import parallel
from workbench.errors import ClusterError, NoEnginesError, SearchFailedError

pytestmark = pytest.mark.timeout(120)

GRID = {"n_estimators": [40, 60], "max_depth": [4, 8, 12, None]}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[parallel.Cluster]:
    with parallel.Cluster.start(2, profile_dir=tmp_path / "profile", timeout=60) as started:
        yield started


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n_samples=2000, n_features=20, random_state=0)


def kill_when_busy(cluster: parallel.Cluster, engine_ids: list[int], cpu_seconds: float) -> threading.Thread:
    """SIGKILL the engines once each has spent ``cpu_seconds`` of CPU on the search's fits."""
    cluster.client[engine_ids].execute("import sklearn.ensemble", block=True)  # imports are not work
    processes = [psutil.Process(cluster.engine_info()[eid]["pid"]) for eid in engine_ids]
    baseline = [sum(p.cpu_times()[:2]) for p in processes]

    def busy() -> bool:
        return all(sum(p.cpu_times()[:2]) - b >= cpu_seconds for p, b in zip(processes, baseline, strict=True))

    def kill() -> None:
        deadline = time.monotonic() + 30
        while not busy() and time.monotonic() < deadline:
            time.sleep(0.02)
        for process in processes:
            process.send_signal(signal.SIGKILL)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def gone(pids: list[int], within: float) -> bool:
    """True once none of ``pids`` runs any more (checked in the process table)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(running(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def test_engine_killed_mid_search_gives_identical_results(
    cluster: parallel.Cluster, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    killer = kill_when_busy(cluster, [cluster.engine_ids[1]], cpu_seconds=0.6)
    ours = parallel.search(RandomForestClassifier(random_state=0), GRID, X, y, cv=3, progress=False)
    killer.join()
    theirs = GridSearchCV(RandomForestClassifier(random_state=0), GRID, cv=3).fit(X, y)
    for key in ("mean_test_score", "std_test_score"):
        np.testing.assert_array_equal(ours.cv_results_[key], theirs.cv_results_[key])
    assert ours.best_params_ == theirs.best_params_
    assert len(cluster.engine_ids) == 1
    assert ours.parallel_report_.engines == 2
    assert ours.parallel_report_.resubmitted >= 1


def test_all_engines_killed_fails_in_bounded_time_naming_the_fits(
    cluster: parallel.Cluster, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    kill_when_busy(cluster, cluster.engine_ids, cpu_seconds=1.0)
    start = time.monotonic()
    with pytest.raises(NoEnginesError) as caught:
        parallel.search(RandomForestClassifier(random_state=0), GRID, X, y, cv=3, progress=False)
    assert time.monotonic() - start < 20
    error = caught.value
    assert len(error.finished) >= 1
    assert error.lost
    finished = {(f["candidate"], f["split"]) for f in error.finished}
    lost = {(f["candidate"], f["split"]) for f in error.lost}
    assert not finished & lost
    assert all("test_scores" in f for f in error.finished)
    assert f"{len(error.finished)} of 24 fits finished" in str(error)
    candidate, split = sorted(lost)[0]
    assert f"candidate {candidate} split {split}" in str(error)
    assert "%cluster start" in str(error)


def test_engine_death_beyond_retries_names_the_lost_fits(
    cluster: parallel.Cluster, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    kill_when_busy(cluster, [cluster.engine_ids[0]], cpu_seconds=0.6)
    with pytest.raises(SearchFailedError) as caught:
        parallel.search(RandomForestClassifier(random_state=0), GRID, X, y, cv=3, retries=0, progress=False)
    error = caught.value
    assert error.lost and all({"candidate", "split", "params"} <= fit.keys() for fit in error.lost)
    assert "engine died 1 time(s), beyond retries=0" in str(error)
    assert len(cluster.engine_ids) == 1  # the other engine is still there


def test_stop_leaves_no_processes(tmp_path: Path) -> None:
    started = parallel.Cluster.start(2, profile_dir=tmp_path / "profile", timeout=60)
    pids = started.process_ids()
    assert len(pids) == 3 and all(psutil.pid_exists(p) for p in pids)
    started.stop()
    assert gone(pids, within=15)
    assert parallel.active_cluster() is None
    started.stop()  # a second stop is harmless


def test_a_start_that_times_out_is_a_cluster_error_and_leaves_no_processes(tmp_path: Path) -> None:
    def cluster_processes() -> list[int]:
        children = psutil.Process().children(recursive=True)
        return [c.pid for c in children if running(c.pid) and "ipyparallel" in " ".join(c.cmdline())]

    before = set(cluster_processes())
    with pytest.raises(ClusterError, match=r"did not start 2 engines within 0\.5 s"):
        parallel.Cluster.start(2, profile_dir=tmp_path / "profile", timeout=0.5)
    assert gone([p for p in cluster_processes() if p not in before], within=15)
    assert parallel.active_cluster() is None


def test_cluster_stops_when_the_python_process_exits(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from workbench import parallel
        cluster = parallel.Cluster.start(1, profile_dir={str(tmp_path / "profile")!r})
        print(" ".join(map(str, cluster.process_ids())), flush=True)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=90, check=True)
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 2
    assert gone(pids, within=15)
