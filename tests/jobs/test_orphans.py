"""Runs left ``running`` by a process that died without a word: found by pid and start time."""

import subprocess
import sys
from pathlib import Path

import nbformat
import psutil
from nbformat.v4 import new_code_cell, new_notebook

from workbench.jobs.orphans import mark_lost_runs, owner_state
from workbench.storage.run_records import Run
from workbench.storage.run_store import RunStore


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def running(run_id: str, pid: int, started: float | None, host: str | None = None) -> Run:
    import socket

    return Run(run_id, "job", "nb.ipynb", host=host or socket.gethostname(), pid=pid, pid_started=started)


def test_the_owner_is_judged_by_pid_and_start_time() -> None:
    me = psutil.Process()
    assert owner_state(running("a", me.pid, me.create_time())) == "alive"
    assert owner_state(running("b", me.pid, me.create_time() - 3600)) == "gone"  # the pid was reused
    assert owner_state(running("c", dead_pid(), 1.0)) == "gone"
    assert owner_state(running("d", me.pid, None)) == "alive"  # an older record: the pid alone
    assert owner_state(running("e", dead_pid(), 1.0, host="another-host")) == "unknown"


def test_lost_runs_are_marked_with_their_output_notebook(store: RunStore, tmp_path: Path) -> None:
    me = psutil.Process()
    lost = running("20260101-000000-000001-aaaa", dead_pid(), 1.0)
    output = store.run_dir(lost.run_id) / "output.ipynb"
    nb = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("y = 2")])
    nb.cells[0].metadata["papermill"] = {"start_time": "2026-01-01T00:00:00"}
    nb.metadata["workbench"] = {"status": "running"}
    nbformat.write(nb, output)
    lost.output = str(output)
    alive = running("20260101-000000-000002-bbbb", me.pid, me.create_time())
    remote = running("20260101-000000-000003-cccc", dead_pid(), 1.0, host="another-host")
    for run in (lost, alive, remote):
        store.save_run(run)

    marked = mark_lost_runs(store)

    assert [r.run_id for r in marked] == [lost.run_id]
    again = store.get_run(lost.run_id)
    assert (again.status, again.reason) == ("failed", "runner_lost")
    assert again.ended_at is not None and str(lost.pid) in (again.error or "")
    written = nbformat.read(output, as_version=4)
    assert written.metadata["workbench"]["status"] == "failed"
    assert "workbench-failed-cell" in written.cells[again.failed_cell].metadata["tags"]  # the cell it was in
    assert written.cells[again.failed_cell].source == "x = 1"
    assert "workbench-not-run" in written.cells[-1].metadata["tags"]
    assert store.get_run(alive.run_id).status == "running"
    assert store.get_run(remote.run_id).status == "running"  # another host's: left alone
    assert mark_lost_runs(store) == []
