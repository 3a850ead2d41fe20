"""The dashboard at scale: ``python -m tests.dashboard.scale [--versions 200] [--runs 10000]``.

Registers ``--versions`` model versions (20 names) and saves ``--runs`` runs through the
local stores' public API (a couple of minutes: every write is fsynced), then prints how
long a snapshot takes to build, how large it is, and how long headless Chromium takes to
show every version and the first page of runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import CHROMIUM_ARGS
from tests.dashboard.conftest import fit_iris, iris_data, login, settings_for, start_dashboard
from workbench.dashboard.snapshot import Sources, build_snapshot
from workbench.registry.api import Registry
from workbench.storage import open_storage
from workbench.storage.run_records import Run

NAMES = 20
START = datetime(2026, 1, 1, tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        home = folder / "wbhome"
        settings = settings_for(home)
        X, y = iris_data()
        models = [fit_iris(C) for C in (0.01, 0.1, 1.0)]
        started = time.monotonic()
        storage = open_storage(settings, url="local")
        registry = Registry(storage.models)
        for index in range(args.versions):
            registry.register(models[index % 3], f"model-{index % NAMES:02d}", eval_data=(X, y))
        for name in registry.store.list_names():
            registry.record_stage(name, registry.store.list_versions(name)[-1].version, "production")
        storage.close()
        with open_storage(settings) as opened:
            runs = opened.runs
            for index in range(args.runs):
                runs.save_run(
                    Run(
                        run_id=f"run-{index:06d}",
                        job=f"job-{index % 7}",
                        notebook="train.ipynb",
                        status="succeeded",
                        started_at=(START + timedelta(minutes=index)).isoformat(timespec="milliseconds"),
                        duration=1.0 + index % 50,
                        parameters={"n": index},
                        metrics={"f1": 0.9},
                    )
                )
        print(f"{args.versions} versions and {args.runs} runs stored in {time.monotonic() - started:.0f} s")
        sources = Sources(settings)
        timings = []
        for _ in range(5):
            started = time.monotonic()
            snapshot = build_snapshot(sources)
            timings.append(time.monotonic() - started)
        sources.close()
        size = len(json.dumps(snapshot)) / 1024
        print(f"snapshot: {min(timings):.3f} to {max(timings):.3f} s to build, {size:.0f} KiB")
        dashboard = start_dashboard(folder, home)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                started = time.monotonic()
                login(page, dashboard)
                page.locator("tr[data-model]").nth(args.versions - 1).wait_for()
                shown = time.monotonic() - started
                rows = page.locator("#runs tr[data-run]").count()
                print(f"page: every version and {rows} runs shown in {shown:.2f} s")
                browser.close()
        finally:
            dashboard.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
