"""Real servers for the serving tests: ``workbench serve`` in a subprocess on a loopback port."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server_process import START_TIMEOUT, RunningServer, launch
from workbench.config import load_settings
from workbench.registry.api import Registry
from workbench.storage import open_storage

TOKEN = "test-token-5f1c9a"
_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


def iris_data() -> tuple[Any, Any]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return X, y


def fit_iris(C: float = 1.0) -> Any:
    from sklearn.linear_model import LogisticRegression

    X, y = iris_data()
    return LogisticRegression(C=C, max_iter=2000).fit(X, y)


def register_iris(registry: Registry, name: str = "iris", *, C: float = 1.0, stage: str = "production") -> int:
    """Register an iris model at ``stage`` (production recorded directly, without gates) and return its number."""
    number = registry.register(fit_iris(C), name, eval_data=iris_data()).version
    return registry.record_stage(name, number, stage).version if stage != "dev" else number


class Server(RunningServer):
    """A running ``workbench serve`` process and an httpx client bound to it."""


def start_server(folder: Path, home: Path, args: Sequence[str] = (), env: dict[str, str] | None = None) -> Server:
    """Start ``workbench serve --port 0`` with ``home`` as WORKBENCH_HOME; return once /healthz answers."""
    running = launch(folder, home, ["serve", "--port", "0", *args], {"WORKBENCH_TOKEN": TOKEN, **(env or {})})
    url = running.printed(lambda text: _first_group(_LISTENING, text), "workbench serve did not start")
    server = Server(url, running, httpx.Client(base_url=url, timeout=30.0))
    running.answers(server.client, "/healthz", {}, "workbench serve never became healthy")
    return server


def _first_group(pattern: re.Pattern[str], text: str) -> str | None:
    found = pattern.search(text)
    return found.group(1) if found else None


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workbench home holding ``iris`` (production, v1) for the servers a whole module shares."""
    folder = tmp_path_factory.mktemp("served")
    home = folder / "wbhome"
    storage = open_storage(load_settings(home=home, cwd=folder, environ={}), url="local")
    store = storage.models
    try:
        register_iris(Registry(store))
    finally:
        storage.close()
    return home


@pytest.fixture(scope="module")
def shared_server(shared_home: Path) -> Iterator[Server]:
    """One real server on loopback for a module's read-only tests."""
    server = start_server(shared_home.parent, shared_home, ["--max-body", "65536", "--max-rows", "50"])
    yield server
    server.stop()


@contextmanager
def serve_in_thread(app: Any) -> Iterator[httpx.Client]:
    """Run ``app`` with uvicorn in a thread on a free loopback port; yield a client bound to it."""
    import uvicorn

    from workbench.listening import bind

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=30.0)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("the in-thread server did not start")
            time.sleep(0.01)
        yield client
    finally:
        client.close()
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
