"""A project with a loop policy, the simulation's stream, and models and evidence set up directly."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workbench.lifecycle.loop.simulation import ShiftingStream
from workbench.registry import Registry
from workbench.storage import Storage, open_storage
from workbench.storage.loop_records import LoopState
from workbench.storage.prediction_store import PredictionRecord

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "notebooks" / "loop-train.ipynb"
MODEL = "sim"

POLICY = f"""
[tool.workbench.loop.{MODEL}]
notebook = "{TRAIN}"
on_new_data = "{MODEL}"
challenger_weight = 0.5
decide = {{ metric = "f1", min_labels = 60, confidence = 0.95, max_days = 14 }}
cooldown = "1h"
"""


def write_project(folder: Path, body: str = POLICY) -> Path:
    """``folder/pyproject.toml`` with ``body`` (a loop policy by default)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(textwrap.dedent(body))
    return folder


@pytest.fixture
def project(isolated_environment: Path) -> Path:
    """The working directory, holding a pyproject.toml with the ``sim`` loop policy."""
    return write_project(Path.cwd())


@pytest.fixture
def storage(project: Path) -> Iterator[Storage]:
    with open_storage() as opened:
        yield opened


@pytest.fixture
def stream() -> ShiftingStream:
    return ShiftingStream(seed=3, shift_at=10**9)


def fit(stream: ShiftingStream, start: int = 0, rows: int = 400, kind: str = "logistic") -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    frame = stream.frame(start, rows)
    X, y = frame.drop(columns="target"), frame["target"]
    model = LogisticRegression(max_iter=1000) if kind == "logistic" else DecisionTreeClassifier(max_depth=1)
    return model.fit(X, y), (X, y)


def register(registry: Registry, stream: ShiftingStream, stage: str = "dev", kind: str = "logistic",
             weight: float | None = None) -> int:
    """A version of ``sim`` at ``stage`` (recorded directly, the gates have their own tests)."""
    model, data = fit(stream, kind=kind)
    number = registry.register(model, MODEL, eval_data=data).version
    if stage != "dev":
        registry.record_stage(MODEL, number, stage, weight=weight)
    return number


def challenge(storage: Storage, production: int, challenger: int, since: float | None = None) -> LoopState:
    """The loop state of a challenge of ``challenger`` against ``production`` begun at ``since``."""
    since = time.time() - 1 if since is None else since
    state = storage.loop.state(MODEL).evolve(
        phase="challenging",
        challenger={"version": challenger, "production": production, "since": since, "since_at": "", "weight": 0.5},
    )
    return storage.loop.commit(state)[0]


def label(storage: Storage, version: int, arm: str, pairs: list[tuple[int, int]], prefix: str) -> None:
    """Log predictions of ``version`` on ``arm`` and their true labels: ``(prediction, truth)`` pairs."""
    now = time.time()
    records = [PredictionRecord(f"{prefix}-{i}", MODEL, version, arm, "0" * 64, p, now, 1.0)
               for i, (p, _) in enumerate(pairs)]
    storage.predictions.append(records)
    storage.predictions.label(MODEL, [(f"{prefix}-{i}", t) for i, (_, t) in enumerate(pairs)])


def pairs(n: int, accuracy: float, seed: int) -> list[tuple[int, int]]:
    """``n`` (prediction, truth) pairs of a binary model right ``accuracy`` of the time, balanced."""
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        truth = rng.randint(0, 1)
        out.append((truth if rng.random() < accuracy else 1 - truth, truth))
    return out
