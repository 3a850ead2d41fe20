"""Jobs sent to an engine of a real local cluster: the run's record, and an engine killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.jobs.conftest import NotebookFactory
from workbench import parallel
from workbench.cli import main
from workbench.errors import JobError, RunCancelledError, RunFailedError
from workbench.jobs import on_cluster, run
from workbench.jobs.cancel import Cancellation
from workbench.storage.run_store import RunStore

pytestmark = pytest.mark.timeout(150)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[parallel.Cluster]:
    """A cluster of one engine, this test's own (it may kill the engine)."""
    with parallel.Cluster.start(1, profile_dir=tmp_path / "profile", timeout=60) as started:
        yield started


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[parallel.Cluster]:
    """A cluster of one engine for the tests that leave it as they found it."""
    with parallel.Cluster.start(1, profile_dir=tmp_path_factory.mktemp("profile"), timeout=60) as started:
        yield started


def client_file(cluster: parallel.Cluster) -> str:
    assert cluster.security_dir is not None
    return str(cluster.security_dir / f"ipcontroller-{cluster.cluster_id}-client.json")


def gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def slow_notebook(make_notebook: NotebookFactory, marker: Path, before: str = "") -> Path:
    """A notebook whose kernel writes its pid to ``marker`` (after ``before``), then sleeps for 2 minutes."""
    return make_notebook(
        "slow",
        f"marker = {str(marker)!r}",
        f"import json, os, time\n{before}open(marker, 'w').write(json.dumps(os.getpid()))\ntime.sleep(120)",
        "print('never')",
    )


class Submitted:
    """``run(path, on=target, **options)`` on a thread of its own, returned once its kernel wrote ``marker``."""

    def __init__(self, path: Path, target: str, marker: Path, **options: Any) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._submit, args=(path, target, options))
        self.thread.start()
        deadline = time.monotonic() + 90
        while not marker.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.kernel_pid: int = json.loads(marker.read_text())

    def _submit(self, path: Path, target: str, options: dict[str, Any]) -> None:
        try:
            run(path, on=target, **options)
        except BaseException as exc:
            self.error = exc

    def ended(self, within: float = 60) -> BaseException:
        """What the submitter raised, once it returned within ``within`` seconds."""
        self.thread.join(timeout=within)
        assert not self.thread.is_alive()
        assert self.error is not None
        return self.error


def test_an_engine_killed_mid_run_is_recorded_as_engine_lost(
    cluster: parallel.Cluster, make_notebook: NotebookFactory, store: RunStore, tmp_path: Path
) -> None:
    started = tmp_path / "started.json"
    path = slow_notebook(make_notebook, started, before="import workbench as wb\nwb.record('step', 1)\n")
    submitted = Submitted(path, client_file(cluster), started)
    [engine] = cluster.engine_info().values()
    killed = time.monotonic()
    os.kill(engine["pid"], signal.SIGKILL)
    error = submitted.ended()
    assert time.monotonic() - killed < 30
    assert isinstance(error, RunFailedError) and error.exit_code == 9
    recorded = store.get_run(error.fields["run_id"])
    assert (recorded.status, recorded.reason) == ("failed", "engine_lost")
    assert recorded.error is not None and "died during the run" in recorded.error
    assert recorded.pid == engine["pid"]  # the engine recorded the start before it died
    assert recorded.metrics == {}  # what the kernel recorded was on the engine's side of the run
    assert gone(submitted.kernel_pid, within=15)  # the kernel followed its engine


def test_a_controller_killed_mid_run_ends_the_wait_with_what_to_do(
    cluster: parallel.Cluster,
    make_notebook: NotebookFactory,
    store: RunStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(on_cluster, "CONTROLLER_TIMEOUT", 2.0)
    started = tmp_path / "started.json"
    submitted = Submitted(slow_notebook(make_notebook, started), client_file(cluster), started)
    [controller] = [p for p in cluster.process_ids() if "controller" in " ".join(psutil.Process(p).cmdline())]
    schedulers = psutil.Process(controller).children()
    os.kill(controller, signal.SIGKILL)
    error = submitted.ended()  # before this, the submitter waited for ever
    assert isinstance(error, JobError) and not isinstance(error, RunFailedError)
    assert "stopped answering while run" in error.message and "workbench runs" in (error.hint or "")
    [recorded] = store.list_runs("slow")
    assert recorded.status == "running"  # on its engine still, which records the end itself
    assert recorded.run_id in error.message
    cluster.stop()  # the controller's own processes, orphans since it died, go too
    assert schedulers and all(gone(p.pid, within=10) for p in schedulers)


def test_a_cancel_reaches_the_engine_and_the_run_ends_cancelled(
    cluster: parallel.Cluster, make_notebook: NotebookFactory, store: RunStore, tmp_path: Path
) -> None:
    started = tmp_path / "started.json"
    cancel = Cancellation()
    submitted = Submitted(slow_notebook(make_notebook, started), client_file(cluster), started, cancel=cancel)
    cancel.request(signal.SIGINT)  # what Ctrl-C does to workbench run --on
    error = submitted.ended()
    assert isinstance(error, RunCancelledError) and error.exit_code == 130, error
    recorded = store.get_run(error.fields["run_id"])
    assert (recorded.status, recorded.reason) == ("cancelled", "interrupted")
    assert gone(submitted.kernel_pid, within=15)
    assert cluster.client.ids  # the engine itself lives on for the next run


def test_a_kernel_missing_on_the_engine_fails_the_run_as_it_would_here(
    shared: parallel.Cluster, make_notebook: NotebookFactory, store: RunStore
) -> None:
    path = make_notebook("p", "x = 1")
    with pytest.raises(RunFailedError, match="no Jupyter kernel named 'nosuch'") as caught:
        run(path, on=client_file(shared), kernel="nosuch")
    assert caught.value.exit_code == 8
    recorded = store.get_run(caught.value.fields["run_id"])
    assert (recorded.status, recorded.reason) == ("failed", "kernel_unavailable")
    [engine] = shared.engine_info().values()
    assert recorded.pid == engine["pid"]


def test_a_schedule_with_an_executor_runs_on_the_cluster(
    shared: parallel.Cluster, make_notebook: NotebookFactory, store: RunStore, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_notebook("s", "x = 1", "import workbench as wb\nwb.record('x', x)")
    target = client_file(shared)
    assert main(["schedule", "add", "nightly", str(path), "--cron", "0 2 * * *", "-p", "x", "5", "--on", target]) == 0
    assert main(["schedule", "export", "--crontab"]) == 0
    assert f"--on {target}" in capsys.readouterr().out
    assert main(["schedule", "run-now", "nightly"]) == 0
    [recorded] = store.list_runs("nightly")
    assert (recorded.status, recorded.metrics, recorded.executor) == ("succeeded", {"x": 5}, target)
    [engine] = shared.engine_info().values()
    assert recorded.pid == engine["pid"]


def test_a_memory_store_is_refused_before_any_connection(
    make_notebook: NotebookFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WORKBENCH_STORE", "memory://on_cluster")
    with pytest.raises(JobError, match="memory store lives in one process"):
        run(make_notebook("p", "x = 1"), on=str(tmp_path / "no-cluster-needed.json"))


def test_a_missing_connection_file_is_a_clear_error(make_notebook: NotebookFactory, tmp_path: Path) -> None:
    with pytest.raises(JobError, match="no cluster connection file at"):
        run(make_notebook("p", "x = 1"), on=str(tmp_path / "nothing.json"))
