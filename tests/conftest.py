"""Shared fixtures: every test gets its own workbench home and IPython directory."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.redis_server import RedisServer
    from workbench.storage import Storage

ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# the acceptance plugin's tests run pytest inside pytest
pytest_plugins = ["pytester"]


def require_executable(name: str) -> str:
    """Path of a program a test needs: skip locally when missing, fail loudly on CI."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (.ci/run installs it)"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


# headless system Chromium, a new empty profile, none of its calls to the outside
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (the system's, never a downloaded one), driven by Playwright: one for
    the session, as Playwright's sync API cannot start while another instance runs."""
    executable = require_executable("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh WORKBENCH_HOME and IPYTHONDIR, and a working directory with no pyproject."""
    home = tmp_path / "wbhome"
    ipython_dir = tmp_path / "ipython"
    ipython_dir.mkdir()
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    monkeypatch.setenv("IPYTHONDIR", str(ipython_dir))
    for key in list(os.environ):
        if key.startswith("WORKBENCH_") and key != "WORKBENCH_HOME":
            monkeypatch.delenv(key)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield home


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, for tests that stop, freeze or restart it."""
    from tests.redis_server import start_redis

    server = start_redis(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def redis_store_down_soon(own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch) -> RedisServer:
    """WORKBENCH_STORE on :func:`own_redis` with a 1 s timeout, for outage tests."""
    monkeypatch.setenv("WORKBENCH_STORE", own_redis.url(prefix="outage", timeout=1.0))
    return own_redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session; each test isolates itself with its own key prefix."""
    from tests.redis_server import start_redis

    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


BACKENDS = ["memory", "local", "redis"]
"""Every storage backend the contract suites run against."""


def key_prefix(request: pytest.FixtureRequest, kind: str = "t") -> str:
    """A key prefix (or memory place name) of this test alone, from its node id."""
    import hashlib

    return kind + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:16]


def backend_url(kind: str, request: pytest.FixtureRequest) -> str:
    """The store URL of ``kind`` for this test: its own memory place, its own home, or its own Redis prefix."""
    if kind == "memory":
        return f"memory://{key_prefix(request, 'm')}"
    if kind == "local":
        return "local"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url(prefix=key_prefix(request))


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """WORKBENCH_STORE of one backend at a time (memory, local, a real redis-server), this test's own."""
    from workbench.storage.memory import forget_places

    url = backend_url(request.param, request)
    monkeypatch.setenv("WORKBENCH_STORE", url)
    yield url
    forget_places()


@pytest.fixture(params=["local", "redis"])
def shared_store_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """WORKBENCH_STORE of a backend other processes can share (local, a real redis-server)."""
    url = backend_url(request.param, request)
    monkeypatch.setenv("WORKBENCH_STORE", url)
    return url


@pytest.fixture
def storage(store_url: str) -> Iterator[Storage]:
    """The storage of :func:`store_url`, opened for the test and closed after it."""
    from workbench.storage import open_storage

    with open_storage() as opened:
        yield opened
