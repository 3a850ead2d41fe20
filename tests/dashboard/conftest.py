"""Real dashboards for the dashboard tests: ``workbench dashboard`` in a subprocess, headless Chromium."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server_process import RunningServer, launch
from tests.stages import in_production
from workbench.config import Settings, load_settings
from workbench.registry.api import Registry
from workbench.storage import open_storage
from workbench.storage.run_records import Run
from workbench.storage.schedule_records import Schedule

TOKEN = "dashboard-test-token-7d2e"
_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+/)")
_GENERATED = re.compile(r"open http://\S+\?token=(\S+) ")

XSS_TAG = "<img src=x onerror=\"window.__pwned='tag'\">"
XSS_PARAMETER = "</td><script>window.__pwned='parameter'</script>"
XSS_METRIC = "<svg onload=\"window.__pwned='metric'\"></svg>"


def iris_data() -> tuple[Any, Any]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return X, y


def fit_iris(C: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    X, y = iris_data()
    return LogisticRegression(C=C, max_iter=2000).fit(X, y)


def settings_for(home: Path, store: str | None = None) -> Settings:
    return load_settings(home=home, store=store, cwd=home.parent, environ={})


def populate(settings: Settings) -> None:
    """Two models, a gate result, three runs (one with an output notebook) and a schedule."""
    storage = open_storage(settings, url=settings.store)
    store = storage.models
    registry = Registry(store)
    try:
        X, y = iris_data()
        registry.register(fit_iris(0.01), "iris", eval_data=(X, y), tags={"owner": XSS_TAG})
        in_production(registry, registry.register(fit_iris(1.0), "iris", eval_data=(X, y), tags={"team": "risk"}))
        store.add_gate_result(
            "iris",
            2,
            {"model": "iris", "version": 2, "passed": True, "at": "2026-01-02T03:04:05+00:00", "trigger": "api"},
        )
        registry.register(fit_iris(0.1), "churn-model", eval_data=(X, y), stage="staging")
    finally:
        storage.close()
    with open_storage(settings) as opened:
        runs = opened.runs
        for index in range(3):
            run = Run(
                run_id=f"run-{index}",
                job="train",
                notebook="train.ipynb",
                status="succeeded" if index else "failed",
                reason=None if index else "cell_error",
                started_at=f"2026-01-0{index + 1}T10:00:00.000+00:00",
                ended_at=f"2026-01-0{index + 1}T10:01:00.000+00:00",
                duration=60.0 + index,
                parameters={"n_estimators": 100 * (index + 1), "note": XSS_PARAMETER},
                metrics={"f1": 0.9 + index / 100, XSS_METRIC: 1},
            )
            if index == 2:
                run.output = str(runs.run_dir(run.run_id) / "output.ipynb")
                runs.save_output(run.run_id, notebook_bytes(run.run_id))
            runs.save_run(run)
        runs.save_schedule(Schedule(name="nightly", notebook="train.ipynb", cron="0 2 * * *", parameters={"a": 1}))


def notebook_bytes(run_id: str) -> bytes:
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"run": run_id})
    return nbformat.writes(nb).encode()


@dataclass
class Dashboard(RunningServer):
    """A running ``workbench dashboard`` and an httpx client bound to it (without credentials)."""

    token: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def state(self) -> dict[str, Any]:
        response = self.client.get("api/snapshot", headers=self.auth)
        response.raise_for_status()
        state: dict[str, Any] = json.loads(response.content)
        return state


def start_dashboard(
    folder: Path, home: Path, args: Sequence[str] = (), env: dict[str, str] | None = None, token: str | None = TOKEN
) -> Dashboard:
    """Start ``workbench dashboard --port 0``; return once its first snapshot answers.

    ``token=None`` lets the dashboard generate one, read from the address it prints.
    """
    command = ["dashboard", "--port", "0", "--poll", "0.5", *args]
    running = launch(folder, home, command, {**({"WORKBENCH_TOKEN": token} if token else {}), **(env or {})})

    def address(printed: str) -> tuple[str, str] | None:
        found, generated = _LISTENING.search(printed), _GENERATED.search(printed)
        if found and (token or generated):
            return found.group(1), token or (generated.group(1) if generated else "")
        return None

    url, secret = running.printed(address, "workbench dashboard did not start")
    dashboard = Dashboard(url, running, httpx.Client(base_url=url, timeout=30.0), secret)
    running.answers(dashboard.client, "api/snapshot", dashboard.auth, "workbench dashboard never answered")
    return dashboard


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workbench home with :func:`populate`'s models, runs and schedule, for a module's read-only tests."""
    home = tmp_path_factory.mktemp("dashboard") / "wbhome"
    populate(settings_for(home))
    return home


@pytest.fixture(scope="module")
def shared_dashboard(shared_home: Path) -> Iterator[Dashboard]:
    dashboard = start_dashboard(shared_home.parent, shared_home)
    yield dashboard
    dashboard.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookie) and page; script errors and dialogs fail the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.problems = problems
    yield page
    context.close()


def login(page: Any, dashboard: Dashboard) -> None:
    """Open the dashboard with ``?token=`` once, as a user would; wait for the first state."""
    page.goto(f"{dashboard.url}?token={dashboard.token}")
    page.wait_for_selector("#status[data-state='live'], #status[data-state='stale']", timeout=10_000)
