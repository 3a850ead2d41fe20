"""A cluster of two "hosts" simulated on this machine, and jobs sent to its engines.

Host A: the controller and 2 engines started by ``Cluster.start``. Host B: 2 engines started
apart, in process trees of their own, with their own HOME, IPython folder, workbench home
and working folder, attached to the controller by its engine connection file only, as on a
second machine (``WORKBENCH_ENGINE_HOST`` names their host, as a Kubernetes node name would).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV

from tests.redis_server import RedisServer
from workbench import parallel
from workbench.jobs import run
from workbench.storage import open_storage

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[1]
GRID = {"n_estimators": [20, 40], "max_depth": [4, 10, None]}
HOST_B = "host-b"


@dataclass
class TwoHosts:
    cluster: parallel.Cluster
    host_b: list[subprocess.Popen[bytes]]
    client_file: Path

    def engines_of(self, host: str) -> list[int]:
        return [eid for eid, info in self.cluster.engine_info(timeout=10).items() if info["host"] == host]


def start_host_b_engine(engine_file: Path, folder: Path) -> subprocess.Popen[bytes]:
    """An engine as another machine would run it: own session, HOME, homes and working folder."""
    for sub in ("home", "ipython", "work"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("WORKBENCH_", "IPYTHONDIR", "JPY_"))
    }
    env.update(
        HOME=str(folder / "home"),
        IPYTHONDIR=str(folder / "ipython"),
        WORKBENCH_HOME=str(folder / "home" / "workbench"),
        WORKBENCH_ENGINE_HOST=HOST_B,
        PYTHONPATH=str(ROOT),
    )
    command = [sys.executable, "-m", "ipyparallel.engine", f"--file={engine_file}", "--log-level=ERROR"]
    log = (folder / "engine.log").open("ab")
    try:
        return subprocess.Popen(
            command, cwd=folder / "work", env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    finally:
        log.close()


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoHosts]:
    base = tmp_path_factory.mktemp("hosts")
    cluster = parallel.Cluster.start(2, profile_dir=base / "a" / "profile", timeout=60)
    host_b: list[subprocess.Popen[bytes]] = []
    try:
        assert cluster.security_dir is not None
        engine_file = cluster.security_dir / f"ipcontroller-{cluster.cluster_id}-engine.json"
        host_b = [start_host_b_engine(engine_file, base / "b" / str(i)) for i in range(2)]
        cluster.client.wait_for_engines(4, timeout=90, interactive=False)
        client_file = cluster.security_dir / f"ipcontroller-{cluster.cluster_id}-client.json"
        yield TwoHosts(cluster, host_b, client_file)
    finally:
        cluster.stop()
        for process in host_b:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_status_shows_the_engines_of_each_host(two_hosts: TwoHosts) -> None:
    status = two_hosts.cluster.status()
    here = socket.gethostname()
    assert status.hosts == {here: two_hosts.engines_of(here), HOST_B: two_hosts.engines_of(HOST_B)}
    assert len(status.hosts[here]) == len(status.hosts[HOST_B]) == 2
    text = str(status)
    assert "4 engines on 2 hosts" in text
    assert f"{HOST_B}: 2 engines" in text and f"{here}: 2 engines" in text
    assert HOST_B in status._repr_html_()


def run_notebook(folder: Path) -> Path:
    """A small training notebook: parameters, a fit, metrics recorded, the pid of its kernel."""
    nb = new_notebook(
        cells=[
            new_code_cell("n_estimators = 5"),
            new_code_cell(
                "import os\nimport workbench as wb\n"
                "from sklearn.datasets import load_breast_cancer\n"
                "from sklearn.ensemble import RandomForestClassifier\n"
                "from sklearn.model_selection import train_test_split\n"
                "X, y = load_breast_cancer(return_X_y=True)\n"
                "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n"
                "model = RandomForestClassifier(n_estimators=n_estimators, random_state=0).fit(X_train, y_train)\n"
                "wb.record('accuracy', model.score(X_test, y_test))\n"
                "wb.record('kernel_pid', os.getpid())"
            ),
        ]
    )
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "notebooks" / "train.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_workbench_run_on_a_cluster_records_the_run_in_the_local_store(
    two_hosts: TwoHosts, tmp_path: Path, isolated_environment: Path
) -> None:
    notebook = run_notebook(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "run", str(notebook), "-p", "n_estimators", "7",
         "--on", str(two_hosts.client_file)],
        capture_output=True, text=True, env=env, timeout=150, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with open_storage() as storage:
        [recorded] = storage.runs.list_runs("train")
        executed = nbformat.read(storage.runs.output_path(recorded.run_id), as_version=4)
    assert (recorded.status, recorded.executor) == ("succeeded", str(two_hosts.client_file))
    assert recorded.parameters == {"n_estimators": 7}
    assert recorded.metrics["accuracy"] > 0.85
    engine_pids = {info["pid"] for info in two_hosts.cluster.engine_info().values()}
    assert recorded.pid in engine_pids  # the engine ran it, not the submitting process
    assert "ran on" in done.stdout and "succeeded" in done.stdout
    assert executed.metadata["workbench"]["status"] == "succeeded"
    assert executed.metadata["papermill"]["parameters"] == {"n_estimators": 7}


def test_a_run_on_a_cluster_comes_back_through_a_redis_store(
    two_hosts: TwoHosts, redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_STORE", redis_server.url(prefix=f"hosts{os.getpid()}"))
    notebook = run_notebook(tmp_path)
    result = run(notebook, {"n_estimators": 4}, on=str(two_hosts.client_file))
    assert result.status == "succeeded" and result.metrics["accuracy"] > 0.85
    with open_storage() as storage:
        recorded = storage.runs.get_run(result.run_id)
        assert recorded.status == "succeeded" and recorded.metrics == result.metrics
        # the engine kept its working files in its own home; the notebook came back through Redis
        local_copy = storage.runs.output_path(result.run_id)
        assert local_copy != Path(str(recorded.output))
        assert nbformat.read(local_copy, as_version=4).metadata["workbench"]["status"] == "succeeded"


def kill_when_busy(pids: list[int], cpu_seconds: float) -> threading.Thread:
    """SIGKILL the process groups of ``pids`` once each has spent ``cpu_seconds`` of CPU."""
    processes = [psutil.Process(pid) for pid in pids]
    baseline = [sum(p.cpu_times()[:2]) for p in processes]

    def busy() -> bool:
        return all(sum(p.cpu_times()[:2]) - b >= cpu_seconds for p, b in zip(processes, baseline, strict=True))

    def kill() -> None:
        deadline = time.monotonic() + 60
        while not busy() and time.monotonic() < deadline:
            time.sleep(0.02)
        for pid in pids:
            os.killpg(os.getpgid(pid), signal.SIGKILL)  # the engine, its nanny: the whole "host"

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def test_search_survives_the_loss_of_a_host_and_equals_scikit_learn(two_hosts: TwoHosts) -> None:
    X, y = make_classification(n_samples=1500, n_features=20, random_state=0)
    cluster = two_hosts.cluster
    b_engines = two_hosts.engines_of(HOST_B)
    assert len(b_engines) == 2
    cluster.client[b_engines].execute("import sklearn.ensemble", block=True)  # imports are not work
    b_pids = [cluster.engine_info()[eid]["pid"] for eid in b_engines]
    killer = kill_when_busy(b_pids, cpu_seconds=0.3)
    ours = parallel.search(RandomForestClassifier(random_state=0), GRID, X, y, cv=3, cluster=cluster, progress=False)
    killer.join()
    theirs = GridSearchCV(RandomForestClassifier(random_state=0), GRID, cv=3).fit(X, y)
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_array_equal(ours.cv_results_[key], theirs.cv_results_[key])
    assert ours.best_params_ == theirs.best_params_
    assert ours.best_score_ == theirs.best_score_
    report = ours.parallel_report_
    assert report.engines == 4 and report.resubmitted >= 1
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in b_pids)
    assert set(cluster.status().hosts) == {socket.gethostname()}
