"""``workbench serve --workers N``: several real server processes on one port, supervised."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.serving.conftest import Server, register_iris, start_server
from workbench import cli
from workbench.registry.api import default_registry

ROW = {"instances": [[5.9, 3.0, 5.1, 1.8]]}


def pids_seen(server: Server, wanted: int, deadline: float, exclude: frozenset[int] = frozenset()) -> set[int]:
    """Worker pids answering ``/healthz`` on fresh connections, until ``wanted`` of them (not in ``exclude``)."""
    seen: set[int] = set()
    while len(seen - exclude) < wanted and time.monotonic() < deadline:
        try:
            with httpx.Client(base_url=server.url, timeout=10.0) as client:  # a new connection each time
                seen.add(client.get("/healthz").json()["pid"])
                assert client.post("/v1/models/iris/predict", json=ROW).json()["predictions"] == [2]
        except httpx.TransportError:
            pass  # a worker that was just killed drops its connections
        time.sleep(0.02)
    return seen


def test_two_workers_answer_and_a_killed_one_is_replaced(tmp_path: Path, isolated_environment: Path) -> None:
    register_iris(default_registry())
    server = start_server(tmp_path, isolated_environment, ["--workers", "2"])
    try:
        assert "2 workers" in server.stdout.read_text()
        first = pids_seen(server, 2, time.monotonic() + 90)
        assert len(first) == 2 and server.process.pid not in first, server.output()
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        after = pids_seen(server, 2, time.monotonic() + 90, exclude=frozenset({victim}))
        assert len(after - {victim}) == 2, server.output()
        assert server.process.poll() is None
    finally:
        server.stop()
    assert server.process.returncode == 0, server.output()


def test_workers_flags_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    register_iris(default_registry())
    assert cli.main(["serve", "--port", "0", "--workers", "0"]) == 1
    assert "--workers must be at least 1" in capsys.readouterr().err
    assert cli.main(["serve", "--port", "0", "--workers", "2", "--thrift-port", "0"]) == 1
    assert "--thrift-port needs --workers 1" in capsys.readouterr().err
    assert cli.main(["serve", "--port", "0", "--workers", "2", "--models", "nope"]) == 1
    assert "nope" in capsys.readouterr().err
