"""workbench in a real JupyterLab, driven in headless Chromium: Run as job, the panel, promotion."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.lab.conftest import Lab, open_lab, wait_for
from workbench.registry.api import Registry
from workbench.storage import open_storage

LONG = 90_000  # ms: a run starts a process, a kernel and scikit-learn on a busy machine


@pytest.fixture(scope="module")
def page(browser: Any, lab: Lab) -> Iterator[Any]:
    """The Lab with train.ipynb open and the workbench panel shown; page errors fail the test."""
    page = open_lab(browser, lab, "train.ipynb")
    page.click(".jp-SideBar .lm-TabBar-tab[data-id='workbench-panel']")
    page.wait_for_selector("#workbench-panel:visible")
    yield page
    assert page.problems == []
    page.context.close()


def fill_form(page: Any, values: dict[str, str]) -> None:
    page.wait_for_selector(".wb-form")
    for name, value in values.items():
        page.fill(f"#wb-param-{name}", value)
    page.click(".jp-Dialog .wb-run-button")


def test_run_as_job_from_the_toolbar_then_promote_from_the_panel(page: Any, lab: Lab) -> None:
    page.click(".wb-toolbar-run")
    assert page.input_value("#wb-param-model") == '"logistic"'  # the current value, as written in the cell
    fill_form(page, {"model": "forest", "n_estimators": "30"})
    run = page.locator(".wb-run:has(.wb-params:text('n_estimators=30'))")
    run.first.wait_for(timeout=LONG)
    run_id = run.first.get_attribute("data-run-id")
    done = page.locator(f".wb-run[data-run-id='{run_id}'][data-status='succeeded']")
    done.wait_for(timeout=LONG)
    assert "precision_macro=" in done.locator(".wb-metrics").inner_text()
    toast = page.locator(".Toastify__toast", has_text=f"Run {run_id} of train succeeded")
    toast.wait_for()

    toast.locator("button", has_text="Open output").click()  # the executed notebook opens in a tab
    page.locator(".lm-TabBar-tab", has_text=f"train-{run_id}.ipynb").wait_for()

    version = str(next(r for r in lab.state()["runs"] if r["run_id"] == run_id)["models"][0]["version"])
    row = page.locator(f".wb-model[data-model='cancer-classifier'] .wb-version[data-version='{version}']")
    assert row.get_attribute("data-stage") == "dev" and "gates passed" in row.locator(".wb-gate").inner_text()
    row.locator(".wb-promote").click()
    production = page.locator(
        f".wb-model[data-model='cancer-classifier'] .wb-version[data-version='{version}'][data-stage='production']"
    )
    production.wait_for(timeout=LONG)
    assert "offline P 0.9" in production.locator(".wb-offline").inner_text()
    if os.environ.get("LAB_SCREENSHOT"):
        page.locator(".Toastify__toast").first.wait_for(state="detached", timeout=20_000)
        page.screenshot(path=os.environ["LAB_SCREENSHOT"])


def test_a_failing_notebook_run_from_the_file_browser_shows_its_reason(page: Any) -> None:
    page.click(".jp-SideBar .lm-TabBar-tab[data-id='filebrowser']")
    page.locator(".jp-DirListing-item", has_text="failing.ipynb").click(button="right")
    page.locator(".lm-Menu-item", has_text="Run as job").click()
    fill_form(page, {"rows": "3"})
    page.click(".jp-SideBar .lm-TabBar-tab[data-id='workbench-panel']")
    failed = page.locator(".wb-run[data-status='failed']", has_text="failing")
    failed.first.wait_for(timeout=LONG)
    reason = failed.first.locator(".wb-reason").inner_text()
    assert reason.startswith("cell_error at cell") and "ValueError: the source table has only 3 rows" in reason
    page.locator(".Toastify__toast", has_text="failed (cell_error)").first.wait_for()


def test_bad_parameters_are_shown_in_the_form_and_nothing_runs(page: Any, lab: Lab) -> None:
    before = len(lab.state()["runs"])
    page.keyboard.press("Control+Shift+C")  # the command palette
    page.fill(".lm-CommandPalette-input", "Run as job")
    page.locator(".lm-CommandPalette-item", has_text="Run as job").first.click()
    fill_form(page, {"C": "nan"})  # read as papermill's -p reads it: a float no literal can carry into the notebook
    error = page.locator(".wb-form-error")
    error.wait_for()
    assert "parameter C is nan, which cannot be injected as a literal" in error.inner_text()
    assert page.input_value("#wb-param-C") == "nan"  # the form comes back with what was typed
    page.click(".jp-Dialog .jp-mod-reject")
    assert len(lab.state()["runs"]) == before


def test_a_refused_promotion_shows_the_gate_report(page: Any, lab: Lab) -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    model = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X_train, y_train)
    with open_storage(lab.settings) as storage:
        version = Registry(storage.models).register(model, "strict-classifier", eval_data=(X_test, y_test)).version
    row = page.locator(f".wb-model[data-model='strict-classifier'] .wb-version[data-version='{version}']")
    row.wait_for(timeout=LONG)
    row.locator(".wb-promote").click()
    report = page.locator(".jp-Dialog .wb-gate-report")
    report.wait_for(timeout=LONG)
    text = report.inner_text()
    assert "was not promoted to production" in text and "0.9999" in text
    page.click(".jp-Dialog .jp-mod-accept")
    assert row.get_attribute("data-stage") == "dev"


def test_the_panel_follows_a_run_started_from_a_terminal(page: Any, lab: Lab) -> None:
    run_id = "terminal-run-1"
    command = [sys.executable, "-m", "workbench.cli", "run", "slow.ipynb", "-p", "seconds", "3", "--run-id", run_id]
    process = subprocess.Popen(command, cwd=lab.folder, env=lab.env, stdout=subprocess.DEVNULL)
    try:
        page.locator(f".wb-run[data-run-id='{run_id}'][data-status='running']").wait_for(timeout=LONG)
        page.locator(f".wb-run[data-run-id='{run_id}'][data-status='succeeded']").wait_for(timeout=LONG)
    finally:
        assert process.wait(timeout=60) == 0


def test_the_dashboard_opens_in_a_tab(page: Any) -> None:
    page.click(".wb-open-dashboard")
    frame = page.frame_locator("#workbench-dashboard iframe")
    frame.locator("#status[data-state='live']").wait_for(timeout=30_000)
    wait_for(lambda: page.locator(".lm-TabBar-tab", has_text="workbench dashboard").count() == 1, "the tab")


def test_cancel_pause_and_remove_from_the_panel(page: Any, lab: Lab) -> None:
    run_id = lab.post("runs", {"path": "slow.ipynb"}).json()["run_id"]
    running = page.locator(f".wb-run[data-run-id='{run_id}'][data-status='running']")
    running.wait_for(timeout=LONG)
    running.locator(".wb-cancel").click()
    # the interrupted runner records its own end first; the cancel's record follows
    cancelled = page.locator(f".wb-run[data-run-id='{run_id}'][data-status='failed'] .wb-reason", has_text="cancelled")
    cancelled.wait_for(timeout=LONG)
    assert cancelled.inner_text() == "cancelled: cancelled from JupyterLab"

    lab.post("runs", {"path": "failing.ipynb", "name": "hourly-check", "cron": "0 * * * *"})
    schedule = page.locator(".wb-schedule[data-schedule='hourly-check']")
    schedule.wait_for()
    assert ":00" in schedule.locator(".wb-next").inner_text()
    schedule.locator(".wb-pause").click()
    page.locator(".wb-schedule[data-schedule='hourly-check'] .wb-status-paused").wait_for()
    assert "next: paused" in schedule.locator(".wb-next").inner_text()
    schedule.locator(".wb-resume").click()
    page.locator(".wb-schedule[data-schedule='hourly-check'] .wb-pause").wait_for()
    schedule.locator(".wb-remove").click()
    schedule.wait_for(state="detached")
