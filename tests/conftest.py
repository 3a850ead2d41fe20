"""Shared fixtures: every test gets its own workbench home and IPython directory."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.redis_server import RedisServer

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


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session; each test isolates itself with its own key prefix."""
    from tests.redis_server import start_redis

    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()
