"""Make the README's picture of the dashboard from a realistic project: ``python -m tests.dashboard.screenshot PNG``.

Real components throughout: models registered with their evaluation data, promotions
through the acceptance gates declared in a ``pyproject.toml``, predictions and feedback
through a running ``workbench serve`` (some rows shifted so drift shows), then the
dashboard in headless Chromium.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.conftest import CHROMIUM_ARGS
from tests.dashboard.conftest import login, start_dashboard
from tests.serving.conftest import TOKEN as SERVE_TOKEN
from tests.serving.conftest import start_server
from workbench.config import load_settings
from workbench.registry.api import Registry
from workbench.storage import open_storage
from workbench.storage.run_records import Run
from workbench.storage.schedule_records import Schedule

PYPROJECT = """
[tool.workbench.acceptance.cancer-classifier]
holdout = "sklearn:breast_cancer"
test_size = 0.25
precision = 0.9
recall = 0.9
"""


def _project(folder: Path) -> None:
    """Register, gate and promote two models; record runs and schedules."""
    from sklearn.datasets import load_breast_cancer, load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    settings = load_settings(cwd=folder)
    storage = open_storage(settings, url=settings.store)
    registry = Registry(storage.models)
    try:
        X, y = load_breast_cancer(return_X_y=True, as_frame=True)
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
        candidates = [
            LogisticRegression(C=0.001, max_iter=5000),
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
            RandomForestClassifier(n_estimators=200, random_state=0),
            make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000)),
        ]
        for model in candidates:
            registry.register(model.fit(X_train, y_train), "cancer-classifier", eval_data=(X_test, y_test))
        registry.record_stage("cancer-classifier", 2, "production")
        registry.record_stage("cancer-classifier", 3, "production")
        registry.record_stage("cancer-classifier", 4, "staging")
        Xi, yi = load_iris(return_X_y=True)
        for C in (0.05, 1.0):
            registry.register(
                LogisticRegression(C=C, max_iter=2000).fit(Xi, yi), "iris", eval_data=(Xi, yi), tags={"team": "demo"}
            )
        registry.record_stage("iris", 2, "production")
    finally:
        storage.close()
    with open_storage(settings) as opened:
        runs = opened.runs
        for index in range(12):
            failed = index % 5 == 3
            run_id = f"train-202601{index + 1:02d}-0200"
            if not failed:
                runs.save_output(run_id, b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
            runs.save_run(
                Run(
                    run_id=run_id,
                    output=None if failed else str(runs.run_dir(run_id) / "output.ipynb"),
                    job="train",
                    notebook="notebooks/train.ipynb",
                    status="failed" if failed else "succeeded",
                    reason="cell_error" if failed else None,
                    started_at=f"2026-01-{index + 1:02d}T02:00:00.000+00:00",
                    duration=74.0 + 3.5 * index,
                    parameters={"model": "forest" if index % 2 else "logistic", "n_estimators": 100 + 20 * index},
                    metrics=(
                        {} if failed else {"precision_macro": 0.95 + index / 400, "recall_macro": 0.96 + index / 500}
                    ),
                )
            )
        runs.save_schedule(Schedule(name="nightly-train", notebook="notebooks/train.ipynb", cron="0 2 * * *"))
        runs.save_schedule(Schedule(name="weekly-report", notebook="notebooks/report.ipynb", cron="0 6 * * 1"))


def _traffic(server: Any) -> None:
    """Predictions with feedback for both production models; the cancer inputs drift on two features."""
    from sklearn.datasets import load_breast_cancer, load_iris

    X, y = load_breast_cancer(return_X_y=True)
    shifted = X[:300].copy()
    shifted[:, 0] *= 1.6
    shifted[:, 22] *= 1.5
    for name, rows, labels in (("cancer-classifier", shifted, y[:300]), ("iris", *load_iris(return_X_y=True))):
        answer = server.client.post(f"/v1/models/{name}/predict", json={"instances": rows.tolist()}).json()
        server.client.post(
            f"/v1/models/{name}/feedback",
            json={"request_ids": answer["request_ids"], "labels": [int(v) for v in labels]},
            headers={"Authorization": f"Bearer {SERVE_TOKEN}"},
        ).raise_for_status()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("png", type=Path)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    target = args.png.resolve()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "pyproject.toml").write_text(PYPROJECT)
        home = folder / ".workbench"
        os.environ["WORKBENCH_HOME"] = str(home)
        os.chdir(folder)
        _project(folder)
        server = start_server(folder, home)
        try:
            _traffic(server)
            dashboard = start_dashboard(folder, home)
            try:
                with sync_playwright() as playwright:
                    browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                    page = browser.new_page(viewport={"width": 1400, "height": 900}, color_scheme="light")
                    login(page, dashboard)
                    page.wait_for_selector("tr[data-model='iris'] [data-field='live_precision'][data-value]")
                    page.wait_for_selector("[data-field='drift'] li.warn", timeout=10_000)
                    page.screenshot(path=str(target), full_page=True)
                    browser.close()
            finally:
                dashboard.stop()
        finally:
            server.stop()
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
