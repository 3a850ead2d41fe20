"""The loop closed with real processes: a seeded stream whose concept shifts at a known row, replayed
against ``workbench serve`` with feedback, new data put in the datamart as it arrives, and
``workbench loop`` acting on what it sees.

Run 1 (Redis): drift is detected, the model retrained (the loop SIGKILLed while the job runs,
and a second loop taking over without training twice), judged by the gates, made challenger,
Redis stopped and started again during the challenge, the challenger promoted on the A/B
evidence: production's live F1 recovers. Run 2 (embedded store): a training job fails
(production untouched, the reason recorded), then a weaker model is trained, challenges, and
is retired, production untouched. The long form is bench/loop.py.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import workbench as wb
from tests.loop.conftest import MODEL
from tests.loop.world import events, first_production, kill, project, start_loop, start_world
from tests.redis_server import RedisServer
from workbench.lifecycle.loop.simulation import ShiftingStream, f1_macro
from workbench.registry.api import default_registry
from workbench.storage import open_storage

SHIFT_AT = 1200


@pytest.mark.timeout(600)
def test_drift_retrain_challenge_promote_through_a_kill_and_a_redis_outage(
    tmp_path: Path, isolated_environment: Path, own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = own_redis.url(prefix="loop", timeout=1.0)
    monkeypatch.setenv("WORKBENCH_STORE", url)
    monkeypatch.chdir(project(tmp_path / "project", """
        dataset = "sim"
        on_drift = { psi = 0.25, features = 3, min_rows = 300 }
        challenger_weight = 0.5
        decide = { metric = "f1", min_labels = 100, confidence = 0.95 }
        cooldown = "1h"
        """))
    stream = ShiftingStream(seed=0, shift_at=SHIFT_AT)
    first = first_production(stream)
    env = {"WORKBENCH_STORE": url}
    world = start_world(Path.cwd(), isolated_environment, stream, env, first_row=600)
    try:
        loop = start_loop(Path.cwd(), isolated_environment, env)
        world.processes.append(loop)
        world.until(lambda: events("retrain"), "a retrain")
        trigger = events("trigger")[0]
        assert trigger.evidence["triggers"][0]["kind"] == "drift", trigger
        assert world.next_row > SHIFT_AT and set(trigger.evidence["triggers"][0]["over"]) >= {"f0", "f1", "f2"}

        kill(loop)  # mid-retrain: the job runs on in its own process
        world.processes.remove(loop)
        world.processes.append(start_loop(Path.cwd(), isolated_environment, env))
        world.until(lambda: events("challenger"), "a challenger")

        own_redis.stop()  # the challenge goes on after an outage; nothing the loop recorded is lost
        world.until(lambda: "store is unavailable" in world.processes[0].output(), "the outage seen", traffic=False)
        own_redis.start()
        promoted = world.until(lambda: events("promoted"), "a promotion")[0]
        # the server swaps within its reload interval; on a busy machine a batch may come first
        swapped = promoted.evidence["version"]
        world.until(
            lambda: [r for r in world.replay.answered if r.version == swapped and r.arm == "production"],
            "the promoted version answering",
        )
        world.batch()
        metrics = world.server.client.get("/metrics").text
    finally:
        world.stop()

    timeline = events()
    kinds = [e.kind for e in timeline]
    assert kinds == ["trigger", "retrain", "retrained", "gate", "challenger", "decision", "promoted"], kinds
    retrain, retrained, gate, _, decision = timeline[1], timeline[2], timeline[3], timeline[4], timeline[5]
    run_id = retrain.evidence["run_id"]
    with open_storage() as storage:
        runs = storage.runs.list_runs(job="loop-sim")
    assert [(r.run_id, r.status) for r in runs] == [(run_id, "succeeded")]  # one training job, killed loop or not
    dataset = retrain.evidence["dataset"]
    assert retrained.evidence["datasets"] == [{"name": MODEL, "version": dataset.split("@")[1]}]
    assert gate.evidence["outcome"] == "passed" and gate.evidence["report"]["passed"]
    assert decision.evidence["evidence"]["verdict"] == "better" and decision.evidence["action"] == "promote"
    new = retrained.evidence["version"]
    assert promoted.evidence["version"] == new and promoted.evidence["replaced"] == first
    assert default_registry().get(MODEL, stage="production").version == new

    answered = world.replay.answered
    before = [r for r in answered if r.arm == "production" and r.index < SHIFT_AT]
    shifted = [r for r in answered if r.arm == "production" and r.index >= SHIFT_AT and r.version == first]
    recovered = [r for r in answered if r.arm == "production" and r.version == new]
    assert f1_macro(before) > 0.85 and f1_macro(shifted) < 0.6 and f1_macro(recovered) > 0.8, (
        f1_macro(before), f1_macro(shifted), f1_macro(recovered))
    assert 'workbench_loop_events_total{model="sim",kind="promoted"} 1' in metrics
    assert 'workbench_loop_phase{model="sim",phase="idle"} 1' in metrics


@pytest.mark.timeout(600)
def test_a_failed_job_then_a_weaker_model_leave_production_untouched(
    tmp_path: Path, isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project(tmp_path / "project", """
        on_new_data = "sim"
        parameters = { model = "stump" }
        challenger_weight = 0.5
        decide = { metric = "f1", min_labels = 100, confidence = 0.95 }
        cooldown = "1s"
        """))
    stream = ShiftingStream(seed=1, shift_at=10**9)
    first = first_production(stream)
    world = start_world(Path.cwd(), isolated_environment, stream, {}, first_row=600)
    try:
        world.processes.append(start_loop(Path.cwd(), isolated_environment, {}))
        world.batch(put=False)
        broken = stream.frame(world.next_row, 200).rename(columns={"target": "label"})
        wb.datamart.put(MODEL, broken)  # new data without the label column: the training notebook fails
        failed = world.until(lambda: events("retrain_failed"), "a failed retrain", traffic=False)[0]
        world.until(lambda: events("retired"), "a retirement")
    finally:
        world.stop()

    assert failed.evidence["reason"] == "cell_error" and "KeyError" in failed.evidence["error"]
    assert f"production v{first} untouched" in failed.summary
    kinds = [e.kind for e in events()]
    assert kinds == ["trigger", "retrain", "retrain_failed", "trigger", "retrain", "retrained", "gate", "challenger",
                     "decision", "retired"], kinds
    decision = events("decision")[0]
    assert decision.evidence["action"] == "retire" and decision.evidence["evidence"]["verdict"] == "worse"
    registry = default_registry()
    weaker = events("retrained")[0].evidence["version"]
    assert registry.get(MODEL, stage="production").version == first
    assert registry.get(MODEL, version=weaker).stage == "archived"
    assert [e.to_stage for e in registry.history(MODEL)] == ["production", "challenger", "archived"]
    assert isinstance(wb.datamart.get(MODEL), pd.DataFrame)
