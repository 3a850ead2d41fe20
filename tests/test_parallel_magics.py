"""%cluster and %ptrain in a real IPython shell, on a real local cluster."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from jupyter_client.manager import start_new_kernel
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from sklearn.tree import DecisionTreeClassifier

from workbench import parallel

pytestmark = pytest.mark.timeout(120)


ROOT = Path(__file__).resolve().parents[1]


def alive(pids: list[int]) -> list[int]:
    """The processes among ``pids`` that still run (zombies awaiting their parent do not)."""
    running = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.append(pid)
        except psutil.NoSuchProcess:
            pass
    return running


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "workbench")
    X, y = make_classification(n_samples=600, n_features=8, random_state=0)
    ip.user_ns.update(
        est=DecisionTreeClassifier(random_state=0), grid={"max_depth": [1, 3, None]}, X=X, y=y
    )
    yield ip
    active = parallel.active_cluster()
    if active is not None:
        active.stop()
    InteractiveShell.clear_instance()


def test_loading_the_extension_does_not_import_ipyparallel() -> None:
    import subprocess

    code = (
        "from IPython.core.interactiveshell import InteractiveShell; import sys; "
        "InteractiveShell.instance().run_line_magic('load_ext', 'workbench'); "
        "print('ipyparallel' in sys.modules, 'sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "False"]


def test_cluster_stops_when_the_kernel_shuts_down(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=60, env=env)
    try:
        msg_id = client.execute(
            "%load_ext workbench\n%cluster start -n 1\n"
            "from workbench import parallel\nprint('PIDS', *parallel.active_cluster().process_ids())"
        )
        text = ""
        while True:
            msg = client.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                text += msg["content"]["text"]
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=False)  # what closing the notebook does
    pids = [int(p) for p in text.split("PIDS", 1)[1].split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 15
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pids)


def test_cluster_start_status_ptrain_stop(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_line_magic("cluster", "start -n 2")
    assert "cluster started with 2 engines" in capsys.readouterr().out
    cluster = parallel.active_cluster()
    assert cluster is not None
    pids = cluster.process_ids()

    shell.run_line_magic("cluster", "status")
    status = capsys.readouterr().out
    assert "2 engines on 1 host" in status and "MiB" in status
    assert f"{socket.gethostname()}: 2 engines (0, 1)" in status

    # run again (a notebook's start cell run twice): one line, the same cluster, no traceback
    result = shell.run_cell("%cluster start")
    assert result.success
    assert capsys.readouterr().out == "a cluster with 2 engines is already running; %cluster stop stops it\n"
    assert parallel.active_cluster() is cluster
    result = shell.run_cell("%cluster start -n 3")
    assert not result.success
    shown = capsys.readouterr()
    assert "Traceback" not in shown.out + shown.err
    assert "UsageError: a cluster with 2 engines is already running: %cluster stop it first" in shown.out + shown.err

    shell.run_line_magic("ptrain", "est grid X y --cv 3 --no-progress -o found")
    out = capsys.readouterr().out
    expected = GridSearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [1, 3, None]}, cv=3)
    expected.fit(shell.user_ns["X"], shell.user_ns["y"])
    found = shell.user_ns["found"]
    np.testing.assert_array_equal(found.cv_results_["mean_test_score"], expected.cv_results_["mean_test_score"])
    assert f"best params: {expected.best_params_}" in out
    assert f"{expected.best_score_:.4f}" in out

    shell.run_line_magic("cluster", "stop")
    assert "cluster stopped" in capsys.readouterr().out
    deadline = time.monotonic() + 15
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pids)
    with pytest.raises(UsageError, match="no cluster is running: start one with %cluster start -n N"):
        shell.run_line_magic("cluster", "status")


def test_ptrain_starts_a_cluster_when_none_runs(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_line_magic("ptrain", "est grid X y --cv 2 --scoring f1")
    captured = capsys.readouterr()
    assert "cluster started with" in captured.out
    assert "best params:" in captured.out
    assert "6/6" in captured.err and "best=" in captured.err  # the progress bar
    assert parallel.active_cluster() is not None


@pytest.mark.parametrize(
    ("magic", "line", "message"),
    [
        ("cluster", "explode", "invalid choice"),
        ("cluster", "start -n 0", "-n must be at least 1"),
        ("cluster", "start 2", "give the number of engines with -n: %cluster start -n 2"),
        ("cluster", "stop now", "takes no 'now'"),
        ("ptrain", "est grid X", "the following arguments are required"),
        ("ptrain", "est grid X nothing", "no variable named 'nothing'"),
        ("ptrain", "est grid X y --cv 1", "--cv must be at least 2"),
        ("ptrain", "est grid X y -o 1x", "-o needs a variable name"),
    ],
)
def test_bad_arguments_are_usage_errors(shell: InteractiveShell, magic: str, line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        shell.run_line_magic(magic, line)
    assert parallel.active_cluster() is None


def test_help_documents_the_options(shell: InteractiveShell) -> None:
    doc = shell.find_line_magic("cluster").__doc__
    assert "--engines" in doc and "status" in doc
    assert "--n-iter" in shell.find_line_magic("ptrain").__doc__
