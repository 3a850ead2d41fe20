"""A ``workbench`` server command (serve, dashboard) in a subprocess: start it, wait for it, stop it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

START_TIMEOUT = 120.0

T = TypeVar("T")


@dataclass
class ServerProcess:
    """The process of ``workbench COMMAND --port 0`` and the files its output goes to."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    deadline: float

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    def printed(self, find: Callable[[str], T | None], what: str) -> T:
        """What ``find`` reads from the output once it can; fails the test with the output if it never does."""
        while True:
            found = find(self.stdout.read_text())
            if found is not None:
                return found
            if self.process.poll() is not None or time.monotonic() > self.deadline:
                self.stop()
                pytest.fail(f"{what}:\n{self.output()}")
            time.sleep(0.05)

    def answers(self, client: httpx.Client, path: str, headers: dict[str, str], what: str) -> None:
        """Wait until ``GET path`` answers 200; fails the test with the output if it never does."""
        while True:
            try:
                if client.get(path, headers=headers).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > self.deadline:
                client.close()
                self.stop()
                pytest.fail(f"{what}:\n{self.output()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Terminate, then kill if it does not exit within 15 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


@dataclass
class RunningServer:
    """A started server command and an httpx client bound to its address."""

    url: str
    running: ServerProcess
    client: httpx.Client

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.running.process

    @property
    def stdout(self) -> Path:
        return self.running.stdout

    @property
    def stderr(self) -> Path:
        return self.running.stderr

    def output(self) -> str:
        return self.running.output()

    def stop(self) -> None:
        self.client.close()
        self.running.stop()


def launch(folder: Path, home: Path, command: Sequence[str], env: dict[str, str]) -> ServerProcess:
    """Run ``workbench COMMAND`` in ``folder`` with ``home`` as WORKBENCH_HOME and only ``env``'s other settings."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    environ.update({"WORKBENCH_HOME": str(home), **env})
    stdout, stderr = folder / f"{command[0]}.out", folder / f"{command[0]}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", *command], stdout=out, stderr=err, cwd=folder, env=environ
        )
    return ServerProcess(process, stdout, stderr, time.monotonic() + START_TIMEOUT)
