"""Registry fixtures: a store of each kind (memory, local, a real redis-server), small models."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_executable
from workbench.config import load_settings
from workbench.registry import Registry, Store
from workbench.registry.local import LocalStore
from workbench.registry.memory import MemoryStore
from workbench.registry.redis_store import RedisStore

REPO = Path(__file__).resolve().parents[2]
STORE_KINDS = ["memory", "local", "redis"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """A redis-server of our own on a loopback port, with fsync-always persistence."""

    executable: str
    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def url(self, prefix: str = "workbench", timeout: float = 2.0) -> str:
        return f"redis://127.0.0.1:{self.port}/0?prefix={prefix}&timeout={timeout}"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
        self.process.wait(timeout=10)
        self.process = None


def start_redis(folder: Path) -> RedisServer:
    server = RedisServer(require_executable("redis-server"), folder, free_port())
    server.start()
    return server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session; each test isolates itself with its own key prefix."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


def _prefix(request: pytest.FixtureRequest) -> str:
    return "t" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:16]


def make_store(kind: str, request: pytest.FixtureRequest) -> Store:
    if kind == "memory":
        return MemoryStore()
    if kind == "local":
        return LocalStore.from_url("local", load_settings())
    server: RedisServer = request.getfixturevalue("redis_server")
    return RedisStore.from_url(server.url(prefix=_prefix(request)), load_settings())


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    opened = make_store(request.param, request)
    yield opened
    opened.close()


@pytest.fixture
def registry(store: Store) -> Registry:
    return Registry(store)


@pytest.fixture(params=["local", "redis"])
def store_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """WORKBENCH_STORE for a persistent store (what other processes can share)."""
    url = "local"
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url(prefix=_prefix(request))
    monkeypatch.setenv("WORKBENCH_STORE", url)
    return url


def corrupt(store: Store, sha256: str, data: bytes) -> None:
    """Replace stored artifact bytes behind the registry's back, as a bad disk or an attacker would."""
    if isinstance(store, MemoryStore):
        store._artifacts[sha256] = data
    elif isinstance(store, LocalStore):
        (store.artifacts / sha256[:2] / sha256).write_bytes(data)
    else:
        assert isinstance(store, RedisStore)
        store.client.set(store._key("artifact", sha256), data)


@pytest.fixture(scope="session")
def data() -> tuple[Any, Any]:
    from sklearn.datasets import make_classification

    return make_classification(n_samples=200, n_features=6, n_informative=4, n_classes=3, random_state=0)


@pytest.fixture(scope="session")
def model(data: tuple[Any, Any]) -> Any:
    from sklearn.linear_model import LogisticRegression

    X, y = data
    return LogisticRegression(max_iter=1000).fit(X, y)


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return env
