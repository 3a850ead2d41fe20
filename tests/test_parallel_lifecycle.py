"""A local cluster's processes end with it: at stop, and when the kernel that started it is killed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import ipyparallel as ipp
import psutil
import pytest
from jupyter_client.manager import KernelManager

from workbench import parallel
from workbench.errors import ClusterError

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[1]


def alive(processes: list[psutil.Process]) -> list[int]:
    running = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process.pid)
        except psutil.NoSuchProcess:
            continue
    return running


def tree(pids: list[int]) -> list[psutil.Process]:
    found = [psutil.Process(pid) for pid in pids]
    for process in list(found):
        found += process.children(recursive=True)
    return found


def working_in(folder: Path) -> list[int]:
    """Processes (other than this one) whose working folder is inside ``folder``: what a
    cluster started from a test's folder left behind, orphans included."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and Path(process.cwd()).is_relative_to(folder):
                found.append(process.pid)
        except (psutil.Error, OSError):
            continue
    return alive([psutil.Process(pid) for pid in found if psutil.pid_exists(pid)])


def test_stop_returns_once_every_process_it_started_is_gone(tmp_path: Path) -> None:
    started = parallel.Cluster.start(2, profile_dir=tmp_path / "profile", timeout=60)
    processes = tree(started.process_ids())
    nannies = [p for p in processes if "ipyparallel.engine.nanny" in " ".join(p.cmdline())]
    assert len(nannies) == 2  # the processes ipyparallel leaves behind for seconds
    began = time.monotonic()
    started.stop()
    assert alive(processes) == []  # at once: no waiting after stop returns
    assert working_in(Path.cwd()) == []
    assert time.monotonic() - began < 15
    reaper = [p for p in psutil.Process().children() if "workbench.parallel.reaper" in " ".join(p.cmdline())]
    assert alive(reaper) == []


def test_a_sigkilled_kernel_leaves_no_cluster_running(tmp_path: Path) -> None:
    """The kernel starts a cluster, is killed with SIGKILL; its cluster goes within a bounded time."""
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": str(ROOT)})
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        code = (
            "import json, psutil\nfrom workbench import parallel\n"
            f"cluster = parallel.Cluster.start(2, profile_dir={str(tmp_path / 'profile')!r})\n"
            "print(json.dumps([p.pid for p in psutil.Process().children(recursive=True)]))"
        )
        printed: list[str] = []
        reply = client.execute_interactive(
            code, timeout=90, output_hook=lambda msg: printed.append(msg["content"].get("text", ""))
        )
        assert reply["content"]["status"] == "ok", reply["content"]
        pids = json.loads("".join(printed))
        processes = [psutil.Process(pid) for pid in pids]
        assert len(processes) >= 4  # controller, 2 engines, the watcher, and theirs
        kernel_pid = km.provisioner.pid  # type: ignore[union-attr]
        os.kill(kernel_pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while alive(processes) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive(processes) == []
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_launcher_is_passed_to_ipyparallel_by_name_or_class(tmp_path: Path) -> None:
    refused = r"no ipyparallel engine launcher named 'sssh'; installed: .*mpi.*slurm.*ssh"
    with pytest.raises(ClusterError, match=refused):
        parallel.Cluster.start(1, launcher="sssh", profile_dir=tmp_path / "p0")
    local = ipp.cluster.launcher.LocalEngineSetLauncher
    with parallel.Cluster.start(1, launcher=local, profile_dir=tmp_path / "p1", timeout=60) as started:
        assert started._ipp_cluster is not None
        assert started._ipp_cluster.engine_launcher_class is local
        assert len(started.engine_ids) == 1
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    # ipyparallel's MPI launcher, for real: where mpiexec is missing, the start says so
    if shutil.which("mpiexec") is None:
        with pytest.raises(ClusterError, match=r"did not start 2 engines.*mpiexec"):
            parallel.Cluster.start(2, launcher="mpi", profile_dir=tmp_path / "p2", timeout=20)
    else:
        with parallel.Cluster.start(2, launcher="mpi", profile_dir=tmp_path / "p2", timeout=60) as started:
            assert len(started.engine_ids) == 2
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert alive(left) == []
    assert working_in(Path.cwd()) == []  # nor orphans: a controller's child spawned as it stopped
