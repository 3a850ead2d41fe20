"""The loop's steps in this process, on the embedded store: triggers with their evidence, the online
decision carried out through the promotion step, cooldown, leases, and what a person does.

Retraining runs real jobs and is tested with real processes (test_simulation.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import workbench as wb
from tests.loop.conftest import MODEL, challenge, label, pairs, register, write_project
from workbench import cli
from workbench.errors import LoopError
from workbench.lifecycle.loop import Loop, pause, request, resume, status
from workbench.lifecycle.loop.policy import load_policies
from workbench.lifecycle.loop.simulation import ShiftingStream
from workbench.lifecycle.loop.triggers import look
from workbench.registry import Registry
from workbench.serving.predlog import PredictionLog
from workbench.storage import Storage


@pytest.fixture
def registry(storage: Storage) -> Registry:
    return Registry(storage.models)


def _kinds(storage: Storage) -> list[str]:
    return [e.kind for e in storage.loop.events(MODEL)]


def test_new_data_fires_after_what_production_was_trained_on(
    storage: Storage, registry: Registry, stream: ShiftingStream, project: Path
) -> None:
    policy = load_policies()[MODEL]
    log = PredictionLog(storage.predictions, storage.models.get_version)
    first = wb.datamart.put(MODEL, stream.frame(0, 200))
    wb.datamart.get(MODEL)  # read: the lineage of the next registration
    register(registry, stream, "production")
    production = registry.get(MODEL, stage="production")
    assert {"name": MODEL, "version": first.version} in production.datasets  # with whatever else this process read
    state = storage.loop.state(MODEL)
    seen = look(policy, state, datamarts=storage.datamarts, log=log, production=production)
    assert (seen.fired, seen.data_seen) == ([], first.ref)
    newer = wb.datamart.put(MODEL, stream.frame(200, 200))
    seen = look(policy, state.evolve(data_seen=seen.data_seen), datamarts=storage.datamarts, log=log,
                production=production)
    assert [f.kind for f in seen.fired] == ["new_data"] and seen.dataset == newer.ref
    assert seen.fired[0].evidence["previous"] == first.ref and seen.fired[0].evidence["rows"] == 200


def test_drift_live_decline_and_schedule_fire_with_their_figures(
    storage: Storage, registry: Registry, stream: ShiftingStream, project: Path
) -> None:
    write_project(project, f"""
        [tool.workbench.loop.{MODEL}]
        notebook = "{Path(__file__).resolve().parents[2] / "notebooks" / "loop-train.ipynb"}"
        on_drift = {{ psi = 0.25, features = 3, min_rows = 100 }}
        on_live = {{ f1 = 0.8, min_labels = 100 }}
        schedule = "* * * * *"
        """)
    policy = load_policies()[MODEL]
    log = PredictionLog(storage.predictions, storage.models.get_version)
    number = register(registry, stream, "production")
    production = registry.get(MODEL, version=number)
    state = storage.loop.state(MODEL)
    calm = look(policy, state, datamarts=storage.datamarts, log=log, production=production)
    assert calm.fired == [] and calm.cron_last is not None  # the schedule's clock starts at first sight
    shifted = ShiftingStream(seed=3, shift_at=0)
    storage.predictions.observe_features(MODEL, number, shifted.rows(0, 150)[0].tolist())
    label(storage, number, "production", pairs(150, 0.6, seed=1), "live")
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    fired = look(policy, state.evolve(cron_last=an_hour_ago), datamarts=storage.datamarts, log=log,
                 production=production).fired
    assert [f.kind for f in fired] == ["drift", "live", "schedule"]
    drift, live, _ = fired
    assert drift.evidence["over"] == ["f0", "f1", "f2"] and drift.evidence["rows"] == 150
    assert all(drift.evidence["psi"][f] > 0.25 for f in ("f0", "f1", "f2"))
    assert live.evidence["n"] == 150 and live.evidence["below"]["f1"] < 0.8


def test_a_better_challenger_is_promoted_through_the_promotion_step(
    storage: Storage, registry: Registry, stream: ShiftingStream
) -> None:
    production = register(registry, stream, "production")
    candidate = register(registry, stream, "challenger", weight=0.5)
    challenge(storage, production, candidate)
    label(storage, production, "production", pairs(300, 0.6, seed=1), "p")
    label(storage, candidate, "challenger", pairs(300, 0.95, seed=2), "c")
    loop = Loop(interval=0.1)
    try:
        assert loop.step(MODEL) == "acted"
        assert loop.step(MODEL) == "cooldown"
    finally:
        loop.close()
    assert registry.get(MODEL, stage="production").version == candidate
    assert registry.history(MODEL)[-1].action == "loop"
    events = storage.loop.events(MODEL)
    assert [e.kind for e in events] == ["decision", "promoted"]
    evidence = events[0].evidence["evidence"]
    assert evidence["verdict"] == "better" and evidence["n_challenger"] == 300 and evidence["difference"]["low"] > 0
    state = storage.loop.load(MODEL)
    assert state is not None and (state.phase, state.challenger, state.decision) == ("idle", None, None)
    assert state.cooldown_until is not None and datetime.fromisoformat(state.cooldown_until) > datetime.now(UTC)


def test_a_worse_challenger_is_retired_and_production_untouched(
    storage: Storage, registry: Registry, stream: ShiftingStream
) -> None:
    production = register(registry, stream, "production")
    candidate = register(registry, stream, "challenger", weight=0.5)
    challenge(storage, production, candidate)
    loop = Loop(interval=0.1)
    try:
        label(storage, production, "production", pairs(40, 0.95, seed=1), "p")
        label(storage, candidate, "challenger", pairs(40, 0.5, seed=2), "c")
        assert loop.step(MODEL) == "collecting"  # fewer than min_labels (60) per arm
        assert storage.loop.state(MODEL).evidence["n_challenger"] == 40  # type: ignore[index]
        label(storage, production, "production", pairs(300, 0.95, seed=3), "p2")
        label(storage, candidate, "challenger", pairs(300, 0.5, seed=4), "c2")
        assert loop.step(MODEL) == "acted"
    finally:
        loop.close()
    assert registry.get(MODEL, stage="production").version == production
    assert registry.get(MODEL, version=candidate).stage == "archived"
    assert _kinds(storage) == ["decision", "retired"]
    assert "production v1 untouched" in storage.loop.events(MODEL)[-1].summary


def test_an_undecided_challenger_is_retired_after_max_days(
    storage: Storage, registry: Registry, stream: ShiftingStream
) -> None:
    production = register(registry, stream, "production")
    candidate = register(registry, stream, "challenger", weight=0.5)
    challenge(storage, production, candidate, since=time.time() - 15 * 86400)
    loop = Loop(interval=0.1)
    try:
        assert loop.step(MODEL) == "acted"
    finally:
        loop.close()
    decision = storage.loop.events(MODEL)[0]
    assert decision.kind == "decision" and "inconclusive after 15.00 days" in decision.summary
    assert registry.get(MODEL, version=candidate).stage == "archived"


def test_a_challenge_ended_by_a_person_is_recorded_and_left_alone(
    storage: Storage, registry: Registry, stream: ShiftingStream
) -> None:
    production = register(registry, stream, "production")
    candidate = register(registry, stream, "challenger", weight=0.5)
    challenge(storage, production, candidate)
    wb.promote(MODEL, candidate, "archived")
    loop = Loop(interval=0.1)
    try:
        assert loop.step(MODEL) == "acted"
    finally:
        loop.close()
    assert _kinds(storage) == ["ended"]
    assert "v2 is archived, production is v1" in storage.loop.events(MODEL)[0].summary


def test_a_model_held_by_another_loop_is_left_alone(
    storage: Storage, registry: Registry, stream: ShiftingStream
) -> None:
    production = register(registry, stream, "production")
    candidate = register(registry, stream, "challenger", weight=0.5)
    challenge(storage, production, candidate)
    assert storage.loop.claim(MODEL, "another-loop", 60)
    loop = Loop(interval=0.1)
    try:
        assert loop.step(MODEL) == "elsewhere"
    finally:
        loop.close()
    assert storage.loop.lease(MODEL).owner == "another-loop"  # type: ignore[union-attr]


def test_a_person_pauses_resumes_forces_a_decision_and_rolls_back(
    storage: Storage, registry: Registry, stream: ShiftingStream, capsys: pytest.CaptureFixture[str]
) -> None:
    production = register(registry, stream, "production")
    with pytest.raises(LoopError, match="no challenger to retire: the loop of sim is idle"):
        request(MODEL, "retire", by="ana")
    candidate = register(registry, stream, "challenger", weight=0.5)
    challenge(storage, production, candidate)
    assert cli.main(["loop", "pause", MODEL, "--reason", "quarter close"]) == 0
    loop = Loop(interval=0.1)
    try:
        assert loop.step(MODEL) == "paused"
    finally:
        loop.close()
    resume(MODEL, by="ana")
    assert cli.main(["loop", "decide", MODEL, "promote", "--reason", "looks right"]) == 0
    assert registry.get(MODEL, stage="production").version == candidate
    events = request(MODEL, "rollback", by="ana", reason="complaints")
    assert [e.kind for e in events] == ["requested", "rolled_back"]
    assert registry.get(MODEL, stage="production").version == production
    timeline = storage.loop.events(MODEL)
    assert [e.kind for e in timeline] == ["paused", "resumed", "requested", "decision", "promoted", "requested",
                                          "rolled_back"]
    assert "quarter close" in timeline[0].summary and timeline[1].by == "ana"
    assert timeline[3].evidence["forced"] is True and "looks right" in timeline[3].summary
    assert "production back to v1 (from v2) by ana: complaints" == timeline[-1].summary
    capsys.readouterr()
    assert cli.main(["loop", "status", MODEL]) == 0
    out = capsys.readouterr().out
    assert "state         idle; cooling down until" in out and "rolled_back" in out and "promoted" in out
    pause(MODEL, by="ana")
    assert status(MODEL)[MODEL].state.paused["by"] == "ana"  # type: ignore[index]


def test_loop_magic_shows_the_status_and_pauses(
    storage: Storage, registry: Registry, stream: ShiftingStream, capsys: pytest.CaptureFixture[str]
) -> None:
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    register(registry, stream, "production")
    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "workbench")
        found = shell.run_line_magic("loop", f"{MODEL} --pause --reason freeze -o")
        assert found[MODEL].state.paused["reason"] == "freeze"
        assert "paused by" in capsys.readouterr().out
        assert "<table" in found._repr_html_() and "freeze" in found._repr_html_()
        with pytest.raises(UsageError, match="needs a MODEL"):
            shell.run_line_magic("loop", "--resume")
        with pytest.raises(UsageError, match="choose one of"):
            shell.run_line_magic("loop", f"{MODEL} --pause --resume")
    finally:
        InteractiveShell.clear_instance()


def test_the_dashboard_snapshot_and_metrics_show_the_loop(
    storage: Storage, registry: Registry, stream: ShiftingStream
) -> None:
    from workbench.config import load_settings
    from workbench.dashboard.snapshot import Sources, build_snapshot
    from workbench.serving.loop_metrics import LoopFigures

    production = register(registry, stream, "production")
    candidate = register(registry, stream, "challenger", weight=0.5)
    challenge(storage, production, candidate)
    label(storage, production, "production", pairs(20, 0.9, seed=1), "p")
    label(storage, candidate, "challenger", pairs(20, 0.9, seed=2), "c")
    loop = Loop(interval=0.1)
    try:
        assert loop.step(MODEL) == "collecting"
    finally:
        loop.close()
    pause(MODEL, by="ana")
    sources = Sources(load_settings())
    try:
        entry = build_snapshot(sources)["loop"][MODEL]
    finally:
        sources.close()
    assert entry["phase"] == "challenging" and entry["paused"]["by"] == "ana"
    assert entry["evidence"]["n_challenger"] == 20 and [e["kind"] for e in entry["events"]] == ["paused"]
    figures = LoopFigures()
    try:
        text = "\n".join(figures.lines())
    finally:
        figures.close()
    assert "workbench_loop_up 1" in text
    assert 'workbench_loop_phase{model="sim",phase="challenging"} 1' in text
    assert 'workbench_loop_paused{model="sim"} 1' in text
    assert 'workbench_loop_events_total{model="sim",kind="paused"} 1' in text
    assert 'workbench_loop_ab_labels{model="sim",arm="challenger"} 20' in text
    assert 'workbench_loop_ab_difference{model="sim",metric="f1",bound="low"} -' in text
