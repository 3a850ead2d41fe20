"""Real servers for the serving tests: ``workbench serve`` in a subprocess on a loopback port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from workbench.config import load_settings
from workbench.registry.api import Registry, open_store

TOKEN = "test-token-5f1c9a"
START_TIMEOUT = 60.0
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
    return registry.register(fit_iris(C), name, eval_data=iris_data(), stage=stage).version


@dataclass
class Server:
    """A running ``workbench serve`` process and an httpx client bound to it."""

    url: str
    process: subprocess.Popen[bytes]
    client: httpx.Client
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def start_server(folder: Path, home: Path, args: Sequence[str] = (), env: dict[str, str] | None = None) -> Server:
    """Start ``workbench serve --port 0`` with ``home`` as WORKBENCH_HOME; return once /healthz answers."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    environ.update({"WORKBENCH_HOME": str(home), "WORKBENCH_TOKEN": TOKEN, **(env or {})})
    stdout, stderr = folder / "serve.out", folder / "serve.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "serve", "--port", "0", *args],
            stdout=out,
            stderr=err,
            cwd=folder,
            env=environ,
        )
    deadline = time.monotonic() + START_TIMEOUT
    url = None
    while url is None:
        found = _LISTENING.search(stdout.read_text())
        if found:
            url = found.group(1)
        elif process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=15)
            pytest.fail(f"workbench serve did not start:\n{stdout.read_text()}\n{stderr.read_text()}")
        else:
            time.sleep(0.05)
    server = Server(url, process, httpx.Client(base_url=url, timeout=30.0), stdout, stderr)
    while True:
        try:
            if server.client.get("/healthz").status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"workbench serve never became healthy:\n{server.output()}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workbench home holding ``iris`` (production, v1) for the servers a whole module shares."""
    folder = tmp_path_factory.mktemp("served")
    home = folder / "wbhome"
    store = open_store("local", load_settings(home=home, cwd=folder, environ={}))
    try:
        register_iris(Registry(store))
    finally:
        store.close()
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

    from workbench.serving.server import bind

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
