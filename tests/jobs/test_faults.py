"""Killed runners and schedulers, for real: SIGTERM, SIGINT and SIGKILL of ``workbench run`` and of
``workbench scheduler`` while a cell runs. After the next ``workbench runs``: no run left running,
the right status and reason in the record and the output notebook, the documented exit code, one
line printed, no kernel left. The three signals of one command run side by side to keep the time
down; bench/jobs_faults.py does 20 of each."""

import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.jobs.fault_harness import Trial, trial

pytestmark = pytest.mark.timeout(240)

SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGKILL]


@pytest.mark.parametrize("command", ["run", "scheduler"])
def test_a_signal_mid_run_leaves_a_final_record_and_no_kernel(command: str, tmp_path: Path) -> None:
    with ThreadPoolExecutor(len(SIGNALS)) as pool:
        trials: list[Trial] = list(pool.map(lambda sig: trial(command, sig, tmp_path / sig.name), SIGNALS))
    report = "\n".join(f"{t.command} {t.signal}: {t.problems}" for t in trials if not t.ok)
    assert not report, report
