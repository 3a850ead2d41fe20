"""The dashboard as a user meets it: a real server process, real stores, a real headless Chromium."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import (
    TOKEN,
    XSS_METRIC,
    XSS_PARAMETER,
    XSS_TAG,
    Dashboard,
    fit_iris,
    iris_data,
    login,
    notebook_bytes,
    populate,
    settings_for,
    start_dashboard,
)
from workbench.registry.api import Registry
from workbench.storage import open_storage
from workbench.storage.run_records import Run

pytestmark = pytest.mark.timeout(120)

ROUTES = ["", "static/dashboard.js", "api/snapshot", "api/runs", "api/runs/run-2/output", "api/events"]


def _row(page: Any, model: str, version: int) -> Any:
    return page.locator(f"tr[data-model='{model}'][data-version='{version}']")


def test_the_page_shows_every_version_with_its_registered_numbers(
    shared_dashboard: Dashboard, shared_home: Path, page: Any
) -> None:
    login(page, shared_dashboard)
    assert page.url == shared_dashboard.url, "the token must leave the address bar"
    storage = open_storage(settings_for(shared_home), url="local")
    store = storage.models
    try:
        versions = {(v.name, v.version): v for name in store.list_names() for v in store.list_versions(name)}
    finally:
        storage.close()
    assert set(versions) == {("iris", 1), ("iris", 2), ("churn-model", 1)}
    for (name, number), version in versions.items():
        row = _row(page, name, number)
        assert row.locator("[data-field='stage']").text_content() == version.stage
        for field, metric in (("precision", "precision_macro"), ("recall", "recall_macro"), ("f1", "f1_macro")):
            cell = row.locator(f"[data-field='{field}']")
            assert cell.text_content() == f"{version.metrics[metric]:.3f}"
            assert float(cell.get_attribute("data-value")) == version.metrics[metric]
        assert row.locator("[data-field='live_precision']").text_content() == "no live data"
    assert _row(page, "iris", 2).locator("[data-field='gate']").get_attribute("data-value") == "passed"
    assert _row(page, "iris", 1).locator("[data-field='gate']").text_content() == "—"
    # versions by stage: production first
    stages = page.locator("section[data-model='iris'] tr[data-version] [data-field='stage']").all_text_contents()
    assert stages == ["production", "dev"]
    assert page.locator("section[data-model='iris'] figure svg path[data-kind='offline']").count() == 4
    assert page.locator("#scatter circle[data-kind='offline']").count() == 3
    # precision and recall say which they are, as %dashboard, the gates and /metrics do
    headers = page.locator("section[data-model='iris'] th").all_text_contents()
    assert {"Precision (macro)", "Recall (macro)", "Live precision (macro)", "Live recall (macro)"} <= set(headers)
    assert page.locator("#scatter text.label").all_text_contents() == ["recall (macro)", "precision (macro)"]
    runs = page.locator("#runs-first tr[data-run]")
    assert runs.locator("[data-field='run']").all_text_contents() == ["run-2", "run-1", "run-0"]
    assert runs.first.locator("[data-field='duration']").text_content() == "1 min 2 s"
    assert page.locator("tr[data-run='run-0'] [data-field='status']").text_content() == "failed (cell_error)"
    assert page.locator("tr[data-schedule='nightly'] [data-field='next_run']").text_content().endswith("02:00:00")
    assert page.problems == []


def test_the_output_notebook_downloads_from_its_link(shared_dashboard: Dashboard, page: Any) -> None:
    login(page, shared_dashboard)
    assert page.locator("tr[data-run='run-1'] [data-field='output'] a").count() == 0
    with page.expect_download() as download_info:
        page.locator("tr[data-run='run-2'] [data-field='output'] a").click()
    download = download_info.value
    assert download.suggested_filename == "run-2.ipynb"
    assert Path(download.path()).read_bytes() == notebook_bytes("run-2")


def test_html_in_tags_parameters_and_metrics_is_shown_as_text_and_never_runs(
    shared_dashboard: Dashboard, page: Any
) -> None:
    login(page, shared_dashboard)
    assert _row(page, "iris", 1).locator("[data-field='tags']").text_content() == f"owner={XSS_TAG}"
    assert XSS_PARAMETER in page.locator("tr[data-run='run-0'] [data-field='parameters']").text_content()
    assert XSS_METRIC in page.locator("tr[data-run='run-0'] [data-field='metrics']").text_content()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main img, main script, td svg").count() == 0
    assert page.problems == []


def test_model_names_cannot_carry_markup() -> None:
    from workbench.errors import InvalidNameError

    storage = open_storage(settings_for(Path.cwd() / "home"), url="memory")
    store = storage.models
    with pytest.raises(InvalidNameError):
        Registry(store).register(fit_iris(1.0), "<script>alert(1)</script>")


def test_every_route_and_the_live_channel_refuse_a_missing_or_wrong_token(shared_dashboard: Dashboard) -> None:
    client = shared_dashboard.client
    port = httpx.URL(shared_dashboard.url).port
    for route in ROUTES:
        assert client.get(route).status_code == 401, route
        assert client.get(route, headers={"Authorization": "Bearer wrong"}).status_code == 401, route
        assert client.get(route, headers={"Cookie": f"workbench-dashboard-{port}=wrong"}).status_code == 401, route
        assert client.post(route).status_code == 401, route
    refused = client.get("api/snapshot?token=wrong")
    assert refused.status_code == 401 and "set-cookie" not in refused.headers
    foreign_origin = {**shared_dashboard.auth, "Origin": "http://evil.example"}
    assert client.get("api/events", headers=foreign_origin).status_code == 403
    assert client.get("api/snapshot", headers={**shared_dashboard.auth, "Host": "evil.example"}).status_code == 403
    with client.stream(
        "GET", "api/events", headers={**shared_dashboard.auth, "Origin": shared_dashboard.url[:-1]}
    ) as ok:
        assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/event-stream")


def test_the_token_in_the_url_becomes_a_strict_http_only_cookie(shared_dashboard: Dashboard) -> None:
    with httpx.Client(base_url=shared_dashboard.url) as fresh:
        response = fresh.get(f"?token={TOKEN}&view=runs")
    assert response.status_code == 303
    assert response.headers["location"] == "/?view=runs"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    port = httpx.URL(shared_dashboard.url).port
    with_cookie = shared_dashboard.client.get("", headers={"Cookie": f"workbench-dashboard-{port}={TOKEN}"})
    assert with_cookie.status_code == 200
    policy = with_cookie.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert b"<script src=" in with_cookie.content and b"<script>" not in with_cookie.content


def test_runs_are_paginated_server_side(tmp_path: Path, page: Any) -> None:
    home = tmp_path / "many"
    with open_storage(settings_for(home)) as opened:
        runs = opened.runs
        for index in range(120):
            runs.save_run(
                Run(
                    run_id=f"r{index:04d}",
                    job="score",
                    notebook="score.ipynb",
                    status="succeeded",
                    started_at=f"2026-02-01T00:{index // 60:02d}:{index % 60:02d}.000+00:00",
                )
            )
    dashboard = start_dashboard(tmp_path, home)
    try:
        first = dashboard.state()["data"]["runs"]
        assert (len(first["items"]), first["more"], first["items"][0]["run_id"]) == (50, True, "r0119")
        last = dashboard.client.get("api/runs?offset=100&limit=50", headers=dashboard.auth).json()
        assert (len(last["items"]), last["more"], last["items"][-1]["run_id"]) == (20, False, "r0000")
        assert dashboard.client.get("api/runs?limit=100000", headers=dashboard.auth).status_code == 422
        login(page, dashboard)
        assert page.locator("#runs tr[data-run]").count() == 50
        page.click("#more-runs")
        expect(page.locator("#runs tr[data-run]")).to_have_count(100)
        page.click("#more-runs")
        expect(page.locator("#runs tr[data-run]")).to_have_count(120)
        assert page.locator("#more-runs").is_hidden()
    finally:
        dashboard.stop()


def test_promotion_and_registration_show_within_two_seconds(tmp_path: Path, shared_home: Path, page: Any) -> None:
    home = tmp_path / "wbhome"
    shutil.copytree(shared_home, home)
    dashboard = start_dashboard(tmp_path, home)
    storage = open_storage(settings_for(home), url="local")
    store = storage.models
    try:
        login(page, dashboard)
        registry = Registry(store)
        fingerprint = page.evaluate("document.body.dataset.fingerprint")
        registry.record_stage("iris", 1, "staging")
        started = time.monotonic()
        expect(_row(page, "iris", 1).locator("[data-field='stage']")).to_have_text("staging", timeout=2000)
        promoted_after = time.monotonic() - started
        assert page.evaluate("document.body.dataset.fingerprint") != fingerprint
        X, y = iris_data()
        registry.register(fit_iris(3.0), "iris", eval_data=(X, y))
        started = time.monotonic()
        _row(page, "iris", 3).wait_for(timeout=2000)
        registered_after = time.monotonic() - started
        with open_storage(settings_for(home)) as opened:
            runs = opened.runs
            run = Run(run_id="run-live", job="train", notebook="train.ipynb", started_at="2026-03-01T00:00:00+00:00")
            runs.save_run(run)
            status = page.locator("tr[data-run='run-live'] [data-field='status']")
            expect(status).to_have_text("running", timeout=2000)
            run.status, run.duration = "succeeded", 12.5
            runs.save_run(run)
            started = time.monotonic()
            expect(status).to_have_text("succeeded", timeout=2000)
            ended_after = time.monotonic() - started
        assert page.locator("tr[data-run='run-live'] [data-field='duration']").text_content() == "12.5 s"
        print(
            f"promotion shown after {promoted_after:.2f} s, registration after {registered_after:.2f} s, "
            f"end of a run after {ended_after:.2f} s"
        )
        assert page.locator("section[data-model='iris'] tr[data-version] [data-field='stage']").all_text_contents() == [
            "production",
            "staging",
            "dev",
        ]
    finally:
        storage.close()
        dashboard.stop()


def test_a_stopped_store_shows_stale_data_never_zeros(tmp_path: Path, page: Any) -> None:
    from tests.redis_server import start_redis

    redis = start_redis(tmp_path / "redis")
    url = redis.url(prefix="dash", timeout=1.0)
    home = tmp_path / "wbhome"
    try:
        populate(settings_for(home, url))
        dashboard = start_dashboard(tmp_path, home, env={"WORKBENCH_STORE": url})
        try:
            login(page, dashboard)
            precision = _row(page, "iris", 2).locator("[data-field='precision']").text_content()
            assert page.locator("#status").get_attribute("data-state") == "live"
            redis.stop()
            stopped = time.monotonic()
            page.wait_for_selector("#status[data-state='stale']", timeout=10_000)
            print(f"stale shown {time.monotonic() - stopped:.2f} s after the store stopped")
            assert "stale since" in page.locator("#status").text_content()
            assert _row(page, "iris", 2).locator("[data-field='precision']").text_content() == precision
            assert dashboard.state()["status"] == "stale"
            redis.start()
            page.wait_for_selector("#status[data-state='live']", timeout=10_000)
            assert _row(page, "iris", 2).locator("[data-field='precision']").text_content() == precision
        finally:
            dashboard.stop()
    finally:
        redis.stop()


def test_a_screenshot_of_the_page_is_saved(shared_dashboard: Dashboard, page: Any, tmp_path: Path) -> None:
    login(page, shared_dashboard)
    backgrounds = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        target = tmp_path / f"dashboard-{scheme}.png"
        page.screenshot(path=str(target), full_page=True)
        assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 10_000
        backgrounds[scheme] = page.evaluate("getComputedStyle(document.body).backgroundColor")
    print(f"screenshots in {tmp_path}")
    assert backgrounds == {"light": "rgb(255, 255, 255)", "dark": "rgb(15, 20, 25)"}


def test_the_live_channel_sends_the_state_only_to_a_browser_that_lacks_it(shared_dashboard: Dashboard) -> None:
    fingerprint = shared_dashboard.state()["fingerprint"]

    def lines(headers: dict[str, str]) -> list[str]:
        seen: list[str] = []
        timeout = httpx.Timeout(30.0, read=1.5)
        with shared_dashboard.client.stream("GET", "api/events", headers=headers, timeout=timeout) as stream:
            try:
                for line in stream.iter_lines():
                    seen.append(line)
                    if line.startswith("data: "):
                        break
            except httpx.ReadTimeout:
                pass
        return seen

    fresh = lines(shared_dashboard.auth)
    assert fresh[:4] == ["retry: 1000", "", f"id: {fingerprint}", "event: state"]
    assert fresh[4].startswith("data: {") and f'"fingerprint": "{fingerprint}"' in fresh[4]
    assert lines({**shared_dashboard.auth, "Last-Event-ID": fingerprint}) == ["retry: 1000", ""]
