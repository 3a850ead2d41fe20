"""``workbench dashboard``: flags reach the API; a generated token is printed once and opens the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.conftest import TOKEN, start_dashboard
from workbench import cli


def test_every_flag_reaches_run_dashboard(monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.dashboard import server

    seen: dict[str, Any] = {}
    monkeypatch.setattr(server, "run_dashboard", lambda *args, **kwargs: seen.update(args=args, kwargs=kwargs))
    assert cli.main(["dashboard", "--host", "::1", "--port", "9002", "--token", "T", "--poll", "2.5"]) == 0
    assert seen == {"args": ("::1", 9002), "kwargs": {"token": "T", "poll": 2.5}}
    assert cli.main(["dashboard"]) == 0
    assert seen == {"args": ("127.0.0.1", 8050), "kwargs": {"token": None, "poll": 1.0}}


def test_a_poll_interval_out_of_range_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["dashboard", "--port", "0", "--poll", "0"]) == 1
    assert "--poll must be between" in capsys.readouterr().err


def test_a_generated_token_is_printed_once_and_opens_the_page(tmp_path: Path) -> None:
    dashboard = start_dashboard(tmp_path, tmp_path / "wbhome", token=None)
    try:
        assert len(dashboard.token) >= 32 and dashboard.token != TOKEN
        assert dashboard.client.get("api/snapshot").status_code == 401
        opened = dashboard.client.get(f"?token={dashboard.token}")
        assert opened.status_code == 303 and opened.headers["location"] == "/"
        cookie = opened.headers["set-cookie"].split(";", 1)[0]
        assert dashboard.client.get("", headers={"Cookie": cookie}).status_code == 200
    finally:
        dashboard.stop()
    assert dashboard.stdout.read_text().count(dashboard.token) == 1
    assert dashboard.token not in dashboard.stderr.read_text()
