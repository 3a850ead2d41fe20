"""A loop process SIGKILLed while it carries out a decision: the next loop carries out the recorded
decision once, never losing it and never promoting twice. (A kill while a job runs, a Redis
outage and a failing job are in test_simulation.py.)"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import workbench as wb
from tests.loop.conftest import MODEL, challenge, label, pairs, register, write_project
from tests.loop.world import events, kill, start_loop
from workbench.lifecycle.loop.simulation import ShiftingStream
from workbench.registry import Registry
from workbench.storage import open_storage

SLOW_GATES = f"""
[tool.workbench.loop.{MODEL}]
notebook = "{Path(__file__).resolve().parents[2] / "notebooks" / "loop-train.ipynb"}"
on_new_data = "{MODEL}"
challenger_weight = 0.5
decide = {{ min_labels = 100 }}

[tool.workbench.acceptance.{MODEL}]
holdout = "datamart:{MODEL}"
target = "target"
f1_macro = 0.55
bootstrap = 30000  # a few seconds of gates: the window the loop is killed in
"""


@pytest.mark.timeout(300)
def test_a_decision_interrupted_by_sigkill_is_carried_out_once_by_the_next_loop(
    tmp_path: Path, isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(write_project(tmp_path / "project", SLOW_GATES))
    stream = ShiftingStream(seed=2, shift_at=10**9)
    wb.datamart.put(MODEL, stream.frame(0, 1000))
    with open_storage() as storage:
        registry = Registry(storage.models)
        production = register(registry, stream, "production", kind="stump")
        candidate = register(registry, stream, "challenger", weight=0.5)
        challenge(storage, production, candidate)
        label(storage, production, "production", pairs(300, 0.65, seed=1), "p")
        label(storage, candidate, "challenger", pairs(300, 0.95, seed=2), "c")
    loop = start_loop(Path.cwd(), isolated_environment, {})
    deadline = time.monotonic() + 120
    while not events("decision"):
        assert time.monotonic() < deadline and loop.process.poll() is None, loop.output()
        time.sleep(0.02)
    kill(loop)  # while the promotion's gates run
    with open_storage() as storage:
        state = storage.loop.state(MODEL)
        assert state.phase == "deciding" and state.decision["action"] == "promote"  # type: ignore[index]
        assert Registry(storage.models).get(MODEL, version=candidate).stage == "challenger"
        while storage.loop.lease(MODEL) is not None:  # the killed loop's lease runs out
            assert time.monotonic() < deadline
            time.sleep(0.1)
    again = subprocess.run([sys.executable, "-m", "workbench.cli", "loop", "--once"], capture_output=True, text=True,
                           timeout=240)
    assert again.returncode == 0 and f"{MODEL} #2 promoted" in again.stderr, again.stdout + again.stderr
    assert [e.kind for e in events()] == ["decision", "promoted"]
    with open_storage() as storage:
        history = Registry(storage.models).history(MODEL)
        assert storage.loop.state(MODEL).phase == "idle"
    assert [(e.version, e.to_stage) for e in history if e.to_stage == "production"] == [(production, "production"),
                                                                                     (candidate, "production")]
