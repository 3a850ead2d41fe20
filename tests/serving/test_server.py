"""``workbench serve`` as a real process: hot promotion under load, the token, the flags."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import workbench as wb
from tests.serving.conftest import TOKEN, register_iris, start_server
from workbench import cli
from workbench.registry.api import default_registry
from workbench.serving.limits import ConnectionLimits

ROW = {"instances": [[5.9, 3.0, 5.1, 1.8]]}


def test_a_promotion_under_load_loses_no_request(tmp_path: Path, isolated_environment: Path) -> None:
    register_iris(default_registry())
    candidate = register_iris(default_registry(), C=0.05, stage="staging")
    server = start_server(tmp_path, isolated_environment, ["--reload-seconds", "0.2"])
    answers: list[tuple[int, Any]] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            while not stop.is_set():
                response = client.post("/v1/models/iris/predict", json=ROW)
                answers.append((response.status_code, response.json().get("version")))

    workers = [threading.Thread(target=load) for _ in range(4)]
    try:
        for worker in workers:
            worker.start()
        while len(answers) < 20 and all(w.is_alive() for w in workers):
            time.sleep(0.01)
        wb.promote("iris", candidate, "production")
        deadline = time.monotonic() + 60
        while not any(version == candidate for _, version in answers[-50:]):
            assert time.monotonic() < deadline, "the promotion was never picked up"
            assert all(w.is_alive() for w in workers), server.output()
            time.sleep(0.05)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
        after = [server.client.post("/v1/models/iris/predict", json=ROW).json()["version"] for _ in range(20)]
        server.stop()
    assert all(status == 200 for status, _ in answers), {s for s, _ in answers}
    assert {version for _, version in answers} == {1, candidate}
    assert after == [candidate] * 20


def test_a_generated_token_is_printed_once_and_guards_feedback(tmp_path: Path, isolated_environment: Path) -> None:
    register_iris(default_registry())
    server = start_server(tmp_path, isolated_environment, env={"WORKBENCH_TOKEN": ""})
    try:
        lines = [line for line in server.stdout.read_text().splitlines() if "token" in line]
        assert len(lines) == 1
        token = lines[0].rsplit(" ", 1)[1]
        assert len(token) >= 32 and token != TOKEN
        answered = server.client.post("/v1/models/iris/predict", json=ROW).json()
        body = {"request_ids": answered["request_ids"], "labels": [2]}
        assert server.client.post("/v1/models/iris/feedback", json=body).status_code == 401
        accepted = server.client.post(
            "/v1/models/iris/feedback", json=body, headers={"authorization": f"Bearer {token}"}
        )
        assert accepted.json() == {"accepted": 1, "unknown": 0, "duplicate": 0}
        assert 'workbench_feedback_total{model="iris",result="accepted"} 1' in server.client.get("/metrics").text
    finally:
        server.stop()
    assert token not in server.stderr.read_text()
    assert server.stdout.read_text().count(token) == 1


def test_every_flag_reaches_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.serving import server

    seen: dict[str, Any] = {}
    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: seen.update(args=args, kwargs=kwargs))
    argv = [
        "serve",
        "--host",
        "::1",
        "--port",
        "9001",
        "--models",
        "a, b",
        "--token",
        "T",
        "--max-body",
        "10",
        "--max-rows",
        "3",
        "--reload-seconds",
        "0.5",
        "--thrift-port",
        "9091",
        "--workers",
        "3",
        "--max-header-bytes",
        "4096",
        "--max-headers",
        "20",
        "--header-timeout",
        "3",
        "--body-timeout",
        "4",
        "--keep-alive-timeout",
        "6",
        "--replica-name",
        "eu-1",
    ]
    assert cli.main(argv) == 0
    assert seen == {
        "args": ("::1", 9001),
        "kwargs": {
            "models": ["a", "b"],
            "token": "T",
            "max_body": 10,
            "max_rows": 3,
            "reload_seconds": 0.5,
            "thrift_port": 9091,
            "workers": 3,
            "limits": ConnectionLimits(
                max_header_bytes=4096, max_headers=20, header_timeout=3, body_timeout=4, keep_alive_timeout=6
            ),
            "replica_name": "eu-1",
        },
    }
    assert cli.main(["serve"]) == 0
    assert seen["args"] == ("127.0.0.1", 8000)
    assert seen["kwargs"]["limits"] == ConnectionLimits()


def test_serving_a_model_with_no_production_version_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    register_iris(default_registry(), stage="staging")
    assert cli.main(["serve", "--port", "0", "--models", "iris"]) == 1
    assert "no version in stage 'production'" in capsys.readouterr().err


def test_serving_imports_nothing_of_the_dashboard() -> None:
    """The dashboard is mounted through the ``workbench.mounts`` entry points, not imported by serving."""
    import ast

    import workbench.serving

    folder = Path(workbench.serving.__file__).parent
    imported = set()
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert "workbench.serving.app" in imported  # the scan sees function-level imports too
    assert not {name for name in imported if name.startswith("workbench.dashboard")}
