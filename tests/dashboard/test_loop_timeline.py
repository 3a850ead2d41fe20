"""Each model's loop on the dashboard, in a real browser: its state, the A/B interval and its timeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.dashboard.conftest import XSS_TAG, fit_iris, iris_data, login, settings_for, start_dashboard
from tests.stages import in_production
from workbench.registry.api import Registry
from workbench.storage import open_storage
from workbench.storage.loop_records import LoopEvent


def _record_a_loop(home: Path) -> None:
    with open_storage(settings_for(home)) as storage:
        registry = Registry(storage.models)
        X, y = iris_data()
        in_production(registry, registry.register(fit_iris(1.0), "iris", eval_data=(X, y)))
        evidence = {
            "metric": "f1", "confidence": 0.95, "verdict": "undecided", "n_production": 120, "n_challenger": 80,
            "production": {"estimate": 0.81, "low": 0.7, "high": 0.9},
            "challenger": {"estimate": 0.86, "low": 0.72, "high": 0.95},
            "difference": {"estimate": 0.05, "low": -0.18, "high": 0.25},
        }
        state = storage.loop.state("iris").evolve(
            phase="challenging",
            challenger={"version": 2, "production": 1, "since": 0, "since_at": "", "weight": 0.25},
            evidence=evidence,
            last_trigger={"at": "2026-01-02T03:04:05+00:00", "summary": "new data: iris@abc"},
        )
        events = [
            LoopEvent("iris", "trigger", "new data: iris@abc", at="2026-01-02T03:04:05.000+00:00"),
            LoopEvent("iris", "retrain", f"training job of train.ipynb {XSS_TAG}", at="2026-01-02T03:04:06.000+00:00"),
            LoopEvent("iris", "gate", "v2: acceptance gates passed", at="2026-01-02T03:05:00.000+00:00"),
            LoopEvent("iris", "challenger", "v2 answers 25% of traffic", at="2026-01-02T03:05:01.000+00:00"),
        ]
        storage.loop.commit(state, events)


def test_the_page_shows_each_models_loop_and_its_timeline_as_text(tmp_path: Path, page: Any) -> None:
    home = tmp_path / "wbhome"
    _record_a_loop(home)
    dashboard = start_dashboard(tmp_path, home)
    try:
        login(page, dashboard)
        loop = page.locator("section[data-model='iris'] .loop")
        loop.wait_for(timeout=10_000)
        phase = loop.locator("[data-field='loop_phase']").inner_text()
        assert phase == "challenging (v2 against production v1, 25% of traffic)"
        ab = loop.locator("[data-field='loop_ab']").inner_text()
        assert "challenger 0.860 [0.720, 0.950] on 80 labels" in ab and "→ undecided" in ab
        items = loop.locator("ol.timeline li")
        assert items.evaluate_all("rows => rows.map(r => r.dataset.kind)") == [
            "challenger", "gate", "retrain", "trigger"]  # newest first
        assert XSS_TAG in items.nth(2).inner_text()  # shown as text, never parsed
        assert page.evaluate("window.__pwned") is None
        assert loop.locator("svg circle").count() == 4
        assert page.problems == []
    finally:
        dashboard.stop()
