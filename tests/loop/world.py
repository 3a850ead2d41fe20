"""A small world with real processes for the loop: a project, a production model trained on the first
rows of a stream, a real ``workbench serve``, a real ``workbench loop``, and a client replaying the
stream with feedback while new data is put in the datamart."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

import workbench as wb
from tests.loop.conftest import MODEL, TRAIN, write_project
from tests.server_process import ServerProcess, launch
from tests.serving.conftest import TOKEN, Server, start_server
from tests.stages import in_production
from workbench.lifecycle.loop.simulation import Replay, ShiftingStream
from workbench.registry.api import default_registry
from workbench.storage import open_storage
from workbench.storage.loop_records import LoopEvent

T = TypeVar("T")
BATCH = 200
"""Rows per replayed batch; each batch, labelled, is put as the dataset's next version."""
DEADLINE = 240.0

GATES = f"""
[tool.workbench.acceptance.{MODEL}]
holdout = "datamart:{MODEL}"
target = "target"
f1_macro = 0.55

[tool.workbench.serving]
drift_rows = 600
drift_sample = 1.0
"""


def project(folder: Path, policy: str) -> Path:
    """A project folder whose pyproject.toml has ``policy`` (a loop table's keys) and the gates."""
    body = f'[tool.workbench.loop.{MODEL}]\nnotebook = "{TRAIN}"\n{policy}\n{GATES}'
    return write_project(folder, body)


def first_production(stream: ShiftingStream, rows: int = 600) -> int:
    """Put the stream's first rows as the dataset, train on them and put the model in production."""
    from sklearn.linear_model import LogisticRegression

    wb.datamart.put(MODEL, stream.frame(0, rows))
    frame = wb.datamart.get(MODEL)  # read, so the version is the model's lineage
    X, y = frame.drop(columns="target"), frame["target"]
    version = wb.register(LogisticRegression(max_iter=1000).fit(X, y), MODEL, eval_data=(X, y))
    return in_production(default_registry(), version).version


def start_loop(folder: Path, home: Path, env: dict[str, str]) -> ServerProcess:
    """``workbench loop`` in ``folder``; returns once it says what it watches."""
    running = launch(folder, home, ["loop", "--interval", "0.3", "--lease", "3"], env)
    running.printed(lambda text: text if "watching sim" in text else None, "workbench loop did not start")
    return running


def kill(process: ServerProcess) -> None:
    process.process.send_signal(signal.SIGKILL)
    process.process.wait(timeout=30)


def events(*kinds: str) -> list[LoopEvent]:
    """The model's timeline, of ``kinds`` only when given."""
    with open_storage() as storage:
        found = storage.loop.events(MODEL)
    return [e for e in found if not kinds or e.kind in kinds]


@dataclass
class World:
    """The running server, the client and the rows replayed so far."""

    folder: Path
    server: Server
    replay: Replay
    next_row: int
    processes: list[ServerProcess]

    def batch(self, *, put: bool = True) -> None:
        """Replay the next batch with feedback; then put it, labelled, as the dataset's next version."""
        self.replay.send(self.next_row, BATCH, per_request=10)
        if put:
            wb.datamart.put(MODEL, self.replay.stream.frame(self.next_row, BATCH))
        self.next_row += BATCH

    def until(self, found: Callable[[], T | None], what: str, *, traffic: bool = True) -> T:
        """Replay batches (or wait) until ``found`` gives something; fails with the loop's output otherwise."""
        deadline = time.monotonic() + DEADLINE
        while True:
            result = found()
            if result:
                return result
            if time.monotonic() > deadline or any(p.process.poll() is not None for p in self.processes):
                output = "\n".join(p.output()[-4000:] for p in self.processes)
                pytest.fail(f"{what} never happened; timeline: {[e.summary for e in events()]}\n{output}")
            if traffic:
                self.batch()
            else:
                time.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        self.server.stop()


def start_world(folder: Path, home: Path, stream: ShiftingStream, env: dict[str, str], first_row: int) -> World:
    server = start_server(folder, home, ["--reload-seconds", "0.3"], env)
    replay = Replay(server.url, TOKEN, MODEL, stream)
    return World(folder, server, replay, first_row, [])


__all__ = ["BATCH", "World", "events", "first_production", "kill", "project", "start_loop", "start_world"]
